"""Log in and the labeler home: my projects, my counts, Start."""

import pytest

from annotation.models import Role
from annotation.services.queue import item_claim_next, new_idempotency_key
from annotation.services.submissions import annotation_submit
from tests.browser.helpers import READY, log_in, pairs, project_with_items, user
from tests.factories import member_add

pytestmark = pytest.mark.django_db(transaction=True)


def test_log_in_and_see_my_projects_with_counts(page, live_app):
    admin, lena, other = user("admin_ann"), user("lab_lena"), user("lab_liam")
    mine = project_with_items(admin=admin, labelers=[lena], rows=pairs(4), name="Mine")
    project_with_items(admin=admin, labelers=[other], rows=pairs(2), name="Not mine")
    engineering = project_with_items(admin=admin, labelers=[], rows=pairs(1), name="Engineering")
    member_add(engineering, lena, Role.ENGINEER)
    done = item_claim_next(project=mine, labeler=lena)
    annotation_submit(assignment=done, data={"strength": 1}, idempotency_key=new_idempotency_key())

    page.goto(f"{live_app}/")
    assert "/login/" in page.url
    log_in(page, live_app, "lab_lena")

    rows = page.locator("tbody tr")
    assert rows.count() == 2
    row = page.locator(f"tr[data-project='{mine.pk}']")
    assert row.locator("[data-field=today]").inner_text() == "1"
    assert row.locator("[data-field=total]").inner_text() == "1"
    assert row.locator("[data-field=remaining]").inner_text() == "3"
    assert "Not mine" not in page.content()
    eng = page.locator(f"tr[data-project='{engineering.pk}']")
    assert eng.get_by_role("link", name="Start").count() == 0

    row.get_by_role("link", name="Start labeling Mine").click()
    page.wait_for_selector(READY)
    assert page.url.endswith(f"/projects/{mine.pk}/label/")


def test_static_files_are_served_hashed_by_whitenoise(page, live_app):
    user("lab_lena")
    log_in(page, live_app, "lab_lena")
    href = page.locator("link[rel=stylesheet]").first.get_attribute("href")
    # The manifest storage's content hash in the name, and a far-future cache.
    assert href.startswith("/static/frontend/palate.") and href.count(".") == 2
    response = page.request.get(f"{live_app}{href}")
    assert response.ok
    assert "max-age=315360000" in response.headers["cache-control"]
    assert "immutable" in response.headers["cache-control"]
