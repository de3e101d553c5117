"""The beat side of the per-project schedules (training schedules, loop settings):
each row owns one django-celery-beat PeriodicTask that ticks it."""

import json

from django_celery_beat.models import IntervalSchedule, PeriodicTask


def periodic_task_sync(row, *, name: str, task: str, description: str) -> PeriodicTask:
    """Create or update the PeriodicTask that calls ``task(row.pk)`` every
    ``row.check_every_minutes``, enabled as ``row.enabled``, and link it from
    ``row.periodic_task``."""
    interval, _ = IntervalSchedule.objects.get_or_create(
        every=max(1, row.check_every_minutes), period=IntervalSchedule.MINUTES)
    periodic, _ = PeriodicTask.objects.update_or_create(
        name=name,
        defaults={"task": task, "interval": interval, "args": json.dumps([row.pk]),
                  "enabled": row.enabled, "description": description})
    if row.periodic_task_id != periodic.pk:
        type(row).objects.filter(pk=row.pk).update(periodic_task=periodic)
        row.periodic_task = periodic
    return periodic
