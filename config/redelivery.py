"""Redelivery: the database re-sends what the broker forgot.

A training run, generation job, dataset export or snapshot build is a row first
and a broker message second. Redis here keeps nothing on disk, so a Redis restart drops every
message that no worker had taken yet, and the rows would stay ``queued`` forever.
This periodic sweep (beat entry ``requeue-forgotten-jobs``) sends the task again
for every row still queued ``PALATE_REDELIVERY_AFTER_SECONDS`` after it was
created. Sending twice is harmless: each app claims its row with a
compare-and-set from ``queued`` (training_run_claim, generation_job_run,
dataset_export_run), and a snapshot is built in one transaction under its row
lock (dataset_snapshot_fill), so of two deliveries exactly one does the work and
the other returns.

The broker cannot be asked whether it still holds a message, so a row that is
only waiting its turn behind a long job is re-sent too. To keep such duplicates
few, a row is re-sent at most once per threshold (a cache key with that
timeout); the cache is only an economy, never needed for correctness.
"""

from collections.abc import Callable
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from annotation.services.datasets import dataset_snapshot_send, dataset_snapshots_building_before
from annotation.services.exports import dataset_export_send, dataset_exports_queued_before
from generation.services.jobs import generation_job_send, generation_jobs_queued_before
from training.services.runs import training_run_send, training_runs_queued_before

# name -> (ids queued since before a cutoff, send one id)
SOURCES: dict[str, tuple[Callable[..., list[int]], Callable[[int], None]]] = {
    "training_runs": (training_runs_queued_before, lambda pk: training_run_send(run_id=pk)),
    "generation_jobs": (generation_jobs_queued_before, lambda pk: generation_job_send(job_id=pk)),
    "exports": (dataset_exports_queued_before, lambda pk: dataset_export_send(export_id=pk)),
    "snapshots": (dataset_snapshots_building_before, lambda pk: dataset_snapshot_send(snapshot_id=pk)),
}


def requeue_forgotten(*, now: datetime | None = None, after: timedelta | None = None) -> dict[str, int]:
    """Re-send the task of every row queued since before ``now - after``; returns how
    many were sent per kind."""
    now = now or timezone.now()
    if after is None:  # not `or`: a zero timedelta is falsy
        after = timedelta(seconds=settings.PALATE_REDELIVERY_AFTER_SECONDS)
    sent = {}
    for name, (queued_before, send) in SOURCES.items():
        sent[name] = 0
        for pk in queued_before(cutoff=now - after):
            # cache.add is false while the key lives: at most one re-send per threshold.
            if cache.add(f"palate:redelivered:{name}:{pk}", 1, timeout=max(1, int(after.total_seconds()))):
                send(pk)
                sent[name] += 1
    return sent


@shared_task(name="config.redelivery.requeue_forgotten_task")
def requeue_forgotten_task() -> dict[str, int]:
    """Periodic (beat): re-send queued work the broker may have lost."""
    return requeue_forgotten()
