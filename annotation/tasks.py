from celery import shared_task

from annotation.services.queue import leases_reclaim_expired


@shared_task(name="annotation.tasks.leases_reclaim_expired_task")
def leases_reclaim_expired_task() -> int:
    """Periodic (beat): return the slots of leases that ran out."""
    return leases_reclaim_expired()


@shared_task(name="annotation.tasks.dataset_snapshot_fill_task")
def dataset_snapshot_fill_task(snapshot_id: int) -> None:
    from annotation.models import DatasetSnapshot
    from annotation.services.datasets import dataset_snapshot_fill

    snapshot = DatasetSnapshot.objects.filter(pk=snapshot_id).first()
    if snapshot is not None:
        dataset_snapshot_fill(snapshot=snapshot)


@shared_task(name="annotation.tasks.dataset_export_run_task")
def dataset_export_run_task(export_id: int) -> None:
    from annotation.services.exports import dataset_export_run

    dataset_export_run(export_id=export_id)
