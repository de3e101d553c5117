"""Export jobs: a row owns the status; a Celery task writes the archive."""

import os
import shutil
import zipfile
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotation.datasets.writers import FORMATS, STYLES, export_write
from annotation.errors import Invalid
from annotation.models import DatasetExport, DatasetSnapshot, ExportStatus, SnapshotStatus

PROGRESS_EVERY = 10_000


def dataset_export_request(*, snapshot: DatasetSnapshot, fmt: str, style: str = "conversational",
                           meta: bool = False, created_by=None) -> DatasetExport:
    if fmt not in FORMATS:
        raise Invalid(f"must be one of {', '.join(FORMATS)}", field="format")
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


def dataset_export_run(*, export_id: int) -> DatasetExport | None:
    """Run a queued export once. Claimed by compare-and-set, so a task
    delivered twice finds nothing to do."""
    claimed = DatasetExport.objects.filter(pk=export_id, status=ExportStatus.QUEUED).update(
        status=ExportStatus.RUNNING, started_at=timezone.now())
    if not claimed:
        return None
    export = DatasetExport.objects.select_related("snapshot__project").get(pk=export_id)
    snapshot = export.snapshot
    if snapshot.status != SnapshotStatus.READY:
        # The snapshot is still being built by another task: wait for it.
        from annotation.services.datasets import dataset_snapshot_fill

        snapshot = dataset_snapshot_fill(snapshot=snapshot)
    base = Path(settings.EXPORTS_DIR) / snapshot.project.slug
    name = f"{snapshot.project.slug}-v{snapshot.version}-{export.format}-{export.pk}"
    folder = base / name
    try:
        DatasetExport.objects.filter(pk=export.pk).update(
            total_rows=sum(snapshot.counts.values()))

        def progress(rows: int) -> None:
            if rows % PROGRESS_EVERY == 0:
                DatasetExport.objects.filter(pk=export.pk).update(progress_rows=rows)

        export_write(snapshot=snapshot, fmt=export.format, out=folder, style=export.style,
                     meta=export.meta, overwrite=True, progress=progress)
        archive = base / f"{name}.zip"
        _zip_folder(folder, archive)
        shutil.rmtree(folder, ignore_errors=True)
    except Exception as error:
        DatasetExport.objects.filter(pk=export.pk).update(
            status=ExportStatus.FAILED, error=str(error)[:2000], finished_at=timezone.now())
        raise
    DatasetExport.objects.filter(pk=export.pk).update(
        status=ExportStatus.SUCCEEDED, archive=str(archive.relative_to(settings.EXPORTS_DIR)),
        size_bytes=archive.stat().st_size, progress_rows=sum(snapshot.counts.values()),
        finished_at=timezone.now())
    export.refresh_from_db()
    return export


def export_archive_path(export: DatasetExport) -> Path | None:
    if export.status != ExportStatus.SUCCEEDED or not export.archive:
        return None
    root = Path(settings.EXPORTS_DIR).resolve()
    path = (root / export.archive).resolve()
    # The stored path is ours, but never serve anything outside the exports root.
    if root not in path.parents or not path.is_file():
        return None
    return path
