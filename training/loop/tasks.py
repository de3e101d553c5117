"""Celery tasks of the training loop: thin. The round row owns its progress;
a duplicate delivery finds the round claimed (or finished) and returns.

``loop_round_advance_task`` trains inside the task, so it is routed to the
training queue like ``training_run_task`` (settings.CELERY_TASK_ROUTES).

The task names keep the module path they were first registered under
(``training.loop_tasks``), so queued messages and beat entries still resolve.
"""

from celery import shared_task
from django.conf import settings

from training.loop.services import loop_round_advance, loop_rounds_resume_stale, loop_tick


@shared_task(bind=True, name="training.loop_tasks.loop_round_advance_task", acks_late=True,
             soft_time_limit=settings.PALATE_TRAINING_SOFT_TIME_LIMIT,
             time_limit=settings.PALATE_TRAINING_TIME_LIMIT)
def loop_round_advance_task(self, round_id: int) -> str | None:
    rnd = loop_round_advance(round_id=round_id, worker_id=self.request.hostname or "")
    return f"{rnd.status}/{rnd.stage}" if rnd is not None else None


@shared_task(name="training.loop_tasks.loop_tick_task")
def loop_tick_task(setting_id: int) -> str:
    """Periodic (one django-celery-beat PeriodicTask per LoopSetting)."""
    return loop_tick(setting_id=setting_id)


@shared_task(name="training.loop_tasks.loop_rounds_resume_stale_task")
def loop_rounds_resume_stale_task() -> list[int]:
    """Periodic (beat): send rounds whose worker died back to a worker."""
    return loop_rounds_resume_stale()
