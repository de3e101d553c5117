"""Export jobs: a row owns the status; a Celery task writes the archive."""

import logging
import os
import shutil
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotation.datasets.writers import STYLES, export_row_count, export_write, writer_get
from annotation.errors import Invalid
from annotation.events import event_emit
from annotation.models import DatasetExport, DatasetSnapshot, ExportStatus, SnapshotStatus
from annotation.services.datasets import dataset_snapshot_fill
from audit.services import audit_record
from core.jobs.fencing import job_claim, job_heartbeat, job_mine, jobs_requeue_stale
from core.jobs.registry import job_kind

logger = logging.getLogger(__name__)

PROGRESS_EVERY = 10_000


def dataset_export_request(*, snapshot: DatasetSnapshot, fmt: str, style: str = "conversational",
                           meta: bool = False, created_by=None) -> DatasetExport:
    writer_get(fmt)  # an unknown format is an Invalid naming the field
    if style not in STYLES:
        raise Invalid(f"must be one of {', '.join(STYLES)}", field="style")
    if snapshot.status == SnapshotStatus.FAILED:
        raise Invalid("the snapshot failed to build", field="snapshot")
    with transaction.atomic():
        export = DatasetExport.objects.create(snapshot=snapshot, format=fmt, style=style,
                                              meta=meta, created_by=created_by)
        audit_record(created_by, "export.request", export, project=snapshot.project_id,
                     snapshot_id=snapshot.pk, format=fmt)
        # Queued only if the row commits: a rolled-back request queues nothing.
        job_kind("exports").send(export.pk, on_commit=True)
    return export


def _zip_folder(folder: Path, target: Path) -> None:
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, arcname=str(path.relative_to(folder.parent)))
    os.replace(tmp, target)


class _Superseded(Exception):
    """The export is no longer this attempt's (requeued and claimed again)."""


def dataset_export_run(*, export_id: int) -> DatasetExport | None:
    """Run a queued export once. Claimed by compare-and-set, so a task
    delivered twice finds nothing to do.

    Each attempt writes in a work folder of its own and publishes the archive under
    a lock on its row, as long as the row is still its attempt (the fencing token
    of core.jobs): an attempt requeued by the watchdog (its worker died, or was
    only slow) can neither overwrite nor publish over the attempt that replaced
    it, so one export yields one file."""
    if not job_claim(DatasetExport, pk=export_id):
        return None
    export = DatasetExport.objects.select_related("snapshot__project").get(pk=export_id)
    mine = job_mine(export)
    snapshot = export.snapshot
    if snapshot.status != SnapshotStatus.READY:
        # The snapshot is still being built by another task: wait for it.
        snapshot = dataset_snapshot_fill(snapshot=snapshot)
    base = Path(settings.EXPORTS_DIR) / snapshot.project.slug
    name = f"{snapshot.project.slug}-v{snapshot.version}-{export.format}-{export.pk}"
    work = base / f".work-{export.pk}-{export.attempt}"
    folder = work / name
    archive = base / f"{name}.zip"
    try:
        mine.update(total_rows=export_row_count(snapshot=snapshot, fmt=export.format))

        def progress(rows: int) -> None:
            # Progress doubles as the heartbeat; a lost claim stops the writing early.
            if rows % PROGRESS_EVERY == 0 and not job_heartbeat(export, progress_rows=rows):
                raise _Superseded

        manifest = export_write(snapshot=snapshot, fmt=export.format, out=folder, style=export.style,
                                meta=export.meta, overwrite=True, progress=progress)
        if not job_heartbeat(export):
            raise _Superseded
        packed = work / f"{name}.zip"
        _zip_folder(folder, packed)
        with transaction.atomic():
            if mine.select_for_update().first() is None:
                raise _Superseded
            os.replace(packed, archive)
            # Work folders of earlier attempts whose worker died (kill -9 cleans nothing up).
            for stale in base.glob(f".work-{export.pk}-*"):
                if stale != work:
                    shutil.rmtree(stale, ignore_errors=True)
            mine.update(status=ExportStatus.SUCCEEDED, archive=str(archive.relative_to(settings.EXPORTS_DIR)),
                        size_bytes=archive.stat().st_size,
                        progress_rows=sum(manifest["rows"].values()),
                        finished_at=timezone.now())
            event_emit(project_id=snapshot.project_id, name="export.ready", data={
                "export_id": export.pk, "snapshot_id": snapshot.pk, "snapshot_version": snapshot.version,
                "content_hash": snapshot.content_hash, "format": export.format,
                "size_bytes": archive.stat().st_size,
                "download_path": f"/api/projects/{snapshot.project_id}/exports/{export.pk}/download/"})
    except _Superseded:
        logger.info("export %s: attempt %s superseded, archive not published", export_id, export.attempt)
        return None
    except Exception as error:
        mine.update(status=ExportStatus.FAILED, error=str(error)[:2000], finished_at=timezone.now())
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    export.refresh_from_db()
    return export


def dataset_exports_requeue_stale(*, now: datetime | None = None,
                                  stale_after: timedelta | None = None) -> int:
    """Periodic: requeue exports not heard of for ``stale_after`` (their worker
    died). The old attempt, if it was only slow, is fenced off by its attempt."""
    if stale_after is None:  # not `or`: a zero timedelta is falsy
        stale_after = timedelta(seconds=settings.PALATE_EXPORT_STALE_SECONDS)
    return jobs_requeue_stale(kind="exports", now=now, stale_after=stale_after)["requeued"]


def export_archive_path(export: DatasetExport) -> Path | None:
    if export.status != ExportStatus.SUCCEEDED or not export.archive:
        return None
    root = Path(settings.EXPORTS_DIR).resolve()
    path = (root / export.archive).resolve()
    # The stored path is ours, but never serve anything outside the exports root.
    if root not in path.parents or not path.is_file():
        return None
    return path
