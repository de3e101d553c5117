"""Export jobs: a row owns the status; a Celery task writes the archive."""

import logging
import os
import shutil
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from annotation.datasets.writers import STYLES, export_row_count, export_write, writer_get
from annotation.errors import Invalid
from annotation.events import event_emit
from annotation.models import DatasetExport, DatasetSnapshot, ExportStatus, SnapshotStatus

logger = logging.getLogger(__name__)

PROGRESS_EVERY = 10_000


def dataset_export_request(*, snapshot: DatasetSnapshot, fmt: str, style: str = "conversational",
                           meta: bool = False, created_by=None) -> DatasetExport:
    writer_get(fmt)  # an unknown format is an Invalid naming the field
    if style not in STYLES:
        raise Invalid(f"must be one of {', '.join(STYLES)}", field="style")
    if snapshot.status == SnapshotStatus.FAILED:
        raise Invalid("the snapshot failed to build", field="snapshot")
    from annotation.tasks import dataset_export_run_task

    with transaction.atomic():
        export = DatasetExport.objects.create(snapshot=snapshot, format=fmt, style=style,
                                              meta=meta, created_by=created_by)
        # Queued only if the row commits: a rolled-back request queues nothing.
        dataset_export_run_task.delay_on_commit(export.pk)
    return export


def _zip_folder(folder: Path, target: Path) -> None:
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, arcname=str(path.relative_to(folder.parent)))
    os.replace(tmp, target)


def _attempt(export_id: int, started_at) -> QuerySet[DatasetExport]:
    """The row while it is still this attempt's: ``started_at`` is the fencing token
    (the claim sets it; a requeue and a new claim change it)."""
    return DatasetExport.objects.filter(pk=export_id, status=ExportStatus.RUNNING, started_at=started_at)


def dataset_export_run(*, export_id: int) -> DatasetExport | None:
    """Run a queued export once. Claimed by compare-and-set, so a task
    delivered twice finds nothing to do.

    Each attempt writes in a work folder of its own and publishes the archive under
    a lock on its row, as long as the row is still its attempt: an attempt requeued
    by the watchdog (its worker died, or was only slow) can neither overwrite nor
    publish over the attempt that replaced it, so one export yields one file."""
    started_at = timezone.now()
    claimed = DatasetExport.objects.filter(pk=export_id, status=ExportStatus.QUEUED).update(
        status=ExportStatus.RUNNING, started_at=started_at)
    if not claimed:
        return None
    mine = _attempt(export_id, started_at)
    export = DatasetExport.objects.select_related("snapshot__project").get(pk=export_id)
    snapshot = export.snapshot
    if snapshot.status != SnapshotStatus.READY:
        # The snapshot is still being built by another task: wait for it.
        from annotation.services.datasets import dataset_snapshot_fill

        snapshot = dataset_snapshot_fill(snapshot=snapshot)
    base = Path(settings.EXPORTS_DIR) / snapshot.project.slug
    name = f"{snapshot.project.slug}-v{snapshot.version}-{export.format}-{export.pk}"
    work = base / f".work-{export.pk}-{started_at.timestamp():.6f}"
    folder = work / name
    archive = base / f"{name}.zip"
    try:
        mine.update(total_rows=export_row_count(snapshot=snapshot, fmt=export.format))

        def progress(rows: int) -> None:
            if rows % PROGRESS_EVERY == 0:
                mine.update(progress_rows=rows)

        manifest = export_write(snapshot=snapshot, fmt=export.format, out=folder, style=export.style,
                                meta=export.meta, overwrite=True, progress=progress)
        packed = work / f"{name}.zip"
        _zip_folder(folder, packed)
        with transaction.atomic():
            if mine.select_for_update().first() is None:
                logger.info("export %s: attempt of %s superseded, archive not published",
                            export_id, started_at)
                return None
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
    except Exception as error:
        mine.update(status=ExportStatus.FAILED, error=str(error)[:2000], finished_at=timezone.now())
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    export.refresh_from_db()
    return export


def dataset_exports_requeue_stale(*, now: datetime | None = None,
                                  stale_after: timedelta | None = None) -> int:
    """Periodic: requeue exports running for longer than ``stale_after`` (their worker
    died: exports have no heartbeat, so the threshold must exceed the longest export).
    The old attempt, if it was only slow, is fenced off by its ``started_at``."""
    from annotation.tasks import dataset_export_run_task

    now = now or timezone.now()
    if stale_after is None:  # not `or`: a zero timedelta is falsy
        stale_after = timedelta(seconds=settings.PALATE_EXPORT_STALE_SECONDS)
    count = 0
    for pk, started_at in DatasetExport.objects.filter(
            status=ExportStatus.RUNNING, started_at__lt=now - stale_after).values_list("pk", "started_at"):
        with transaction.atomic():
            if _attempt(pk, started_at).update(status=ExportStatus.QUEUED,
                                               error=f"requeued: running since {started_at:%H:%M:%S} UTC"):
                dataset_export_run_task.delay_on_commit(pk)
                count += 1
    return count


def dataset_exports_queued_before(*, cutoff: datetime) -> list[int]:
    """Exports still waiting for a worker since before ``cutoff`` (for the redelivery
    sweep, config/redelivery.py, which re-sends their task)."""
    return list(DatasetExport.objects.filter(status=ExportStatus.QUEUED, created_at__lt=cutoff)
                .order_by("pk").values_list("pk", flat=True))


def dataset_export_send(*, export_id: int) -> None:
    from annotation.tasks import dataset_export_run_task

    dataset_export_run_task.delay(export_id)


def export_archive_path(export: DatasetExport) -> Path | None:
    if export.status != ExportStatus.SUCCEEDED or not export.archive:
        return None
    root = Path(settings.EXPORTS_DIR).resolve()
    path = (root / export.archive).resolve()
    # The stored path is ours, but never serve anything outside the exports root.
    if root not in path.parents or not path.is_file():
        return None
    return path
