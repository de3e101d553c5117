"""Celery tasks: thin. The run row owns status; a duplicate delivery finds
nothing to claim and returns.

``training_run_task`` is routed to the training queue (``gpu`` by default,
settings.CELERY_TASK_ROUTES), served by

    celery -A config worker -Q gpu --pool solo --concurrency 1

one run per GPU; any number of hosts may consume that queue from one broker.
Late acks and prefetch 1 are global settings. Celery enforces the time limits
below only on prefork workers; under ``--pool solo`` the trainer checks the
soft limit itself and the watchdog fails a run past the hard one.
"""

from celery import shared_task
from django.conf import settings

from annotation.errors import Conflict
from annotation.models import Project
from training.active_learning import items_prioritize
from training.loop import tasks as loop_tasks  # noqa: F401  (registers the loop's tasks with Celery)
from training.services.runs import training_run_execute, training_runs_requeue_stale
from training.services.schedules import training_schedule_tick


@shared_task(bind=True, name="training.tasks.training_run_task", acks_late=True,
             soft_time_limit=settings.PALATE_TRAINING_SOFT_TIME_LIMIT,
             time_limit=settings.PALATE_TRAINING_TIME_LIMIT)
def training_run_task(self, run_id: int) -> str | None:
    run = training_run_execute(run_id=run_id, worker_id=self.request.hostname or "")
    return run.status if run is not None else None


@shared_task(name="training.tasks.training_runs_requeue_stale_task")
def training_runs_requeue_stale_task() -> dict:
    """Periodic (beat): requeue runs whose worker stopped heartbeating."""
    return training_runs_requeue_stale()


@shared_task(name="training.tasks.training_schedule_tick_task")
def training_schedule_tick_task(schedule_id: int) -> str:
    """Periodic (one django-celery-beat PeriodicTask per TrainingSchedule)."""
    return training_schedule_tick(schedule_id=schedule_id)


@shared_task(name="training.tasks.active_learning_prioritize_task")
def active_learning_prioritize_task(project_id: int, limit: int | None = None) -> dict:
    """Active learning for one project (training/active_learning.py). To run it
    after reward runs, add a django-celery-beat PeriodicTask for it in the admin
    (args ``[project_id]``); priorities only rise, so repeating it is harmless."""
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return {"error": "no such project"}
    try:
        result = items_prioritize(project=project, limit=limit)
    except Conflict as error:  # no active reward model yet: nothing to do until one is trained
        return {"error": str(error)}
    return {"model": result.model, "scored": result.scored, "raised": result.raised}

