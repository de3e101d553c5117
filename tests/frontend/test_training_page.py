"""/projects/{id}/training/: who may open it, what it shows, and its actions."""

import re

import pytest

from frontend.views.training import CHART_H, CHART_PAD, CHART_W, chart_build
from tests.training.factories import FAST, backbone_make, snapshot_make
from training.models import RunStatus, TrainingMetric, TrainingRun, TrainingSchedule
from training.services.runs import training_run_create, training_run_execute
from training.synthetic import tiny_backbone


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return tiny_backbone(tmp_path_factory.mktemp("tiny") / "base")


@pytest.fixture
def backbone(db, tiny_dir):
    return backbone_make(tiny_dir)


@pytest.fixture
def training_dir(settings, tmp_path):
    settings.PALATE_TRAINING_DIR = tmp_path / "training"
    settings.PALATE_TRAINING_HEARTBEAT_SECONDS = 0
    return settings.PALATE_TRAINING_DIR


@pytest.fixture
def snapshot(project):
    return snapshot_make(project)


def queued_run(project, snapshot) -> TrainingRun:
    # Through the service (not objects.create): it sets the run's artifacts folder.
    return training_run_create(project=project, snapshot=snapshot, base_model="tiny-bert",
                               hyperparameters=FAST, enqueue=False)


def url(project):
    return f"/projects/{project.pk}/training/"


def start_form(snapshot, **fields):
    form = {"action": "start", "snapshot": str(snapshot.pk), "base_model": "tiny-bert",
            **{k: str(v) for k, v in FAST.items() if k not in ("device", "checkpoint_every_steps",
                                                              "logging_steps", "eval_batch_size")}}
    form.update(fields)
    return form


def test_an_engineer_starts_a_run_and_sees_its_results(
        web, project, engineer, backbone, training_dir, snapshot, django_capture_on_commit_callbacks):
    client = web(engineer)
    with django_capture_on_commit_callbacks(execute=True):  # eager Celery: the run trains here
        response = client.post(url(project), start_form(snapshot))
    assert response.status_code == 302
    run = TrainingRun.objects.get(project=project)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.created_by == engineer and run.snapshot == snapshot and run.base_model == backbone
    assert run.hyperparameters["max_steps"] == FAST["max_steps"]
    assert run.hyperparameters["learning_rate"] == FAST["learning_rate"]

    page = client.get(url(project)).content.decode()
    row = re.search(rf'<tr data-run="{run.pk}".*?</tr>', page, re.S).group(0)
    assert "Succeeded" in row and 'data-field="active"' in row
    assert f"{run.step} / {run.total_steps} steps" in row
    assert f'>{run.results["accuracy"]:.3f}<' in row
    assert f'>{run.results["loss"]:.4f}<' in row
    assert f'>{run.results["ece"]:.3f}<' in row
    assert f"v{snapshot.version}" in row and "tiny-bert" in row and run.device in row


