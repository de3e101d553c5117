"""Recomputing a project's quality figures: debounced after submissions, or on demand.

Every submission asks for a recompute on commit; the ProjectQuality row's
``recompute_due_at`` is the debounce. A compare-and-set claims the right to
schedule: only the request that finds no recompute pending sets the due time
(now + the window) and queues the task with that countdown; everyone else in
the window sees a pending recompute and does nothing. So a burst of
submissions gives one recompute per window per project, on any number of web
processes, and a lost task only delays the next one by a window (the next
submission finds the due time passed and schedules again).
"""

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from annotation.models import Project, ProjectQuality
from annotation.services.consensus import consensus_method_clean, item_consensus_recompute
from annotation.services.quality import project_agreement_report
from annotation.services.quality_figures import (
    project_agreement_trend,
    project_health,
    project_model_leaderboard,
)
from audit.services import audit_record
from core.jobs.sending import task_send

logger = logging.getLogger(__name__)
# Sent by name (core.jobs.sending): annotation.tasks imports this module.
RECOMPUTE_TASK = "annotation.tasks.project_quality_recompute_task"

DEFAULT_DEBOUNCE_SECONDS = 60
REPORT_RESAMPLES = 200


def debounce_seconds() -> int:
    return int(getattr(settings, "PALATE_QUALITY_DEBOUNCE_SECONDS", DEFAULT_DEBOUNCE_SECONDS))


# (project id, created_at) of the projects whose ProjectQuality row this process
# has seen exist.
_rows_seen: set[tuple] = set()


def _state(project_id: int) -> ProjectQuality:
    # get_or_create retries the read when a concurrent request created the row first.
    return ProjectQuality.objects.get_or_create(project_id=project_id)[0]


def project_quality_schedule(*, project: Project) -> bool:
    """Queue a recompute ``debounce_seconds()`` from now unless one is pending.

    Returns whether this call scheduled it. The race: two web processes
    submitting at once both read "nothing pending"; the conditional UPDATE lets
    only one of them move the due time (the other's WHERE no longer matches
    once the first commits), so only one task is queued.
    """
    project_id = project.pk
    # A row goes only with its project, so once this process has seen it the hot
    # path (a submission) is the one UPDATE below, not a read of the row and its
    # JSON report. Keyed with created_at: SQLite may give a new project the id
    # of a deleted (or rolled-back) one.
    seen_key = (project_id, project.created_at)
    if seen_key not in _rows_seen:
        _state(project_id)
        _rows_seen.add(seen_key)
    now = timezone.now()
    window = debounce_seconds()
    claimed = ProjectQuality.objects.filter(project_id=project_id).filter(
        Q(recompute_due_at__isnull=True) | Q(recompute_due_at__lte=now),
    ).update(recompute_due_at=now + timedelta(seconds=window))
    if claimed:
        task_send(RECOMPUTE_TASK, project_id, countdown=window)
    return bool(claimed)


def project_quality_schedule_on_commit(*, project: Project) -> None:
    """Called inside a submission's transaction: schedule once it commits.

    ``robust``: the annotation is already committed by then, so a broker
    outage must not turn the labeler's successful submit into an error; the
    next submission schedules again.
    """
    transaction.on_commit(lambda: project_quality_schedule(project=project), robust=True)


def project_quality_recompute(*, project: Project, method: str | None = None,
                              n_resamples: int = REPORT_RESAMPLES) -> ProjectQuality:
    """Recompute the stored consensus and the dashboard figures of ``project`` now,
    with ``method`` or else the project's default consensus (the one snapshots use)."""
    state = _state(project.pk)
    method = consensus_method_clean(project, method)
    started, clock = timezone.now(), time.monotonic()
    consensus = item_consensus_recompute(project=project, method=method)
    report = project_agreement_report(project=project, n_resamples=n_resamples)
    report["consensus"] = consensus
    report["health"] = project_health(project=project, report=report)
    report["trend"] = project_agreement_trend(project=project)
    report["leaderboard"] = project_model_leaderboard(project=project)
    duration = int((time.monotonic() - clock) * 1000)
    # computed_at is when the figures' data was read, not when they were saved.
    ProjectQuality.objects.filter(pk=state.pk).update(
        method=method, report=report, computed_at=started, duration_ms=duration, runs=F("runs") + 1)
    state.refresh_from_db()
    logger.info("quality of project %s recomputed in %d ms", project.pk, duration)
    return state


def project_quality_request(*, project: Project, method: str | None = None,
                            actor=None) -> ProjectQuality:
    """On demand (the dashboard's button, the API): recompute on a worker, now.

    A ``method`` chosen here becomes the project's default consensus (audited),
    so the stored consensus, the next debounced recompute and new snapshots all
    use it: one default, not one per screen.
    """
    method = consensus_method_clean(project, method)
    with transaction.atomic():
        if method != consensus_method_clean(project, None):
            previous = project.consensus_method
            Project.objects.filter(pk=project.pk).update(consensus_method=method)
            project.consensus_method = method
            audit_record(actor, "project.consensus_method", project, previous=previous, method=method)
        state = _state(project.pk)
        task_send(RECOMPUTE_TASK, project.pk, method, on_commit=True)
    return state


def project_quality_current(*, project: Project) -> ProjectQuality:
    """The stored figures; computed here first if the project never had any."""
    state = _state(project.pk)
    if state.computed_at is None:
        state = project_quality_recompute(project=project)
    return state
