"""Send a Celery task by its registered name.

A tasks module imports its services (the task is a thin wrapper), so a service
that imported its tasks module back to enqueue would be a load-time cycle.
Services send by name instead: through their ``JobKind`` (``core.jobs.registry``)
for a durable job, or through ``task_send`` for any other task.
"""

from __future__ import annotations

from typing import Any

from celery import Task, current_app
from django.db import transaction


def task_send(name: str, *args: Any, on_commit: bool = False, **options: Any) -> None:
    """Send the task registered as ``name`` with ``args``; ``options`` go to
    ``apply_async`` (``queue``, ``countdown``). ``on_commit``: only once the
    current transaction commits (a rolled-back request sends nothing, and the
    worker never looks for a row that is not committed yet)."""
    task = _registered(name)

    def send() -> None:
        # The registered task's own apply_async (what its signature calls), so
        # CELERY_TASK_ALWAYS_EAGER runs it inline (send_task would ignore it).
        task.apply_async(list(args), **options)

    if on_commit:
        transaction.on_commit(send)
    else:
        send()


def _registered(name: str) -> Task:
    app = current_app
    if name not in app.tasks:
        # A process that never imported the apps' tasks modules (the web
        # process: only the worker imports them at start) imports them now.
        app.autodiscover_tasks(force=True)
    if name not in app.tasks:
        raise LookupError(f"no Celery task is registered as {name!r}")
    return app.tasks[name]