def test_the_page_draws_each_curve_from_the_runs_metrics(
        web, project, engineer, backbone, training_dir, snapshot):
    run = queued_run(project, snapshot)
    run = training_run_execute(run_id=run.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    train = list(TrainingMetric.objects.filter(run=run, split="train").order_by("step"))
    evals = list(TrainingMetric.objects.filter(run=run, split="eval"))
    assert len(train) == FAST["max_steps"] // FAST["logging_steps"] and evals

    page = web(engineer).get(url(project)).content.decode()
    found = re.findall(r'data-series="([\w-]+)" data-points="(\d+)" points="([^"]*)"', page)
    lines = {key: points for key, _, points in found}
    assert {key: int(n) for key, n, _ in found}["train-loss"] == len(train)
    assert set(lines) == {"train-loss", "eval-loss", "train-accuracy", "eval-accuracy"}
    expected = chart_build("Loss", {
        "train loss": [(m.step, m.values["loss"]) for m in train],
        "eval loss": [(m.step, m.values["loss"]) for m in evals]})
    assert lines["train-loss"] == expected.lines[0].points
    assert len(lines["train-loss"].split()) == len(train)


def test_chart_points_map_steps_and_values_onto_the_box():
    chart = chart_build("Loss", {"train loss": [(0, 1.0), (5, 0.5), (10, 0.0)]})
    inner_w, inner_h = CHART_W - 2 * CHART_PAD, CHART_H - 2 * CHART_PAD
    points = [tuple(map(float, p.split(","))) for p in chart.lines[0].points.split()]
    # Step 0 at the left edge, the last step at the right; the largest value on top.
    assert points == [(CHART_PAD, CHART_PAD), (CHART_PAD + inner_w / 2, CHART_PAD + inner_h / 2),
                      (CHART_PAD + inner_w, CHART_PAD + inner_h)]
    assert (chart.y_min, chart.y_max, chart.x_max) == (0.0, 1.0, 10)
    # Missing values (no decided pair in a window) are left out, not drawn as zero.
    assert chart_build("Accuracy", {"a": [(1, None), (2, None)]}) is None


@pytest.mark.parametrize("persona, status", [("labeler", 403), ("outsider", 404)])
def test_labelers_and_outsiders_cannot_open_or_start(
        web, project, persona, status, request, backbone, training_dir, snapshot):
    client = web(request.getfixturevalue(persona))
    assert client.get(url(project)).status_code == status
    assert client.post(url(project), start_form(snapshot)).status_code == status
    assert not TrainingRun.objects.exists()


def test_anonymous_visitors_are_sent_to_log_in(web, project):
    response = web(None).get(url(project))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_a_post_without_the_csrf_token_is_refused(web, project, engineer, backbone, training_dir,
                                                 snapshot):
    response = web(engineer, enforce_csrf=True).post(url(project), start_form(snapshot))
    assert response.status_code == 403
    assert not TrainingRun.objects.exists()


def test_a_bad_hyperparameter_is_shown_by_name_and_starts_nothing(
        web, project, admin, backbone, training_dir, snapshot):
    client = web(admin)
    page = client.post(url(project), start_form(snapshot, learning_rate="fast"), follow=True)
    assert "field &#x27;hyperparameters.learning_rate&#x27;: must be a number" in page.content.decode()
    page = client.post(url(project), start_form(snapshot, batch_size="0"), follow=True)
    assert "hyperparameters.batch_size" in page.content.decode()
    assert not TrainingRun.objects.exists()


def test_cancel_resume_and_activate_from_the_page(web, project, engineer, backbone, training_dir,
                                                  snapshot, django_capture_on_commit_callbacks):
    client = web(engineer)
    queued = queued_run(project, snapshot)
    client.post(url(project), {"action": "cancel", "run": queued.pk})
    assert TrainingRun.objects.get(pk=queued.pk).status == RunStatus.CANCELLED
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url(project), {"action": "resume", "run": queued.pk})
    first = TrainingRun.objects.get(pk=queued.pk)
    assert first.status == RunStatus.SUCCEEDED and first.is_active

    second = queued_run(project, snapshot)
    training_run_execute(run_id=second.pk)  # a new success becomes the active model
    assert not TrainingRun.objects.get(pk=first.pk).is_active
    page = client.get(url(project)).content.decode()
    assert f'aria-label="Activate run {first.pk}"' in page
    assert f'aria-label="Activate run {second.pk}"' not in page
    client.post(url(project), {"action": "activate", "run": first.pk})
    assert TrainingRun.objects.get(pk=first.pk).is_active
    assert not TrainingRun.objects.get(pk=second.pk).is_active


def test_a_run_of_another_project_is_not_found(web, project, admin, engineer, backbone, training_dir):
    from tests.factories import project_make

    other = project_make(creator=admin)
    run = TrainingRun.objects.create(project=other, snapshot=snapshot_make(other), base_model=backbone)
    assert web(engineer).post(url(project), {"action": "cancel", "run": run.pk}).status_code == 404
    assert TrainingRun.objects.get(pk=run.pk).status == RunStatus.QUEUED


def test_errors_and_schedule_messages_are_shown_as_text(web, project, engineer, backbone, training_dir,
                                                        snapshot):
    TrainingRun.objects.create(project=project, snapshot=snapshot, base_model=backbone,
                               status=RunStatus.FAILED, error="<script>alert(1)</script>")
    TrainingSchedule.objects.create(project=project, min_new_pairs=50,
                                    last_message="<img src=x onerror=alert(2)> 12 new pairs")
    page = web(engineer).get(url(project)).content.decode()
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(2)&gt; 12 new pairs" in page
    assert "≥ 50 new pairs" in page


def test_the_form_chooses_a_runs_resources_and_shows_the_memory_plan(
        web, project, engineer, backbone, training_dir, snapshot, django_capture_on_commit_callbacks):
    client = web(engineer)
    page = client.get(url(project)).content.decode()
    assert 'name="strategy"' in page and '<option value="ddp"' in page and '<option value="fsdp"' in page
    assert '<option value="deepspeed-zero2"' in page and '<option value="deepspeed-zero3"' in page
    assert 'name="gradient_checkpointing"' in page
    assert 'id="memory-plan"' in page and "tiny-bert with these defaults: about" in page
    with django_capture_on_commit_callbacks():  # queued, not trained here
        client.post(url(project), start_form(snapshot, strategy="fsdp", processes_per_node="2",
                                             gradient_checkpointing="on"))
    run = TrainingRun.objects.get(project=project)
    assert run.resources["strategy"] == "fsdp" and run.resources["processes_per_node"] == 2
    assert run.hyperparameters["gradient_checkpointing"] is True


def test_a_run_that_will_not_fit_is_refused_on_the_page_with_the_numbers(
        web, project, engineer, backbone, training_dir, snapshot):
    client = web(engineer)
    response = client.post(url(project), start_form(snapshot, gpu_memory_gb="0.5"), follow=True)
    assert "per GPU but 0.5 GB are available" in response.content.decode()
    assert not TrainingRun.objects.exists()
