"""The ``TrackedRun`` rows: where each tracker keeps a run, and its last error."""

from __future__ import annotations

import logging

from integrations.models import TrackedRun

logger = logging.getLogger(__name__)


def _target(*, training_run_id: int | None, loop_round_id: int | None) -> dict:
    return {"training_run_id": training_run_id, "loop_round_id": loop_round_id}


def tracked_run_existing_id(*, backend: str, training_run_id: int | None = None,
                            loop_round_id: int | None = None) -> str:
    row = TrackedRun.objects.filter(backend=backend, **_target(
        training_run_id=training_run_id, loop_round_id=loop_round_id)).first()
    return row.external_id if row else ""


def tracked_run_record(*, backend: str, training_run_id: int | None = None, loop_round_id: int | None = None,
                       **fields) -> None:
    """Create or update the row of (target, backend). Fields: external_id, location,
    finished, error. A second writer of the same row (the unique constraint) updates it."""
    TrackedRun.objects.update_or_create(
        backend=backend, **_target(training_run_id=training_run_id, loop_round_id=loop_round_id),
        defaults=fields)
