"""Celery tasks: thin. The job row owns status; a duplicate delivery finds
nothing to claim and returns."""

from celery import shared_task

from generation.services.jobs import generation_job_run, generation_jobs_requeue_stale


@shared_task(name="generation.tasks.generation_job_run_task")
def generation_job_run_task(job_id: int) -> str | None:
    """Routed to the `generation` queue (settings.CELERY_TASK_ROUTES)."""
    job = generation_job_run(job_id=job_id)
    return job.status if job is not None else None


@shared_task(name="generation.tasks.generation_jobs_requeue_stale_task")
def generation_jobs_requeue_stale_task() -> int:
    """Periodic (beat): requeue running jobs whose worker stopped heartbeating."""
    return generation_jobs_requeue_stale()
