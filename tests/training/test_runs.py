"""Training runs as durable jobs: claim, heartbeat, watchdog, cancel, resume, registry."""

import threading
from datetime import timedelta

import pytest
import torch
from django.db import connection
from django.utils import timezone
from safetensors.torch import load_file

from annotation.errors import Conflict, Invalid
from generation.models import ModelRole, ModelSpec
from tests.training.factories import FAST, snapshot_make
from training.models import RunStatus, TrainingMetric, TrainingRun
from training.selectors import reward_model_active
from training.services import runs as run_services
from training.services.runs import (
    training_run_cancel,
    training_run_claim,
    training_run_create,
    training_run_execute,
    training_run_resume,
    training_runs_requeue_stale,
)
from training.tasks import training_run_task


def create(project, **kw) -> TrainingRun:
    kw.setdefault("snapshot", snapshot_make(project))
    kw.setdefault("hyperparameters", FAST)
    kw.setdefault("base_model", "tiny-bert")
    kw.setdefault("enqueue", False)
    return training_run_create(project=project, **kw)


def test_create_validates_fills_defaults_and_enqueues_on_commit(
        project, backbone, training_dir, engineer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        run = training_run_create(project=project, snapshot=snapshot_make(project),
                                  hyperparameters={"learning_rate": 1e-4}, created_by=engineer)
    assert run.status == RunStatus.QUEUED and run.base_model == backbone
    assert run.hyperparameters["learning_rate"] == 1e-4 and run.hyperparameters["batch_size"] == 8
    assert run.artifacts_dir.endswith(f"{project.slug}/run-{run.pk}")
    assert len(callbacks) == 1  # one task, sent only once the row is committed


@pytest.mark.parametrize(("hyper", "field"), [
    ({"learning_rate": "fast"}, "hyperparameters.learning_rate"),
    ({"batch_size": 0}, "hyperparameters.batch_size"),
    ({"loss": "hinge"}, "hyperparameters.loss"),
    ({"momentum": 0.9}, "hyperparameters.momentum"),
])
def test_create_refuses_bad_hyperparameters(project, backbone, training_dir, hyper, field):
    with pytest.raises(Invalid) as error:
        create(project, hyperparameters=hyper)
    assert error.value.field == field
    assert not TrainingRun.objects.exists()


def test_create_refuses_unknown_kinds_and_non_backbones(project, backbone, training_dir):
    with pytest.raises(Invalid, match="kind must be one of"):
        create(project, kind="ppo")
    with pytest.raises(Invalid, match="starts from a policy"):  # dpo is implemented: not from a reward model
        create(project, kind="dpo")
    ModelSpec.objects.create(name="judge-x", role=ModelRole.JUDGE, path="/nowhere")
    with pytest.raises(Invalid, match="judge model"):
        create(project, base_model="judge-x")


def test_a_run_trains_registers_its_model_and_becomes_active(project, backbone, training_dir):
    run = create(project)
    assert training_run_task.apply(args=[run.pk]).get() == RunStatus.SUCCEEDED
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.attempt == 1
    assert run.step == run.total_steps == 6
    assert run.device == "cpu float32" and run.finished_at and run.heartbeat_at
    assert {"load_s", "train_s", "eval_s", "total_s"} <= set(run.timings)
    assert 0 <= run.results["accuracy"] <= 1 and run.results["pairs"] == 16
    spec = run.output_model
    assert spec.role == ModelRole.REWARD and spec.base_model == "tiny-bert"
    assert spec.metadata["snapshot_hash"] == run.snapshot.content_hash
    assert spec.metadata["metrics"]["accuracy"] == run.results["accuracy"]
    assert (training_dir / project.slug / f"run-{run.pk}" / "model" / "model.safetensors").is_file()
    assert run.is_active and reward_model_active(project=project) == spec
    steps = list(TrainingMetric.objects.filter(run=run, split="train").values_list("step", flat=True))
    assert steps == [2, 4, 6]
    assert TrainingMetric.objects.filter(run=run, split="eval", step=6).exists()


def test_a_second_success_takes_over_as_the_active_reward_model(project, backbone, training_dir):
    first, second = create(project), create(project)
    training_run_execute(run_id=first.pk)
    training_run_execute(run_id=second.pk)
    first.refresh_from_db()
    second.refresh_from_db()
    assert not first.is_active and second.is_active
    assert reward_model_active(project=project) == second.output_model
    run_services.training_run_activate(run=first)
    assert reward_model_active(project=project) == first.output_model


def test_a_duplicate_delivery_while_running_does_not_start_a_second_run(
        project, backbone, training_dir, monkeypatch):
    run = create(project)
    seen = []
    original = run_services.RunHooks.on_progress

    def deliver_again(self, *, step, total_steps):
        if step == 2:  # mid-training: the broker hands the same task to a worker again
            seen.append(training_run_task.apply(args=[run.pk]).get())
        return original(self, step=step, total_steps=total_steps)

    monkeypatch.setattr(run_services.RunHooks, "on_progress", deliver_again)
    training_run_task.apply(args=[run.pk])
    run.refresh_from_db()
    assert seen == [None]
    assert run.status == RunStatus.SUCCEEDED and run.attempt == 1
    # ... and once it is done, a late duplicate does nothing either.
    assert training_run_task.apply(args=[run.pk]).get() is None
    assert TrainingRun.objects.get(pk=run.pk).attempt == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_of_one_run_give_it_to_exactly_one_worker(project, backbone, training_dir):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; the race needs PostgreSQL")
    run = create(project)
    barrier, winners = threading.Barrier(4), []

    def claim(name):
        try:
            barrier.wait()
            if training_run_claim(run_id=run.pk, worker_id=name) is not None:
                winners.append(name)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run.refresh_from_db()
    assert len(winners) == 1 and run.worker_id == winners[0] and run.attempt == 1


class WorkerDied(BaseException):
    """Stands for SIGKILL: escapes every `except Exception`, leaves the row running."""


def test_the_watchdog_requeues_a_dead_run_which_resumes_to_the_same_weights(
        project, backbone, training_dir, monkeypatch, django_capture_on_commit_callbacks):
    snapshot = snapshot_make(project)
    reference = create(project, snapshot=snapshot)
    training_run_execute(run_id=reference.pk)
    run = create(project, snapshot=snapshot)

    original = run_services.RunHooks.on_progress

    def die_at_5(self, *, step, total_steps):
        original(self, step=step, total_steps=total_steps)
        if step == 5:
            raise WorkerDied

    monkeypatch.setattr(run_services.RunHooks, "on_progress", die_at_5)
    with pytest.raises(WorkerDied):
        training_run_execute(run_id=run.pk, worker_id="gpu-host-1")
    monkeypatch.setattr(run_services.RunHooks, "on_progress", original)
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING and run.step == 5

    # Still heartbeating recently: left alone.
    assert training_runs_requeue_stale()["requeued"] == 0
    TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
    with django_capture_on_commit_callbacks() as callbacks:
        assert training_runs_requeue_stale()["requeued"] == 1
    assert len(callbacks) == 1
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED and "gpu-host-1" in run.error and run.worker_id == ""

    run = training_run_execute(run_id=run.pk, worker_id="gpu-host-2")
    assert run.status == RunStatus.SUCCEEDED and run.attempt == 2
    a = load_file(reference.__class__.objects.get(pk=reference.pk).output_model.path + "/model.safetensors")
    b = load_file(run.output_model.path + "/model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    # The series has each step once: steps 4-5 of the dead attempt were replaced.
    assert list(run.metrics.filter(split="train").values_list("step", flat=True)) == [2, 4, 6]


def test_the_watchdog_gives_up_after_max_attempts_and_enforces_the_hard_limit(
        project, backbone, training_dir, django_capture_on_commit_callbacks):
    old = timezone.now() - timedelta(minutes=10)
    tired = create(project)
    TrainingRun.objects.filter(pk=tired.pk).update(status=RunStatus.RUNNING, attempt=3, heartbeat_at=old)
    too_long = create(project)
    TrainingRun.objects.filter(pk=too_long.pk).update(
        status=RunStatus.RUNNING, attempt=1, heartbeat_at=timezone.now(),
        claimed_at=timezone.now() - timedelta(days=2))
    with django_capture_on_commit_callbacks() as callbacks:
        counts = training_runs_requeue_stale(max_attempts=3)
    assert counts == {"requeued": 0, "failed": 1, "timed_out": 1}
    # Nothing is sent to a worker: the only callbacks tell the runs' observers.
    assert [c.__qualname__ for c in callbacks] == ["_failed_by_watchdog.<locals>.<lambda>"] * 2
    tired.refresh_from_db()
    too_long.refresh_from_db()
    assert tired.status == RunStatus.FAILED and "after 3 attempts" in tired.error
    assert too_long.status == RunStatus.FAILED and "hard time limit" in too_long.error


def test_cancel_stops_a_running_run_at_its_next_heartbeat(project, backbone, training_dir, monkeypatch):
    run = create(project)
    original = run_services.RunHooks.on_progress

    def cancel_at_2(self, *, step, total_steps):
        if step == 2:
            training_run_cancel(run=TrainingRun.objects.get(pk=run.pk))
        return original(self, step=step, total_steps=total_steps)

    monkeypatch.setattr(run_services.RunHooks, "on_progress", cancel_at_2)
    run = training_run_execute(run_id=run.pk)
    assert run.status == RunStatus.CANCELLED and run.output_model is None
    assert not ModelSpec.objects.filter(role=ModelRole.REWARD).exclude(name="tiny-bert").exists()
    with pytest.raises(Conflict):
        training_run_cancel(run=TrainingRun.objects.create(
            project=project, snapshot=run.snapshot, base_model=backbone, status=RunStatus.SUCCEEDED))


def test_a_cancelled_queued_run_is_never_claimed(project, backbone, training_dir):
    run = training_run_cancel(run=create(project))
    assert training_run_execute(run_id=run.pk) is None
    assert TrainingRun.objects.get(pk=run.pk).status == RunStatus.CANCELLED


def test_the_soft_time_limit_checkpoints_fails_and_resume_finishes(
        project, backbone, training_dir, settings, django_capture_on_commit_callbacks):
    run = create(project)
    settings.PALATE_TRAINING_SOFT_TIME_LIMIT = 0
    run = training_run_execute(run_id=run.pk)
    assert run.status == RunStatus.FAILED and "soft time limit reached at step 1/6" in run.error
    assert (training_dir / project.slug / f"run-{run.pk}" / "checkpoints" / "step-00000001").is_dir()
    settings.PALATE_TRAINING_SOFT_TIME_LIMIT = 3600
    with django_capture_on_commit_callbacks() as callbacks:
        run = training_run_resume(run=run)
    assert run.status == RunStatus.QUEUED and len(callbacks) == 1
    run = training_run_execute(run_id=run.pk)
    assert run.status == RunStatus.SUCCEEDED and run.attempt == 2


def test_a_crash_marks_the_run_failed_with_the_error(project, backbone, training_dir):
    backbone.path = "/does/not/exist"
    backbone.save()
    run = training_run_execute(run_id=create(project).pk)
    assert run.status == RunStatus.FAILED and run.error and run.finished_at


def test_the_active_reward_model_scores_responses(project, backbone, training_dir):
    from training.services.registry import project_rewards_score

    with pytest.raises(Conflict, match="no active reward model"):
        project_rewards_score(project=project, prompt_messages=[], responses=["x"])
    run = training_run_execute(run_id=create(project).pk)
    pair = run.snapshot.pairs.filter(split="test").first()
    scores = project_rewards_score(project=project, prompt_messages=pair.prompt_messages,
                                   responses=[pair.chosen, pair.rejected, pair.chosen])
    assert len(scores) == 3 and scores[0] == pytest.approx(scores[2], abs=1e-6)
