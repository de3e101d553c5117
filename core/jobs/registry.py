"""The job kinds: each app registers its own (in its AppConfig.ready), and the
redelivery sweep and the watchdogs read them here instead of a hand list."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.apps import apps
from django.db import models

from core.jobs.models import JobStatus
from core.jobs.sending import task_send


@dataclass(frozen=True)
class JobKind:
    """One kind of durable job.

    ``model`` is ``"app_label.ModelName"`` and ``task`` the registered name of
    the Celery task that takes the row's id (both resolved when used, so
    registering imports nothing, and a service sends its own tasks module's
    task without importing it). ``queue`` empty: the task's route in
    ``CELERY_TASK_ROUTES``. ``pending_status``: the status of a row that waits
    for its task (``queued`` for jobs; a snapshot waits ``building``).
    ``redeliver``: whether the redelivery sweep re-sends rows left pending (a
    kind that is never queued, such as a loop round, has its own sweep).
    """

    name: str
    model: str
    task: str
    queue: str = ""
    pending_status: str = JobStatus.QUEUED
    redeliver: bool = True

    def model_class(self) -> type[models.Model]:
        return apps.get_model(self.model)

    def send(self, pk: int, *, on_commit: bool = False) -> None:
        """Send the row's task. A duplicate is harmless: the claim is a
        compare-and-set, so of two deliveries one finds nothing to take."""
        # No explicit queue: the task's route (CELERY_TASK_ROUTES) decides, as
        # ``delay()`` did, so a deployment's or a test's own routes apply.
        # On commit: a rolled-back request or requeue sends nothing, and the
        # worker never looks for a row state that is not committed yet.
        task_send(self.task, pk, on_commit=on_commit)

    def pending_before(self, *, cutoff: datetime) -> list[int]:
        """Rows still waiting for a worker since before ``cutoff``."""
        return list(self.model_class()._default_manager
                    .filter(status=self.pending_status, created_at__lt=cutoff)
                    .order_by("pk").values_list("pk", flat=True))


_KINDS: dict[str, JobKind] = {}


def job_kind_register(kind: JobKind) -> JobKind:
    """Register a kind; registering another kind under a taken name raises
    (re-registering the same one, as a second ``ready()`` does, is a no-op)."""
    known = _KINDS.get(kind.name)
    if known is not None and known != kind:
        raise ValueError(f"job kind {kind.name!r} is already registered as {known}")
    _KINDS[kind.name] = kind
    return kind


def job_kind(name: str) -> JobKind:
    try:
        return _KINDS[name]
    except KeyError:
        raise LookupError(f"unknown job kind {name!r}; known: {', '.join(sorted(_KINDS))}") from None


def job_kinds() -> Iterator[JobKind]:
    return iter(list(_KINDS.values()))


def job_send(kind: JobKind, pk: int) -> None:
    """Send one row's task (the redelivery sweep's one side effect; tests replace it)."""
    kind.send(pk)
