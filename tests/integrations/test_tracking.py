"""Experiment tracking: real training runs logged to a real MLflow file store and
a real W&B offline run, read back with their own clients and formats."""

import json
from pathlib import Path

import pytest

from integrations.models import TrackedRun
from tests.training.conftest import backbone, tiny_model_dir, training_dir  # noqa: F401 - fixtures
from tests.training.factories import FAST, snapshot_make
from training.models import RunStatus
from training.services.runs import training_run_create, training_run_execute

pytestmark = pytest.mark.django_db


@pytest.fixture
def plain_static(settings, tmp_path):
    # The training page renders {% static %}; the manifest storage would need collectstatic.
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    settings.STATIC_ROOT = str(tmp_path)


@pytest.fixture
def mlflow_store(settings, tmp_path, monkeypatch):
    # The tests' own MLflow client reads the file store too (the tracker opts in the same way).
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    settings.PALATE_MLFLOW = True
    settings.PALATE_MLFLOW_TRACKING_URI = (tmp_path / "mlruns").as_uri()
    return settings.PALATE_MLFLOW_TRACKING_URI


def _run(project, **hyper):
    run = training_run_create(project=project, snapshot=snapshot_make(project), base_model="tiny-bert",
                              hyperparameters={**FAST, **hyper}, enqueue=False)
    return training_run_execute(run_id=run.pk)


def test_a_reward_run_is_logged_to_the_mlflow_file_store(project, backbone, training_dir, mlflow_store):  # noqa: F811
    from mlflow.tracking import MlflowClient

    run = _run(project)
    assert run.status == RunStatus.SUCCEEDED
    tracked = TrackedRun.objects.get(training_run=run, backend="mlflow")
    assert tracked.finished and not tracked.error and tracked.external_id
    assert Path(tracked.location).is_dir()  # the run's folder in the local store

    client = MlflowClient(tracking_uri=mlflow_store)
    logged = client.get_run(tracked.external_id)
    assert logged.info.status == "FINISHED"
    assert client.get_experiment(logged.info.experiment_id).name == f"palate-{project.slug}"
    params = logged.data.params
    assert params["learning_rate"] == str(FAST["learning_rate"]) and params["max_steps"] == "6"
    assert params["palate.kind"] == "reward" and params["palate.base_model"] == "tiny-bert"
    assert params["palate.snapshot.version"] == str(run.snapshot.version)
    assert logged.data.tags["palate.training_run"] == str(run.pk)
    # Per-step metrics: the same points the run's page draws.
    history = client.get_metric_history(tracked.external_id, "train/loss")
    assert [m.step for m in history] == [2, 4, 6]
    assert [m.step for m in client.get_metric_history(tracked.external_id, "eval/accuracy")] == [6]
    assert logged.data.metrics["final/accuracy"] == pytest.approx(run.results["accuracy"])
    # The snapshot as the dataset input, its content hash the digest.
    (dataset_input,) = logged.inputs.dataset_inputs
    assert dataset_input.dataset.name == f"{project.slug}-snapshot-v{run.snapshot.version}"
    assert dataset_input.dataset.digest == run.snapshot.content_hash[:36]
    assert json.loads(dataset_input.dataset.source)["content_hash"] == run.snapshot.content_hash
    assert {t.key: t.value for t in dataset_input.tags}["palate.content_hash"] == run.snapshot.content_hash
    # The model folder as an artifact.
    files = {a.path for a in client.list_artifacts(tracked.external_id, "model")}
    assert {"model/model.safetensors", "model/config.json"} <= files


def test_a_failing_tracker_never_fails_the_run_and_its_error_shows_on_the_run(
        project, backbone, training_dir, settings, client, admin, plain_static):  # noqa: F811
    from training.observers import run_observer_register, run_observer_unregister

    class Broken:  # an observer whose every call raises: training's own guard
        def __getattr__(self, name):
            raise RuntimeError(f"observer broke in {name}")

    settings.PALATE_MLFLOW = True
    settings.PALATE_MLFLOW_TRACKING_URI = "file:///dev/null/mlruns"  # not a folder anyone can create
    run_observer_register(name="broken", factory=lambda run: Broken())
    try:
        run = _run(project)
    finally:
        run_observer_unregister(name="broken")
    assert run.status == RunStatus.SUCCEEDED and run.output_model_id and not run.error
    tracked = TrackedRun.objects.get(training_run=run, backend="mlflow")
    assert tracked.error and not tracked.finished and not tracked.external_id

    client.force_login(admin)
    page = client.get(f"/projects/{project.pk}/training/").content.decode()
    assert f'data-tracking-error="{tracked.pk}"' in page and "MLflow" in page


