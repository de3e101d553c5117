"""Large uploads imported by a Celery task, with their progress on the row.

The web process stores the file under ``PALATE_UPLOADS_DIR`` (shared with
the workers) and queues an UploadJob; the worker claims it (core.jobs),
imports it with the same upload service as the synchronous path — in one
transaction, so all or nothing — and writes the rows done as it goes through
a connection of its own (visible while the import's transaction is open).
The job's final status commits in the import's own transaction, fenced by
its attempt: a worker that lost the job (requeued by the watchdog, claimed
again) rolls its import back instead of committing it twice.
"""

import logging
import os
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from annotation.errors import DomainError, Invalid
from annotation.models import Project, UploadJob
from annotation.services.uploads import upload_import, upload_kind
from audit.services import audit_record
from core.jobs.fencing import (
    job_claim,
    job_mine,
    job_progress_outside,
    job_side_connection_close,
    jobs_requeue_stale,
)
from core.jobs.models import JobStatus
from core.jobs.registry import job_kind

logger = logging.getLogger(__name__)


class _Lost(Exception):
    """The job is no longer this attempt's: roll the import back."""


def uploads_dir() -> Path:
    return Path(settings.PALATE_UPLOADS_DIR)


def upload_is_large(size: int) -> bool:
    """Files above the threshold are imported by a worker, not in the request."""
    return size > settings.PALATE_UPLOAD_ASYNC_BYTES


def upload_job_request(*, project: Project, upload: UploadedFile, suffix: str, kind: str, actor,
                       allow_gold: bool, fmt: str = "auto", relabel: bool = False,
                       dry_run: bool = False) -> UploadJob:
    """Store the file and queue its import (the task is sent once the row commits)."""
    chosen = upload_kind(kind)
    if suffix not in chosen.suffixes:
        raise Invalid(f"{chosen.label.lower()} are read from {', '.join(chosen.suffixes)} files",
                      field="file")
    folder = uploads_dir()
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{project.pk}-{uuid.uuid4().hex}{suffix}"
    partial = folder / f".{name}.part"
    with partial.open("wb") as handle:
        for chunk in upload.chunks():
            handle.write(chunk)
    os.replace(partial, folder / name)  # a worker never sees half a file
    try:
        with transaction.atomic():
            job = UploadJob.objects.create(
                project=project, kind=kind, format=fmt, relabel=relabel, allow_gold=allow_gold,
                dry_run=dry_run, file=name, file_name=(upload.name or "")[:255], size_bytes=upload.size or 0,
                created_by=actor)
            audit_record(actor, "upload.queue", job, project=project, kind=kind, dry_run=dry_run,
                         size_bytes=upload.size)
            job_kind("uploads").send(job.pk, on_commit=True)
    except BaseException:
        (folder / name).unlink(missing_ok=True)
        raise
    return job


def upload_job_run(*, job_id: int) -> UploadJob | None:
    """Claim and import a queued upload. None when there was nothing to claim
    (a duplicate delivery)."""
    if not job_claim(UploadJob, pk=job_id):
        return None
    job = UploadJob.objects.select_related("project", "created_by").get(pk=job_id)
    path = uploads_dir() / job.file

    def progress(done: int, total: int) -> None:
        # The side write finds no row when the job is no longer ours, or when the
        # claim itself is not committed yet (a caller's outer transaction): ask
        # this transaction, which sees both, before giving up.
        if not job_progress_outside(job, progress_rows=done, total_rows=total) and not job_mine(job).exists():
            raise _Lost

    try:
        with transaction.atomic():
            # A dry run rolls its import back inside (a savepoint); its status still commits.
            result = upload_import(
                project=job.project, path=path, kind=job.kind, actor=job.created_by,
                allow_gold=job.allow_gold, fmt=job.format, relabel=job.relabel, dry_run=job.dry_run,
                progress=progress)
            body = result.as_dict()
            if not job.dry_run:
                body["preview"] = []
            # The status commits with the rows: under our row lock, as our attempt.
            if job_mine(job).select_for_update().first() is None:
                raise _Lost
            job_mine(job).update(status=JobStatus.SUCCEEDED, result=body, progress_rows=result.rows,
                                 total_rows=result.rows, heartbeat_at=timezone.now(),
                                 finished_at=timezone.now())
    except _Lost:
        logger.info("upload %s: attempt %s superseded, its import rolled back", job.pk, job.attempt)
        return None
    except DomainError as error:
        # A bad line: nothing was written; the page shows where.
        job_mine(job).update(status=JobStatus.FAILED, error=error.message[:2000],
                             error_field=(error.field or "")[:200], error_line=error.line,
                             finished_at=timezone.now())
    except Exception as error:
        logger.exception("upload %s failed", job.pk)
        job_mine(job).update(status=JobStatus.FAILED, error=f"{type(error).__name__}: {error}"[:2000],
                             finished_at=timezone.now())
    finally:
        job_side_connection_close()
    job.refresh_from_db()
    if job.status != JobStatus.RUNNING:
        path.unlink(missing_ok=True)  # finished either way: the file has served
    return job


def upload_jobs_requeue_stale(*, now: datetime | None = None, stale_after: timedelta | None = None) -> int:
    """Periodic: requeue uploads whose worker stopped heartbeating (it died; its
    transaction died with it, so nothing of the import stayed)."""
    if stale_after is None:  # not `or`: a zero timedelta is falsy
        stale_after = timedelta(seconds=settings.PALATE_UPLOAD_STALE_SECONDS)
    return jobs_requeue_stale(kind="uploads", now=now, stale_after=stale_after)["requeued"]
