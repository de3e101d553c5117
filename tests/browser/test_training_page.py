"""The training page in Chromium: an engineer starts a reward run on a tiny
model from the form and sees it listed with its held-out result and curves.

Celery is eager in the test settings, so the run trains inside the live
server's request (about a second for the tiny model)."""

import pytest

from annotation.models import Role
from tests.browser.helpers import log_in, pairs, project_with_items, screenshot, user
from tests.factories import member_add
from tests.training.factories import backbone_make, snapshot_make
from training.models import RunStatus, TrainingRun
from training.synthetic import tiny_backbone

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tiny(settings, tmp_path):
    settings.PALATE_TRAINING_DIR = tmp_path / "training"
    return backbone_make(tiny_backbone(tmp_path / "tiny"))


def test_an_engineer_starts_a_run_and_sees_its_result(page, live_app, tiny):
    admin, erin = user("admin_ann"), user("eng_erin")
    project = project_with_items(admin=admin, labelers=[], rows=pairs(2), name="Reward lab")
    member_add(project, erin, Role.ENGINEER)
    snapshot = snapshot_make(project, train=64, test=16)

    log_in(page, live_app, "eng_erin")
    page.get_by_role("link", name="Training of Reward lab").click()
    page.wait_for_url(f"{live_app}/projects/{project.pk}/training/")
    assert page.get_by_text("No training runs yet.").is_visible()

    form = page.locator("#start form")
    form.get_by_label("Snapshot").select_option(str(snapshot.pk))
    form.get_by_label("Backbone").select_option("tiny-bert")
    form.get_by_label("Learning rate").fill("0.003")
    form.get_by_label("Max steps (0: from epochs)").fill("8")
    form.get_by_label("Batch size").fill("8")
    form.get_by_label("Log every N steps").fill("1")
    form.get_by_label("Evaluate every N steps (0: at the end)").fill("2")
    # The response comes once the run has trained (eager Celery): seconds, more on a busy machine.
    form.get_by_role("button", name="Start training").click(no_wait_after=True)
    page.wait_for_selector("ul.messages li.success", timeout=180_000)
    page.wait_for_selector("tr[data-run]")

    run = TrainingRun.objects.get(project=project)
    assert run.status == RunStatus.SUCCEEDED, run.error
    row = page.locator(f"tr[data-run='{run.pk}']")
    assert row.locator("[data-field=status]").inner_text().startswith("Succeeded")
    assert row.locator("[data-field=accuracy]").inner_text() == f"{run.results['accuracy']:.3f}"
    assert row.locator("[data-field=active]").is_visible()
    assert "8 / 8 steps" in row.locator("[data-field=progress]").inner_text()
    detail = page.locator(f"tr[data-run-detail='{run.pk}']")
    assert detail.locator("polyline[data-series=train-loss]").get_attribute("data-points") == "8"
    assert detail.locator("polyline[data-series=eval-accuracy]").get_attribute("data-points") == "4"
    assert page.evaluate("window.__cspViolations") == []
    screenshot(page, "training-page", full_page=True)


def test_a_running_runs_progress_updates_live(page, live_app, tiny):
    admin, erin = user("admin_ann"), user("eng_erin")
    project = project_with_items(admin=admin, labelers=[], rows=pairs(1), name="Reward lab")
    member_add(project, erin, Role.ENGINEER)
    run = TrainingRun.objects.create(project=project, snapshot=snapshot_make(project), base_model=tiny,
                                     status=RunStatus.RUNNING, step=2, total_steps=10)
    log_in(page, live_app, "eng_erin", next_path=f"/projects/{project.pk}/training/")
    row = page.locator(f"tr[data-run='{run.pk}']")
    assert "2 / 10 steps" in row.locator("[data-field=progress]").inner_text()

    # The worker moves on: training.js reads the run from the API and updates the row in place.
    TrainingRun.objects.filter(pk=run.pk).update(step=7)
    page.wait_for_selector(f"tr[data-run='{run.pk}'] [data-field=steps]:has-text('7 / 10 steps')")
    assert row.locator("progress").get_attribute("value") == "7"
    # When it ends, the page reloads and the server shows the final state.
    TrainingRun.objects.filter(pk=run.pk).update(status=RunStatus.FAILED, error="worker lost")
    page.wait_for_selector(f"tr[data-run='{run.pk}'][data-status=failed]:not([data-live])")
    assert "worker lost" in row.locator("[data-field=status]").inner_text()