def test_the_training_page_links_a_run_to_its_tracked_run(
        project, backbone, training_dir, mlflow_store, client, admin, plain_static):  # noqa: F811
    run = _run(project)
    tracked = TrackedRun.objects.get(training_run=run, backend="mlflow")
    client.force_login(admin)
    page = client.get(f"/projects/{project.pk}/training/").content.decode()
    assert f'data-tracked="{run.pk}-mlflow"' in page
    assert tracked.external_id in page and tracked.location in page


def test_a_resumed_run_continues_its_tracked_run(project, backbone, training_dir, mlflow_store):  # noqa: F811
    from mlflow.tracking import MlflowClient

    from training.services.runs import training_run_resume

    run = training_run_create(project=project, snapshot=snapshot_make(project), base_model="tiny-bert",
                              hyperparameters=FAST, enqueue=False)
    backbone_path = run.base_model.path
    run.base_model.path = "/does/not/exist"
    run.base_model.save()
    run = training_run_execute(run_id=run.pk)
    assert run.status == RunStatus.FAILED
    first = TrackedRun.objects.get(training_run=run, backend="mlflow")
    store = MlflowClient(tracking_uri=mlflow_store)
    assert store.get_run(first.external_id).info.status == "FAILED"

    run.base_model.path = backbone_path
    run.base_model.save()
    training_run_resume(run=run)
    run = training_run_execute(run_id=run.pk)
    assert run.status == RunStatus.SUCCEEDED
    again = TrackedRun.objects.get(training_run=run, backend="mlflow")
    assert again.external_id == first.external_id and again.finished
    assert store.get_run(first.external_id).info.status == "FINISHED"


