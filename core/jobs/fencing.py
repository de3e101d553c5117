"""Claim, fenced writes, heartbeat and the watchdog, for any DurableJob model.

Every write after the claim goes through ``job_mine``: the row as long as it
is still ``running`` under the caller's attempt. A write that updates no row
means the job is no longer the caller's (cancelled, or requeued and claimed
again); the caller stops and writes nothing more.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.jobs.models import DurableJob, JobStatus
from core.jobs.registry import job_kind


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def job_claim(model: type[DurableJob], *, pk: int, worker_id: str = "", now: datetime | None = None,
              status: str = JobStatus.QUEUED, attempt: int | None = None, **fields) -> bool:
    """``status`` (queued by default) → running for this worker, bumping the
    attempt; ``attempt`` given: only if the row is still at that attempt (a
    running row taken over from a worker whose lease ran out). Compare-and-set:
    two deliveries race on this one UPDATE and exactly one sees a row updated.
    ``fields``: the kind's own columns to set in the same write."""
    now = now or timezone.now()
    rows = model._default_manager.filter(pk=pk, status=status)
    if attempt is not None:
        rows = rows.filter(attempt=attempt)
    return bool(rows.update(status=JobStatus.RUNNING, attempt=F("attempt") + 1, heartbeat_at=now,
                            started_at=Coalesce(F("started_at"), now),
                            worker_id=(worker_id or worker_identity())[:200], **fields))


def job_mine(job: DurableJob) -> QuerySet:
    """The row while it is still ``job``'s attempt: every fenced write goes through it."""
    return type(job)._default_manager.filter(pk=job.pk, status=JobStatus.RUNNING, attempt=job.attempt)


def job_heartbeat(job: DurableJob, **fields) -> bool:
    """Record that the worker is alive (with ``fields``, e.g. progress, in the
    same write); False when the job is no longer this attempt's."""
    return bool(job_mine(job).update(heartbeat_at=timezone.now(), **fields))


def job_progress_outside(job: DurableJob, **fields) -> bool:
    """``job_heartbeat`` through a database connection of its own.

    A job whose work is one long transaction (an all-or-nothing import) would
    show nothing until it commits: written from that transaction, its
    progress stays invisible to the page polling it, and its heartbeat to the
    watchdog. This write commits at once, beside it. SQLite lets one writer
    in at a time, so there the write would wait for the very transaction it
    reports on: it is skipped (the job's final write still records it all).
    """
    if connections[DEFAULT_DB_ALIAS].vendor == "sqlite":
        return True
    side = _side_connection()
    names = ["heartbeat_at", *fields]
    table = side.ops.quote_name(type(job)._meta.db_table)
    columns = ", ".join(f"{side.ops.quote_name(type(job)._meta.get_field(n).column)} = %s" for n in names)
    with side.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {columns} WHERE id = %s AND status = %s AND attempt = %s",  # noqa: S608 - names are the model's own
                       [timezone.now(), *fields.values(), job.pk, JobStatus.RUNNING, job.attempt])
        return cursor.rowcount == 1


_side = threading.local()


def _side_connection():
    """A second connection to the default database for this thread, in
    autocommit, made on first use (each thread has its own, as Django's)."""
    if getattr(_side, "connection", None) is None:
        _side.connection = connections.create_connection(DEFAULT_DB_ALIAS)
    return _side.connection


def job_side_connection_close() -> None:
    connection = getattr(_side, "connection", None)
    if connection is not None:
        connection.close()
        _side.connection = None


def _stale(cutoff: datetime) -> Q:
    # A row claimed before it had a heartbeat column has only started_at.
    return Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)


def jobs_requeue_stale(*, kind: str, stale_after: timedelta, now: datetime | None = None,
                       max_attempts: int | None = None, on_give_up: Callable[[int], None] | None = None,
                       **fields) -> dict[str, int]:
    """The watchdog: running jobs of ``kind`` not heard of for ``stale_after``
    (their worker died) go back to the queue and their task is sent again;
    after ``max_attempts`` claims they fail instead (``on_give_up(pk)`` runs
    in that transaction). ``fields``: the kind's own columns to reset.
    A worker that was only slow is fenced off by its attempt."""
    job_kind_ = job_kind(kind)
    model = job_kind_.model_class()
    now = now or timezone.now()
    stale = _stale(now - stale_after)
    counts = {"requeued": 0, "failed": 0}
    rows = list(model._default_manager.filter(stale, status=JobStatus.RUNNING).values_list(
        "pk", "attempt", "heartbeat_at", "started_at", "worker_id"))
    for pk, attempt, heartbeat_at, started_at, worker in rows:
        # The attempt and the staleness in the filter again: a job that
        # heartbeated (or was claimed again) since the read above keeps its claim.
        mine = model._default_manager.filter(stale, pk=pk, status=JobStatus.RUNNING, attempt=attempt)
        heard = heartbeat_at or started_at
        note = f"worker {worker or '?'} silent since {heard:%Y-%m-%d %H:%M:%S} UTC (attempt {attempt})"
        with transaction.atomic():
            if max_attempts is not None and attempt >= max_attempts:
                if mine.update(status=JobStatus.FAILED, finished_at=now,
                               error=f"gave up after {attempt} attempts: {note}", **fields):
                    counts["failed"] += 1
                    if on_give_up is not None:
                        on_give_up(pk)
            elif mine.update(status=JobStatus.QUEUED, worker_id="", error=f"requeued: {note}", **fields):
                job_kind_.send(pk, on_commit=True)
                counts["requeued"] += 1
    return counts
