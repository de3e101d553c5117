"""A running generation job's claim: heartbeat and progress under the fencing
token. Its own module because both runners use it: the generation run
(generation.services.jobs) and the labeling run (generation.services.labeling),
which the jobs module dispatches to."""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import F

from core.jobs.fencing import job_heartbeat as fenced_heartbeat
from generation.models import GenerationJob


class JobStopped(Exception):
    """The run lost its claim (cancelled, or requeued and claimed again)."""


ProgressCallback = Callable[[GenerationJob], None]


def job_heartbeat(job: GenerationJob) -> None:
    if not fenced_heartbeat(job):
        raise JobStopped


def job_progress(job: GenerationJob, **increments: int) -> None:
    """Add to the counters, only while the run still holds its claim; inside the
    caller's transaction, so a lost claim rolls back that unit of work."""
    if not fenced_heartbeat(job, **{name: F(name) + value for name, value in increments.items()}):
        raise JobStopped
