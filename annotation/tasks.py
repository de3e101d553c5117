from celery import shared_task

from annotation.models import DatasetSnapshot, Project
from annotation.services.datasets import dataset_snapshot_fill
from annotation.services.exports import dataset_export_run, dataset_exports_requeue_stale
from annotation.services.quality_recompute import project_quality_recompute
from annotation.services.queue import leases_reclaim_expired
from annotation.services.upload_jobs import upload_job_run, upload_jobs_requeue_stale


@shared_task(name="annotation.tasks.leases_reclaim_expired_task")
def leases_reclaim_expired_task() -> int:
    """Periodic (beat): return the slots of leases that ran out."""
    return leases_reclaim_expired()


@shared_task(name="annotation.tasks.dataset_snapshot_fill_task")
def dataset_snapshot_fill_task(snapshot_id: int) -> None:
    snapshot = DatasetSnapshot.objects.filter(pk=snapshot_id).first()
    if snapshot is not None:
        dataset_snapshot_fill(snapshot=snapshot)


@shared_task(name="annotation.tasks.dataset_export_run_task")
def dataset_export_run_task(export_id: int) -> None:
    dataset_export_run(export_id=export_id)


@shared_task(name="annotation.tasks.dataset_exports_requeue_stale_task")
def dataset_exports_requeue_stale_task() -> int:
    """Periodic (beat): requeue exports whose worker died mid-export."""
    return dataset_exports_requeue_stale()


@shared_task(name="annotation.tasks.project_quality_recompute_task")
def project_quality_recompute_task(project_id: int, method: str | None = None) -> None:
    """Consensus and dashboard figures of a project (debounced after submissions, or on demand)."""
    project = Project.objects.filter(pk=project_id).first()
    if project is not None:
        project_quality_recompute(project=project, method=method)


@shared_task(name="annotation.tasks.upload_job_run_task")
def upload_job_run_task(job_id: int) -> str | None:
    """Import a large upload (annotation/services/upload_jobs.py)."""
    job = upload_job_run(job_id=job_id)
    return job.status if job is not None else None


@shared_task(name="annotation.tasks.upload_jobs_requeue_stale_task")
def upload_jobs_requeue_stale_task() -> int:
    """Periodic (beat): requeue uploads whose worker died mid-import."""
    return upload_jobs_requeue_stale()
