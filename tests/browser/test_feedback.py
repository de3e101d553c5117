"""Single-response feedback in real Chromium: three items labeled from the
keyboard (thumbs, a criterion score, a rationale), then the agreement on the
quality dashboard and the KTO rows of an export of the snapshot."""

import json

import pytest
from django.contrib.auth import get_user_model

from annotation.datasets.writers import export_write
from annotation.models import Annotation, Role
from annotation.services.datasets import dataset_snapshot_build
from annotation.services.quality_recompute import project_quality_recompute
from tests.browser.helpers import log_in, open_label_page, project_with_items, user, wait_next
from tests.factories import member_add

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = [("Say hello in French.", ["Bonjour !"]),
        ("What is 2 + 2?", ["Five, probably."]),
        ("Name a primary colour.", ["Blue."])]


@pytest.fixture
def feedback_project():
    admin, lena, liam = user("fb_admin"), user("lab_lena"), user("lab_liam")
    project = project_with_items(admin=admin, labelers=[lena], rows=ROWS, task_type="feedback",
                                 name="Demo: feedback", overlap=2, test_fraction=0.0)
    member_add(project, liam, Role.LABELER)
    return project


def test_label_feedback_by_keyboard_then_agreement_and_kto_rows(page, live_app, feedback_project, tmp_path):
    log_in(page, live_app, "lab_lena")
    assignment = open_label_page(page, live_app, feedback_project)
    assert page.locator(".response [data-body]").count() == 1
    answers = {}
    for step in range(3):
        text = page.locator(".response [data-body]").inner_text()
        good = "Five" not in text
        answers[text.strip()] = good
        page.keyboard.press("1" if good else "2")
        if step == 0:
            page.keyboard.press("c")  # the first criterion's slider
            page.keyboard.press("ArrowRight")
            page.keyboard.press("ArrowRight")
            page.keyboard.press("Enter")
        elif step == 1:
            page.keyboard.press("r")
            page.keyboard.type("Not what was asked.")
            page.keyboard.press("Control+Enter")
        else:
            page.keyboard.press("Enter")
        if step < 2:
            assignment = wait_next(page, assignment)
    page.wait_for_selector("#label-app[data-state=empty]")
    assert page.evaluate("window.__cspViolations") == []

    labels = {a.item.responses.get().text: a for a in Annotation.objects.filter(labeler__username="lab_lena")
              .select_related("item")}
    assert {text: a.feedback for text, a in labels.items()} == answers == {
        "Bonjour !": True, "Five, probably.": False, "Blue.": True}
    assert sorted(a.ratings.get("helpfulness", [None])[0] or 0 for a in labels.values()) == [0, 0, 6]
    assert labels["Five, probably."].rationale == "Not what was asked."

    # A second labeler agrees on two items out of three.
    liam = get_user_model().objects.get(username="lab_liam").pk
    for text, a in labels.items():
        Annotation.objects.create(project=feedback_project, item=a.item, labeler_id=liam,
                                  feedback=a.feedback if text != "Blue." else False,
                                  display_order=[0], idempotency_key=f"liam-{a.item_id}")
    report = project_quality_recompute(project=feedback_project, n_resamples=20).report
    page.context.clear_cookies()  # sign in again, as the project's admin
    log_in(page, live_app, "fb_admin", next_path=f"/projects/{feedback_project.pk}/quality/")
    shown = page.locator("#alpha-nominal strong").inner_text()
    assert shown == f"{report['alpha_nominal']['estimate']:.3f}"
    assert "thumbs up / down" in page.locator("#alpha-nominal").inner_text()

    snapshot = dataset_snapshot_build(project=feedback_project)
    export_write(snapshot=snapshot, fmt="trl", out=tmp_path / "kto", style="text")
    rows = [json.loads(line) for line in (tmp_path / "kto" / "train.jsonl").read_text().splitlines()]
    # Majority of two: the agreed items keep their thumbs; the split one has no consensus.
    assert sorted((r["completion"], r["label"]) for r in rows) == [("Bonjour !", True),
                                                                   ("Five, probably.", False)]

