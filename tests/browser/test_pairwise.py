"""The pairwise page in real Chromium: keyboard labeling, skip, next item,
double submit, lease expiry, the diff, dialogs and the Submit→next timing."""

import json
import statistics
from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.demo import PAIRS
from annotation.models import Annotation, Assignment, AssignmentStatus
from annotation.services.queue import item_claim_next, leases_reclaim_expired, new_idempotency_key
from annotation.services.submissions import annotation_submit
from tests.browser.helpers import (
    SCREENSHOTS,
    TIMINGS,
    current_assignment,
    log_in,
    open_label_page,
    pairs,
    project_with_items,
    screenshot,
    user,
    wait_next,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def people():
    return user("admin_ann"), user("lab_lena"), user("lab_liam")


def canonical(assignment_id: int, shown: int) -> int:
    """The API strength for a choice made in the page's frame (left is A)."""
    order = Assignment.objects.get(pk=assignment_id).display_order
    return shown if order[0] == 0 else -shown


def mark_page(page):
    """A flag that a full page load would wipe."""
    page.evaluate("window.__samePage = true")


def still_same_page(page) -> bool:
    return page.evaluate("window.__samePage === true")


def test_label_a_pairwise_item_entirely_by_keyboard(page, live_app, people):
    admin, lena, _ = people
    project = project_with_items(admin=admin, labelers=[lena], name="Demo: pairwise",
                                 rows=[(prompt, [a, b]) for prompt, a, b in PAIRS[:3]])
    log_in(page, live_app, "lab_lena", next_path=f"/projects/{project.pk}/label/")
    page.wait_for_selector("#label-app[data-state=ready]")
    first = current_assignment(page)
    mark_page(page)
    page.keyboard.press("?")
    assert page.locator("dialog#shortcuts").is_visible()
    screenshot(page, "shortcut-overlay")
    page.keyboard.press("Escape")

    page.keyboard.press("4")  # B better
    assert page.locator("#strength-4").is_checked()
    page.keyboard.press("r")  # into the rationale
    page.keyboard.type("B is closer to the point.")
    page.keyboard.press("Shift+Tab")  # back onto the last rating slider (Honest, B)
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Escape")
    screenshot(page, "pairwise-page", full_page=True)
    page.keyboard.press("u")  # flag unsafe
    page.keyboard.press("Enter")

    second = wait_next(page, first)
    assert second != first
    assert still_same_page(page), "the next item must load without a page reload"
    annotation = Annotation.objects.get(assignment_id=first)
    assert annotation.strength == canonical(first, 1)
    assert annotation.flagged_unsafe is True
    assert annotation.rationale == "B is closer to the point."
    # The slider rated response B (shown right) 4 + 2 = 6; others stay unrated.
    order = annotation.display_order
    expected = [None, None]
    expected[order[1]] = 6
    assert annotation.ratings == {"honesty": expected}
    assert page.locator("#done-today").inner_text() == "1"
    # The form starts clean for the new item.
    assert page.locator("#rationale").input_value() == ""
    assert not page.locator("#unsafe").is_checked()


def test_choice_is_required_before_submit(page, live_app, people):
    admin, lena, _ = people
    project = project_with_items(admin=admin, labelers=[lena], rows=pairs(1))
    log_in(page, live_app, "lab_lena")
    first = open_label_page(page, live_app, project)
    page.keyboard.press("Enter")
    assert "Choose which response is better" in page.locator("#error").inner_text()
    assert not Annotation.objects.exists()
    page.keyboard.press("x")  # both bad, no preference
    page.keyboard.press("Enter")
    page.wait_for_selector("#label-app[data-state=empty]")
    annotation = Annotation.objects.get(assignment_id=first)
    assert annotation.both_bad is True and annotation.strength is None


def test_skip_then_the_next_item_loads_in_place(page, live_app, people):
    admin, lena, _ = people
    project = project_with_items(admin=admin, labelers=[lena], rows=pairs(2))
    log_in(page, live_app, "lab_lena")
    first = open_label_page(page, live_app, project)
    mark_page(page)
    page.keyboard.press("s")
    second = wait_next(page, first)
    assert still_same_page(page)
    assert Assignment.objects.get(pk=first).status == AssignmentStatus.SKIPPED
    assert "Skipped" in page.locator("#notice").inner_text()
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    page.wait_for_selector("#label-app[data-state=empty]")
    assert page.get_by_role("heading", name="Nothing left for you in this project").is_visible()
    assert Annotation.objects.get(assignment_id=second).strength == canonical(second, -2)


def test_double_submit_records_one_annotation(page, live_app, people):
    admin, lena, _ = people
    project = project_with_items(admin=admin, labelers=[lena], rows=pairs(3))
    log_in(page, live_app, "lab_lena")
    first = open_label_page(page, live_app, project)
    page.keyboard.press("2")
    # Enter twice as fast as the keyboard allows, and a click on top.
    page.evaluate("""() => {
        const enter = () => document.body.dispatchEvent(
            new KeyboardEvent('keydown', {key: 'Enter', bubbles: true}));
        enter(); enter();
        document.getElementById('submit').click();
    }""")
    wait_next(page, first)
    assert Annotation.objects.filter(labeler__username="lab_lena").count() == 1


def test_a_retried_submit_reuses_its_key_and_records_one_annotation(page, live_app, people):
    admin, lena, _ = people
    project = project_with_items(admin=admin, labelers=[lena], rows=pairs(3))
    log_in(page, live_app, "lab_lena")
    first = open_label_page(page, live_app, project)
    bodies = []

    def lose_the_first_answer(route):
        bodies.append(json.loads(route.request.post_data))
        if len(bodies) == 1:
            route.fetch()  # the server records the annotation…
            route.abort("connectionreset")  # …but the answer never arrives
        else:
            route.continue_()

    page.route("**/api/assignments/*/submit/", lose_the_first_answer)
    page.keyboard.press("5")
    page.keyboard.press("Enter")
    wait_next(page, first)
    assert len(bodies) == 2
    assert bodies[0]["idempotency_key"] == bodies[1]["idempotency_key"]
    assert Annotation.objects.filter(assignment_id=first).count() == 1
    assert Annotation.objects.filter(labeler__username="lab_lena").count() == 1
    assert page.locator("#error").is_hidden()


def test_lease_expiry_keeps_the_input_while_the_item_is_still_mine(page, live_app, people):
    admin, lena, _ = people
    project = project_with_items(admin=admin, labelers=[lena], rows=pairs(2), lease_seconds=600)
    log_in(page, live_app, "lab_lena")
    page.clock.install()
    first = open_label_page(page, live_app, project)
    page.keyboard.press("2")
    page.keyboard.press("r")
    page.keyboard.type("typed before the lease ran out")
    page.keyboard.press("Escape")
    # The lease runs out on the server (not reclaimed yet) and on the page.
    Assignment.objects.filter(pk=first).update(expires_at=timezone.now() - timedelta(seconds=1))
    page.clock.fast_forward("10:01")
    page.wait_for_selector("#label-app[data-lease=expired]")
    page.wait_for_function(
        "() => document.getElementById('notice').textContent.includes('still needs your label')")
    assert page.locator("#lease-time").inner_text() == "expired"
    assert current_assignment(page) == first
    assert page.locator("#rationale").input_value() == "typed before the lease ran out"
    assert page.locator("#strength-2").is_checked()
    page.keyboard.press("Enter")
    wait_next(page, first)
    annotation = Annotation.objects.get(assignment_id=first)
    assert annotation.rationale == "typed before the lease ran out"
    assert annotation.strength == canonical(first, -1)


def test_lease_expiry_moves_on_when_the_item_was_given_to_someone_else(page, live_app, people):
    admin, lena, liam = people
    project = project_with_items(admin=admin, labelers=[lena, liam], rows=pairs(2), overlap=1,
                                 lease_seconds=600)
    log_in(page, live_app, "lab_lena")
    page.clock.install()
    first = open_label_page(page, live_app, project)
    page.keyboard.press("r")
    page.keyboard.type("this item is gone")
    page.keyboard.press("Escape")
    # Lena's lease runs out and is reclaimed; Liam takes and finishes the item.
    Assignment.objects.filter(pk=first).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert leases_reclaim_expired(project=project) == 1
    taken = item_claim_next(project=project, labeler=liam)
    assert taken.item_id == Assignment.objects.get(pk=first).item_id
    annotation_submit(assignment=taken, data={"strength": 1}, idempotency_key=new_idempotency_key())
    page.clock.fast_forward("10:01")
    second = wait_next(page, first)
    assert second != first
    assert "already has all its labels" in page.locator("#notice").inner_text()
    assert page.locator("#rationale").input_value() == ""
    assert not Annotation.objects.filter(labeler=lena).exists()


def test_a_late_submit_on_a_full_item_says_so_and_moves_on(page, live_app, people):
    admin, lena, liam = people
    project = project_with_items(admin=admin, labelers=[lena, liam], rows=pairs(2), overlap=1)
    log_in(page, live_app, "lab_lena")
    first = open_label_page(page, live_app, project)
    # Expired, reclaimed and filled behind the page's back (its timer still runs).
    Assignment.objects.filter(pk=first).update(expires_at=timezone.now() - timedelta(seconds=1))
    leases_reclaim_expired(project=project)
    taken = item_claim_next(project=project, labeler=liam)
    annotation_submit(assignment=taken, data={"strength": 1}, idempotency_key=new_idempotency_key())
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    wait_next(page, first)
    assert "ran out" in page.locator("#notice").inner_text()
    assert not Annotation.objects.filter(labeler=lena).exists()


def test_word_diff_marks_what_changed(page, live_app, people):
    admin, lena, _ = people
    project = project_with_items(admin=admin, labelers=[lena], rows=[
        ("Capital of Australia?", ["The capital of Australia is Canberra, not Sydney.",
                                   "The capital of Australia is Sydney, not Canberra."])])
    log_in(page, live_app, "lab_lena")
    open_label_page(page, live_app, project)
    assert page.locator("#near-identical").is_visible()
    page.keyboard.press("d")
    assert page.locator("#toggle-diff").get_attribute("aria-pressed") == "true"
    assert page.locator(".response [data-diff] mark").count() >= 2
    assert page.locator(".response [data-body]").first.is_hidden()
    page.keyboard.press("d")
    assert page.locator(".response [data-diff]").first.is_hidden()
    # After a mouse click on the toggle, Enter submits instead of pressing it again.
    page.locator("#toggle-diff").click()
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    page.wait_for_selector("#label-app[data-state=empty]")
    assert Annotation.objects.filter(labeler=lena).count() == 1


def test_guidelines_drawer_and_shortcut_overlay(page, live_app, people):
    admin, lena, _ = people
    long_answer = "\n\n".join(f"Paragraph {n} of a long answer." for n in range(80))
    project = project_with_items(admin=admin, labelers=[lena], rows=[("Tell me", [long_answer, "Short."])],
                                 guidelines="## Judge carefully\nPrefer **correct** answers.")
    log_in(page, live_app, "lab_lena")
    open_label_page(page, live_app, project)
    # A long response scrolls inside its own box; the page does not move.
    long_body = page.locator(".response [data-body]", has_text="Paragraph 79")
    assert long_body.evaluate("el => el.scrollHeight > el.clientHeight + 100")
    long_body.evaluate("el => el.scrollBy(0, 400)")
    assert long_body.evaluate("el => el.scrollTop") > 0
    assert page.evaluate("window.scrollY") == 0
    page.keyboard.press("g")
    drawer = page.locator("dialog#guidelines")
    assert drawer.is_visible()
    assert drawer.get_by_role("heading", name="Judge carefully").is_visible()
    page.keyboard.press("Escape")
    assert drawer.is_hidden()
    page.keyboard.press("?")
    overlay = page.locator("dialog#shortcuts")
    assert overlay.is_visible()
    for key in ["1", "5", "Enter", "S", "G", "?"]:
        assert overlay.locator("kbd", has_text=key).count() >= 1
    page.keyboard.press("?")
    assert overlay.is_hidden()
    # Every action button shows its key.
    for button, key in [("#submit", "Enter"), ("#skip", "S"), ("#open-guidelines", "G"),
                        ("#open-shortcuts", "?"), ("#toggle-diff", "D")]:
        assert page.locator(f"{button} kbd").inner_text() == key


def test_ties_are_offered_only_where_the_project_allows_them(page, live_app, people):
    admin, lena, _ = people
    project = project_with_items(admin=admin, labelers=[lena], rows=pairs(1), allow_ties=False)
    log_in(page, live_app, "lab_lena")
    open_label_page(page, live_app, project)
    assert page.locator("input[name=strength]").count() == 4
    assert page.get_by_text("Tie", exact=True).count() == 0
    page.keyboard.press("3")
    assert "does not allow ties" in page.locator("#error").inner_text()


def test_usable_at_200_percent_zoom(page, live_app, people):
    admin, lena, _ = people
    project = project_with_items(admin=admin, labelers=[lena], rows=pairs(1))
    log_in(page, live_app, "lab_lena")
    # 200% zoom of a 1280-pixel window leaves 640 CSS pixels.
    page.set_viewport_size({"width": 640, "height": 450})
    open_label_page(page, live_app, project)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    a, b = (page.locator(".response").nth(i).bounding_box() for i in range(2))
    assert b["y"] >= a["y"] + a["height"], "responses stack on narrow screens"
    # Every control has an accessible name.
    assert page.get_by_role("radio", name="A much better").count() == 1
    assert page.get_by_role("checkbox", name="Both bad").count() == 1
    assert page.get_by_role("textbox", name="Rationale").count() == 1
    assert page.get_by_role("slider", name="Helpful, response A").count() == 1
    page.locator("#submit").scroll_into_view_if_needed()
    assert page.locator("#submit").is_visible()
    screenshot(page, "pairwise-page-200-percent", full_page=True)


def test_submit_to_next_item_ready_over_20_items(page, live_app, people, request):
    admin, lena, _ = people
    project = project_with_items(admin=admin, labelers=[lena], rows=pairs(21))
    log_in(page, live_app, "lab_lena")
    assignment = open_label_page(page, live_app, project)
    for n in range(20):
        page.keyboard.press("12345"[n % 5])
        page.keyboard.press("Enter")
        assignment = wait_next(page, assignment)
    timings = page.evaluate("window.Palate.label.timings")
    assert len(timings) == 20
    assert Annotation.objects.filter(labeler=lena).count() == 20
    median, worst = statistics.median(timings), max(timings)
    request.config.stash.setdefault(TIMINGS, {})["Submit→next item ready (pairwise)"] = timings
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS.parent / "submit_to_next.json").write_text(json.dumps(
        {"items": len(timings), "median_ms": round(median, 1), "max_ms": round(worst, 1),
         "timings_ms": [round(t, 1) for t in timings]}, indent=2))
    print(f"Submit→next item ready over 20 items: median {median:.0f} ms, max {worst:.0f} ms")