def test_a_reward_run_is_logged_to_a_wandb_offline_run(project, backbone, training_dir, settings, tmp_path):  # noqa: F811
    from tests.integrations.wandb_records import wandb_records

    settings.PALATE_MLFLOW = False
    settings.PALATE_WANDB = True
    settings.PALATE_WANDB_MODE = "offline"
    settings.PALATE_WANDB_DIR = tmp_path / "wandb"
    run = _run(project)
    assert run.status == RunStatus.SUCCEEDED
    tracked = TrackedRun.objects.get(training_run=run, backend="wandb")
    assert tracked.finished and not tracked.error
    folder = Path(tracked.location)
    assert folder.name.startswith("offline-run-") and folder.name.endswith(tracked.external_id)

    records = wandb_records(folder / f"run-{tracked.external_id}.wandb")
    history = {}
    for record in records:
        if record.WhichOneof("record_type") == "history":
            items = {item.key or "/".join(item.nested_key): json.loads(item.value_json)
                     for item in record.history.item}
            history[items["_step"]] = items
    assert [step for step, items in sorted(history.items()) if "train/loss" in items] == [2, 4, 6]
    assert history[6]["final/accuracy"] == pytest.approx(run.results["accuracy"])
    config = {}  # the run record's config at the start, then config records' updates
    for record in records:
        kind = record.WhichOneof("record_type")
        for item in {"run": record.run.config.update, "config": record.config.update}.get(kind, []):
            config[item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
    assert config["learning_rate"] == str(FAST["learning_rate"])
    assert config["dataset"]["digest"] == run.snapshot.content_hash
    assert any(r.WhichOneof("record_type") == "artifact" and r.artifact.type == "model" for r in records)
    exit_records = [r.exit for r in records if r.WhichOneof("record_type") == "exit"]
    assert exit_records and exit_records[-1].exit_code == 0


def test_a_finished_loop_round_is_tracked_with_its_runs_nested(
        project, backbone, training_dir, mlflow_store, django_capture_on_commit_callbacks,  # noqa: F811
        client, admin, plain_static):
    from mlflow.tracking import MlflowClient

    from training.events import loop_round_finished_emit
    from training.loop.models import Decision, LoopRound, RoundStage
    from training.policy_eval.models import PolicyEvaluation

    store = MlflowClient(tracking_uri=mlflow_store)
    reward_run = training_run_create(project=project, snapshot=snapshot_make(project), base_model="tiny-bert",
                                     hyperparameters=FAST, enqueue=False)
    # The reward run as its tracker left it (its training is covered above).
    child = store.create_run(store.create_experiment(f"palate-{project.slug}"))
    TrackedRun.objects.create(training_run=reward_run, backend="mlflow", external_id=child.info.run_id,
                              finished=True)
    evaluation = PolicyEvaluation.objects.create(
        project=project, policy=backbone, reference=backbone, snapshot=reward_run.snapshot,
        results={"win_rate": 0.71, "win_rate_low": 0.6, "win_rate_high": 0.8, "kl": 0.04, "prompts": 16,
                 "timings": {"sample_s": 2.5}, "judge": "rm-run-1"})
    rnd = LoopRound.objects.create(
        project=project, number=3, status="succeeded", stage=RoundStage.DONE, reference_policy=backbone,
        snapshot=reward_run.snapshot, reward_run=reward_run, evaluation=evaluation,
        decision=Decision.ACCEPTED, decision_reason="win rate above 0.5")

    with django_capture_on_commit_callbacks(execute=True):
        loop_round_finished_emit(round_id=rnd.pk)  # as the loop announces it, inside its transaction

    tracked = TrackedRun.objects.get(loop_round=rnd, backend="mlflow")
    assert tracked.finished and not tracked.error
    logged = store.get_run(tracked.external_id)
    assert logged.info.status == "FINISHED" and logged.info.run_name == f"{project.slug} loop round 3"
    assert logged.data.params["palate.round.decision"] == "accepted"
    assert logged.data.params["palate.round.reward_run"] == str(reward_run.pk)
    assert logged.data.metrics == {"final/win_rate": 0.71, "final/win_rate_low": 0.6,
                                   "final/win_rate_high": 0.8, "final/kl": 0.04, "final/prompts": 16,
                                   "final/timings/sample_s": 2.5}  # text is no metric
    (dataset_input,) = logged.inputs.dataset_inputs
    assert dataset_input.dataset.digest == reward_run.snapshot.content_hash[:36]
    # MLflow's UI nests the round's training runs under it.
    assert store.get_run(child.info.run_id).data.tags["mlflow.parentRunId"] == tracked.external_id

    client.force_login(admin)
    page = client.get(f"/projects/{project.pk}/training/").content.decode()
    assert f'data-tracked-round="{rnd.pk}-mlflow"' in page and tracked.external_id in page


@pytest.mark.parametrize("how", ["worker died", "time limit"])
def test_a_run_the_watchdog_fails_is_closed_in_the_tracker(project, backbone, mlflow_store, how,  # noqa: F811
                                                           django_capture_on_commit_callbacks):
    """Its worker is gone and cannot say how the run ended: the watchdog does."""
    from datetime import timedelta

    from django.utils import timezone
    from mlflow.tracking import MlflowClient

    from training.observers import RunObservers
    from training.services.runs import training_run_claim, training_runs_requeue_stale

    run = training_run_create(project=project, snapshot=snapshot_make(project), base_model="tiny-bert",
                              hyperparameters=FAST, enqueue=False)
    run = training_run_claim(run_id=run.pk, worker_id="doomed")
    RunObservers(run).on_start(total_steps=6, start_step=0, device="cpu")  # then the worker dies
    tracked = TrackedRun.objects.get(training_run=run, backend="mlflow")
    store = MlflowClient(tracking_uri=mlflow_store)
    assert store.get_run(tracked.external_id).info.status == "RUNNING" and not tracked.finished

    later = timezone.now() + timedelta(hours=2)
    with django_capture_on_commit_callbacks(execute=True):
        if how == "worker died":
            counts = training_runs_requeue_stale(now=later, stale_after=timedelta(minutes=1),
                                                 max_attempts=1, time_limit=timedelta(days=1))
        else:
            counts = training_runs_requeue_stale(now=later, stale_after=timedelta(days=1),
                                                 time_limit=timedelta(hours=1))
    assert counts["failed" if how == "worker died" else "timed_out"] == 1
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    tracked.refresh_from_db()
    assert tracked.finished and tracked.external_id
    assert store.get_run(tracked.external_id).info.status == "FAILED"
