from celery import shared_task

from annotation.services.queue import leases_reclaim_expired


@shared_task(name="annotation.tasks.leases_reclaim_expired_task")
def leases_reclaim_expired_task() -> int:
    """Periodic (beat): return the slots of leases that ran out."""
    return leases_reclaim_expired()
