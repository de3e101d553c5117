"""Per-project training schedules, run by beat through django-celery-beat.

"Train a reward model (or a DPO-family or SFT policy) when at least N new
consensus pairs exist since the last run of that kind, at most every T hours,
building a fresh snapshot first": one schedule per project and run kind, its
hyper-parameters checked as a run's are. (Loop rounds have their own periodic
check, the project's loop settings: training.loop.) Each schedule
owns one PeriodicTask (every ``check_every_minutes``) that calls
``training_schedule_tick``; the admin and ``training_schedule_save`` keep the
two rows in step.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from math import comb

from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from annotation.errors import Invalid
from annotation.models import Annotation, DatasetSnapshot, Project
from annotation.services.datasets import dataset_snapshot_build, filters_clean
from audit.services import audit_record
from generation.models import ModelRole
from training.beat import periodic_task_sync
from training.models import ACTIVE_STATUSES, TrainingRun, TrainingSchedule
from training.services.runs import IMPLEMENTED_KINDS, POLICY_KINDS, hyperparameters_clean, training_run_create

logger = logging.getLogger(__name__)

TICK_TASK = "training.tasks.training_schedule_tick_task"


def periodic_task_name(schedule: TrainingSchedule) -> str:
    return f"training-schedule-{schedule.pk}"


def training_schedule_sync(*, schedule: TrainingSchedule) -> PeriodicTask:
    """Create or update the schedule's PeriodicTask to match the row."""
    return periodic_task_sync(schedule, name=periodic_task_name(schedule), task=TICK_TASK,
                              description=f"{schedule.kind} training for project {schedule.project.slug}")


def training_schedule_clean(schedule: TrainingSchedule) -> None:
    """The checks a run of the schedule's kind gets, made when the schedule is saved
    (not only when it fires): kind, hyper-parameters and starting model."""
    if schedule.kind not in IMPLEMENTED_KINDS:
        raise Invalid(f"must be one of {', '.join(IMPLEMENTED_KINDS)}", field="kind")
    if schedule.min_interval_hours < 0:
        raise Invalid("must be zero or more", field="min_interval_hours")
    if not schedule.check_every_minutes:
        raise Invalid("must be at least 1", field="check_every_minutes")
    # Stored as sent (defaults fill in when a run is created, from the code of that day).
    hyperparameters_clean(kind=schedule.kind, hyperparameters=schedule.hyperparameters)
    spec = schedule.base_model
    wanted = ModelRole.POLICY if schedule.kind in POLICY_KINDS else ModelRole.REWARD
    if spec is not None and spec.role != wanted:
        raise Invalid(f"model '{spec.name}' is a {spec.role} model; a {schedule.kind} schedule starts "
                      f"from a {wanted} model", field="base_model")
    filters_clean(schedule.filters)


@transaction.atomic
def training_schedule_save(*, schedule: TrainingSchedule, actor=None, via: str = "") -> TrainingSchedule:
    """Validate and save the row, then its PeriodicTask (one transaction, audited)."""
    created = schedule.pk is None
    training_schedule_clean(schedule)
    schedule.save()
    training_schedule_sync(schedule=schedule)
    audit_record(actor, "training_schedule.create" if created else "training_schedule.update",
                 schedule, project=schedule.project_id, kind=schedule.kind, enabled=schedule.enabled, via=via)
    return schedule


@transaction.atomic
def training_schedule_delete(*, schedule: TrainingSchedule, actor=None, via: str = "") -> None:
    target = ("training.trainingschedule", schedule.pk)
    project_id = schedule.project_id
    PeriodicTask.objects.filter(name=periodic_task_name(schedule)).delete()
    schedule.delete()
    audit_record(actor, "training_schedule.delete", target, project=project_id, via=via)


def snapshot_pairs(snapshot: DatasetSnapshot | None) -> int:
    return sum((snapshot.counts or {}).values()) if snapshot is not None else 0


def new_pairs_upper_bound(*, project: Project, since: datetime | None) -> int:
    """A cheap gate before building a snapshot: a new consensus pair needs a new
    label, and one label touches one item, which yields at most C(K, 2) pairs."""
    labels = Annotation.objects.filter(project=project, item__is_gold=False)
    if since is not None:
        labels = labels.filter(created_at__gt=since)
    return labels.count() * comb(project.num_responses, 2)


def training_schedule_tick(*, schedule_id: int, now: datetime | None = None) -> str:
    """Check one schedule; build a snapshot and queue a run when it is due.

    Returns what it did, also kept in ``last_message`` for the admin.
    """
    now = now or timezone.now()
    schedule = (TrainingSchedule.objects.select_related("project", "base_model")
                .filter(pk=schedule_id).first())
    if schedule is None:
        return "no such schedule"
    message = _tick(schedule, now)
    TrainingSchedule.objects.filter(pk=schedule.pk).update(last_message=message[:300])
    logger.info("training schedule %s: %s", schedule.pk, message)
    return message


def _tick(schedule: TrainingSchedule, now: datetime) -> str:
    project: Project = schedule.project
    if not schedule.enabled:
        return "disabled"
    if schedule.last_triggered_at and now - schedule.last_triggered_at < timedelta(
            hours=schedule.min_interval_hours):
        return f"too soon: last run queued at {schedule.last_triggered_at:%Y-%m-%d %H:%M} UTC"
    runs = TrainingRun.objects.filter(project=project, kind=schedule.kind)
    if runs.filter(status__in=ACTIVE_STATUSES).exists():
        return "a run is already queued or running"
    last = runs.select_related("snapshot").order_by("-created_at", "-pk").first()
    since = last.snapshot.created_at if last else None
    baseline = snapshot_pairs(last.snapshot if last else None)

    bound = new_pairs_upper_bound(project=project, since=since)
    if bound < schedule.min_new_pairs:
        return f"at most {bound} new pairs since the last run (< {schedule.min_new_pairs})"

    # One tick at a time: two beat deliveries of the same tick race on this
    # compare-and-set of last_checked_at; only one builds a snapshot.
    if not TrainingSchedule.objects.filter(pk=schedule.pk, last_checked_at=schedule.last_checked_at).update(
            last_checked_at=now):
        return "another check of this schedule is in progress"

    snapshot = dataset_snapshot_build(project=project, filters=schedule.filters)
    new_pairs = snapshot_pairs(snapshot) - baseline
    if new_pairs < schedule.min_new_pairs:
        # Built only to count: nothing refers to it, and keeping one per check
        # would pile up copies of the project's pairs.
        snapshot.delete()
        return f"{new_pairs} new consensus pairs since the last run (< {schedule.min_new_pairs})"

    run = training_run_create(
        project=project, kind=schedule.kind, snapshot=snapshot, schedule=schedule,
        base_model=schedule.base_model.name if schedule.base_model else None,
        hyperparameters=schedule.hyperparameters, via="schedule")
    TrainingSchedule.objects.filter(pk=schedule.pk).update(last_triggered_at=now)
    return f"queued run {run.pk} on snapshot v{snapshot.version} ({new_pairs} new pairs)"
