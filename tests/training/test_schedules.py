"""Per-project schedules: "at least N new consensus pairs, at most every T hours"."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from annotation.models import DatasetSnapshot
from annotation.services.queue import item_claim_next, new_idempotency_key
from annotation.services.submissions import annotation_submit
from tests.factories import items_make
from tests.training.factories import FAST
from training.models import RunStatus, TrainingRun, TrainingSchedule
from training.services.schedules import (
    training_schedule_delete,
    training_schedule_save,
    training_schedule_tick,
)


def label(project, labelers, count):
    """``count`` new items, each labeled "A is better" by every labeler: ``count`` consensus pairs."""
    items_make(project, count)
    for user in labelers:
        while (lease := item_claim_next(project=project, labeler=user)) is not None:
            annotation_submit(assignment=lease, data={"strength": -2}, idempotency_key=new_idempotency_key())


@pytest.fixture
def schedule(project, backbone, training_dir):
    return training_schedule_save(schedule=TrainingSchedule(
        project=project, min_new_pairs=5, min_interval_hours=24, check_every_minutes=15,
        base_model=backbone, hyperparameters=FAST))


def tick(schedule, now=None) -> str:
    return training_schedule_tick(schedule_id=schedule.pk, now=now)


def test_saving_a_schedule_keeps_its_beat_task_in_step(schedule):
    task = PeriodicTask.objects.get(name=f"training-schedule-{schedule.pk}")
    assert task.task == "training.tasks.training_schedule_tick_task"
    assert json.loads(task.args) == [schedule.pk] and task.enabled
    assert (task.interval.every, task.interval.period) == (15, "minutes")
    schedule.enabled, schedule.check_every_minutes = False, 60
    training_schedule_save(schedule=schedule)
    task.refresh_from_db()
    assert not task.enabled and task.interval.every == 60
    training_schedule_delete(schedule=schedule)
    assert not PeriodicTask.objects.filter(name=f"training-schedule-{schedule.pk}").exists()


def test_a_schedule_queues_a_run_on_a_fresh_snapshot_when_enough_pairs_are_new(
        schedule, project, labeler, labeler2, django_capture_on_commit_callbacks):
    assert tick(schedule).startswith("at most 0 new pairs")
    assert not DatasetSnapshot.objects.filter(project=project).exists()  # nothing built for nothing

    label(project, [labeler, labeler2], 6)
    with django_capture_on_commit_callbacks() as callbacks:
        message = tick(schedule)
    run = TrainingRun.objects.get(project=project)
    assert message.startswith(f"queued run {run.pk}") and len(callbacks) == 1
    assert run.schedule == schedule and run.base_model == schedule.base_model
    assert sum(run.snapshot.counts.values()) == 6 and run.hyperparameters["max_steps"] == 6
    schedule.refresh_from_db()
    assert schedule.last_triggered_at and schedule.last_message == message

    label(project, [labeler, labeler2], 6)
    assert tick(schedule).startswith("too soon")
    later = timezone.now() + timedelta(hours=25)
    assert tick(schedule, now=later) == "a run is already queued or running"
    TrainingRun.objects.filter(pk=run.pk).update(status=RunStatus.SUCCEEDED)
    assert tick(schedule, now=later).startswith("queued run")
    assert TrainingRun.objects.filter(project=project).count() == 2


def test_too_few_new_consensus_pairs_queue_nothing_and_keep_no_snapshot(
        schedule, project, labeler, labeler2):
    schedule.min_new_pairs = 4
    training_schedule_save(schedule=schedule)
    # Labels, but only 3 items reach consensus (each label counts toward the bound).
    label(project, [labeler], 3)
    label(project, [labeler2], 0)
    message = tick(schedule)
    assert message == "3 new consensus pairs since the last run (< 4)"
    assert not TrainingRun.objects.exists()
    assert not DatasetSnapshot.objects.filter(project=project).exists()


def test_a_disabled_schedule_does_nothing(schedule, project, labeler, labeler2):
    label(project, [labeler, labeler2], 6)
    schedule.enabled = False
    training_schedule_save(schedule=schedule)
    assert tick(schedule) == "disabled" and not TrainingRun.objects.exists()


def test_the_admin_creates_a_schedule_and_its_beat_task(client, superuser, project, backbone, training_dir,
                                                        settings):
    # Rendered pages need static URLs without a collectstatic manifest.
    settings.STORAGES = settings.STORAGES | {
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    client.force_login(superuser)
    response = client.post("/admin/training/trainingschedule/add/", {
        "project": project.pk, "kind": "reward", "enabled": "on", "min_new_pairs": 50,
        "min_interval_hours": 12, "check_every_minutes": 30, "hyperparameters": "{}", "filters": "{}",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    schedule = TrainingSchedule.objects.get(project=project)
    assert PeriodicTask.objects.get(name=f"training-schedule-{schedule.pk}").interval.every == 30
    response = client.post("/admin/training/trainingschedule/add/", {
        "project": project.pk, "kind": "reward", "min_new_pairs": 5, "min_interval_hours": 1,
        "check_every_minutes": 30, "hyperparameters": '{"learning_rate": "x"}', "filters": "{}",
    })
    assert response.status_code == 200 and b"learning_rate" in response.content


@pytest.fixture
def policy(db, tmp_path):
    from generation.models import ModelRole, ModelSpec

    (tmp_path / "policy").mkdir()
    return ModelSpec.objects.create(name="tiny-policy", role=ModelRole.POLICY, path=str(tmp_path / "policy"))


def test_a_dpo_schedule_queues_a_dpo_run_with_its_loss(project, labeler, labeler2, policy, training_dir,
                                                        django_capture_on_commit_callbacks):
    schedule = training_schedule_save(schedule=TrainingSchedule(
        project=project, kind="dpo", min_new_pairs=3, base_model=policy,
        hyperparameters={"loss": "ipo", "beta": 0.2, "max_steps": 2}))
    label(project, [labeler, labeler2], 3)
    with django_capture_on_commit_callbacks():
        assert tick(schedule).startswith("queued run")
    run = TrainingRun.objects.get(project=project)
    assert (run.kind, run.base_model, run.schedule) == ("dpo", policy, schedule)
    assert (run.hyperparameters["loss"], run.hyperparameters["beta"]) == ("ipo", 0.2)


@pytest.mark.parametrize(("kind", "values", "field"), [
    ("dpo", {"hyperparameters": {"loss": "cdpo"}}, "hyperparameters.label_smoothing"),
    ("sft", {"hyperparameters": {"loss": "sigmoid"}}, "hyperparameters.loss"),
    ("reward", {"hyperparameters": {"loss": "ipo"}}, "hyperparameters.loss"),
    ("dpo", {"check_every_minutes": 0}, "check_every_minutes"),
])
def test_a_schedule_is_checked_as_its_runs_are(project, kind, values, field):
    from annotation.errors import Invalid

    with pytest.raises(Invalid) as error:
        training_schedule_save(schedule=TrainingSchedule(project=project, kind=kind, **values))
    assert error.value.field == field
    assert not TrainingSchedule.objects.exists()


def test_a_policy_schedule_refuses_a_reward_backbone(project, backbone):
    from annotation.errors import Invalid

    with pytest.raises(Invalid, match="starts from a policy model"):
        training_schedule_save(schedule=TrainingSchedule(project=project, kind="sft", base_model=backbone))


def test_schedules_through_the_api(project, engineer, labeler, outsider, policy, api):
    url = f"/api/projects/{project.pk}/training-schedules/"
    created = api(engineer).post(url, {"kind": "sft", "base_model": "tiny-policy", "min_new_pairs": 10},
                                 format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["kind"], body["base_model"], body["min_new_pairs"]) == ("sft", "tiny-policy", 10)
    assert api(engineer).post(url, {"kind": "sft"}, format="json").status_code == 409  # one per kind
    bad = api(engineer).post(url, {"kind": "dpo", "hyperparameters": {"beta": -1}}, format="json")
    assert bad.status_code == 400 and bad.json()["field"] == "hyperparameters.beta"
    detail = f"{url}{body['id']}/"
    changed = api(engineer).patch(detail, {"enabled": False}, format="json").json()
    assert changed["enabled"] is False
    assert not PeriodicTask.objects.get(name=f"training-schedule-{body['id']}").enabled
    for persona, status in ((labeler, 403), (outsider, 404)):
        assert api(persona).get(detail).status_code == status
        assert api(persona).delete(detail).status_code == status
    assert api(engineer).delete(detail).status_code == 204
    assert not TrainingSchedule.objects.exists()
    from audit.models import AuditEvent

    assert {"training_schedule.create", "training_schedule.update", "training_schedule.delete"} <= set(
        AuditEvent.objects.values_list("action", flat=True))
