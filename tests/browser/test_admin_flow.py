"""The whole path in real Chromium, as a site admin who never opens a terminal:
create a project, upload a JSONL of 50 items, invite two labelers, both label
through their invite accounts, see their progress and the items' labels, and
export the labeled dataset."""

import io
import json
import zipfile

import pytest

from annotation.models import Annotation, ComparisonItem, Membership, Project
from audit.models import AuditEvent
from tests.browser.helpers import log_in, screenshot, user

pytestmark = pytest.mark.django_db(transaction=True)

LABELER_PASSWORD = "a-long-enough-passphrase-17"
ITEMS = [{"prompt": f"Question {i}: what is {i} + {i}?",
          "responses": [{"text": f"It is **{2 * i}**.", "model_name": "careful"},
                        {"text": f"It is {2 * i + 1}, I think.", "model_name": "hasty"}]}
         for i in range(50)]


def no_csp_violations(page) -> None:
    assert page.evaluate("() => window.__cspViolations") == []


def fits(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")


def join_and_label(browser, base: str, link: str, username: str, project: Project, n: int) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(link)
    page.get_by_label("Choose a username").fill(username)
    page.get_by_label("Password", exact=True).fill(LABELER_PASSWORD)
    page.get_by_label("Password again").fill(LABELER_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/")
    page.get_by_role("link", name=f"Start labeling {project.name}").click()
    page.wait_for_selector("#label-app[data-state=ready]")
    for _ in range(n):
        previous = page.locator("#label-app").get_attribute("data-assignment")
        page.keyboard.press("4")  # B better
        page.keyboard.press("Enter")
        page.wait_for_function(
            """(previous) => {
                const app = document.getElementById('label-app');
                return app.dataset.state !== 'busy' && app.dataset.assignment !== previous;
            }""", arg=previous)
    context.close()
    assert errors == []


def test_an_admin_runs_a_project_from_an_empty_install_in_the_browser(page, browser, live_app):
    user("root_rita", is_superuser=True, is_staff=True)
    log_in(page, live_app, "root_rita")
    assert page.locator("tbody tr").count() == 0

    # 1. New project, by keyboard where it matters; the guidelines preview is sanitized.
    page.get_by_role("link", name="New project").click()
    page.get_by_label("Name").fill("Arithmetic check")
    page.get_by_label("Slug").fill("arithmetic")
    page.get_by_label("Overlap").fill("2")
    page.get_by_label("Guidelines (Markdown)").fill(
        "Prefer the **correct** answer.\n\n<script>window.__pwned = 1</script>")
    page.wait_for_selector("#guidelines-preview strong")
    assert page.evaluate("() => window.__pwned") is None
    assert "<script>" not in page.locator("#guidelines-preview").inner_html()
    screenshot(page, "project-new", full_page=True)
    page.get_by_role("button", name="Create project").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/settings/")
    project = Project.objects.get(slug="arithmetic")
    assert project.overlap == 2

    # 2. Data: a JSONL of 50 items, previewed, then imported.
    page.get_by_role("navigation", name="Project pages").get_by_role("link", name="Data", exact=True).click()
    page.get_by_label("Comparison items").check()
    page.locator("#file").set_input_files(files=[{
        "name": "items.jsonl", "mimeType": "application/jsonl",
        "buffer": "".join(json.dumps(row) + "\n" for row in ITEMS).encode()}])
    page.get_by_role("button", name="Preview").click()
    page.wait_for_selector("#preview:not([hidden])")
    assert page.locator("#preview-summary").inner_text().startswith("50 rows read: 50 new items")
    assert page.locator(".preview-table tbody tr").count() == 10
    assert not ComparisonItem.objects.filter(project=project).exists()  # the preview wrote nothing
    screenshot(page, "data-preview", full_page=True)
    page.get_by_role("button", name="Import").click()
    page.wait_for_function("() => document.getElementById('upload').dataset.imported === '50'")
    assert ComparisonItem.objects.filter(project=project).count() == 50

    # 3. Team: one invite link for two people.
    page.get_by_role("navigation", name="Project pages").get_by_role("link", name="Team").click()
    page.get_by_label("Uses (1 = single-use)").fill("2")
    page.get_by_role("button", name="Create link").click()
    link = page.locator("#invite-link").input_value()
    assert "/invite/" in link

    # 4. Both labelers create their accounts from the link and label.
    join_and_label(browser, live_app, link, "lab_lena", project, 3)
    join_and_label(browser, live_app, link, "lab_liam", project, 2)
    assert set(Membership.objects.filter(project=project, role="labeler")
               .values_list("user__username", flat=True)) == {"lab_lena", "lab_liam"}
    assert Annotation.objects.filter(project=project).count() == 5

    # 5. Progress per labeler, sortable.
    page.goto(f"{live_app}/projects/{project.pk}/team/?sort=-total")
    rows = page.locator("table.team tbody tr")
    assert rows.nth(0).get_attribute("data-member") == "lab_lena"
    assert page.locator("tr[data-member=lab_lena] [data-field=total]").inner_text() == "3"
    assert page.locator("tr[data-member=lab_liam] [data-field=total]").inner_text() == "2"
    assert page.locator("tr[data-member=lab_liam] [data-field=remaining]").inner_text() == "48"
    screenshot(page, "team-page", full_page=True)
    no_csp_violations(page)

    # 6. The items and their labels.
    page.get_by_role("navigation", name="Project pages").get_by_role("link", name="Items").click()
    page.get_by_label("Status").select_option("complete")
    page.get_by_role("button", name="Filter").click()
    assert page.locator("#item-count").inner_text() == "2 items"
    screenshot(page, "items-browser", full_page=True)
    page.locator("table.items tbody tr a").first.click()
    labels = page.locator("table.labels tbody tr")
    assert labels.count() == 2
    assert {labels.nth(i).locator("th").inner_text() for i in range(2)} == {"lab_lena", "lab_liam"}
    screenshot(page, "item-page", full_page=True)
    no_csp_violations(page)

    # 7. A dataset snapshot, exported and downloaded.
    page.get_by_role("navigation", name="Project pages").get_by_role("link", name="Datasets").click()
    page.get_by_role("button", name="Build").click()
    page.get_by_role("button", name="Export").click()
    href = page.get_by_role("link", name="download").first.get_attribute("href")
    archive = zipfile.ZipFile(io.BytesIO(page.request.get(f"{live_app}{href}").body()))
    names = archive.namelist()
    assert any(name.endswith("manifest.json") for name in names)
    assert {"project.create", "items.import", "invite.create", "invite.accept"} <= set(
        AuditEvent.objects.values_list("action", flat=True))


def test_the_new_pages_fit_a_tablet(page, live_app):
    admin = user("root_rita", is_superuser=True, is_staff=True)
    from tests.factories import items_make, project_make

    project = project_make(creator=admin)
    items_make(project, 3)
    page.set_viewport_size({"width": 768, "height": 1024})
    log_in(page, live_app, "root_rita")
    for path in ("/projects/new/", f"/projects/{project.pk}/settings/", f"/projects/{project.pk}/data/",
                 f"/projects/{project.pk}/team/", f"/projects/{project.pk}/items/"):
        page.goto(f"{live_app}{path}")
        # Named in the failure: what sticks out (scroll boxes clip their own content).
        wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
            .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1
                           && !e.closest('.table-scroll'))
            .slice(0, 5).map((e) => `${e.tagName}.${e.className}`)""")
        assert fits(page), f"{path} scrolls sideways at 768 px: {wide}"
        no_csp_violations(page)


def test_a_labeler_sees_what_is_left_the_guidelines_and_why_the_queue_is_empty(page, live_app):
    from tests.browser.helpers import pairs, project_with_items

    admin, lena = user("admin_ann"), user("lab_lena")
    project = project_with_items(admin=admin, labelers=[lena], rows=pairs(1), name="Sums",
                                 guidelines="Prefer the **right** sum.", overlap=1)
    log_in(page, live_app, "lab_lena")
    row = page.locator(f"tr[data-project='{project.pk}']")
    assert row.locator("[data-field=remaining]").inner_text() == "1"
    row.get_by_text("Guidelines").click()
    assert row.locator(".home-guidelines strong").inner_text() == "right"
    row.get_by_role("link", name="Start labeling Sums").click()
    page.wait_for_selector("#label-app[data-state=ready]")
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    page.wait_for_selector("#label-app[data-state=empty]")
    assert page.locator("#empty").is_visible()
    page.goto(f"{live_app}/")
    reason = page.locator(f"tr[data-project='{project.pk}'] [data-field=empty-reason]").inner_text()
    assert reason.startswith("All done")
    no_csp_violations(page)
