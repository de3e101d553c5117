"""Redelivery: the database re-sends what the broker forgot.

A training run, generation job, dataset export or snapshot build is a row first
and a broker message second. Redis here keeps nothing on disk, so a Redis restart drops every
message that no worker had taken yet, and the rows would stay ``queued`` forever.
This periodic sweep (beat entry ``requeue-forgotten-jobs``) sends the task again
for every row still queued ``PALATE_REDELIVERY_AFTER_SECONDS`` after it was
created, for every job kind the apps registered (``core.jobs.registry``).
Sending twice is harmless: each job is claimed with a compare-and-set from
``queued`` (``core.jobs.fencing.job_claim``), and a snapshot is built in one transaction under its row
lock (dataset_snapshot_fill), so of two deliveries exactly one does the work and
the other returns.

The broker cannot be asked whether it still holds a message, so a row that is
only waiting its turn behind a long job is re-sent too. To keep such duplicates
few, a row is re-sent at most once per threshold (a cache key with that
timeout); the cache is only an economy, never needed for correctness.
"""

from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from core.jobs.registry import job_kinds, job_send


def requeue_forgotten(*, now: datetime | None = None, after: timedelta | None = None) -> dict[str, int]:
    """Re-send the task of every row queued since before ``now - after``; returns how
    many were sent per kind."""
    now = now or timezone.now()
    if after is None:  # not `or`: a zero timedelta is falsy
        after = timedelta(seconds=settings.PALATE_REDELIVERY_AFTER_SECONDS)
    sent = {}
    for kind in job_kinds():  # every kind the apps registered (core.jobs.registry)
        if not kind.redeliver:
            continue
        sent[kind.name] = 0
        for pk in kind.pending_before(cutoff=now - after):
            # cache.add is false while the key lives: at most one re-send per threshold.
            key = f"palate:redelivered:{kind.name}:{pk}"
            if cache.add(key, 1, timeout=max(1, int(after.total_seconds()))):
                job_send(kind, pk)
                sent[kind.name] += 1
    return sent


@shared_task(name="config.redelivery.requeue_forgotten_task")
def requeue_forgotten_task() -> dict[str, int]:
    """Periodic (beat): re-send queued work the broker may have lost."""
    return requeue_forgotten()
