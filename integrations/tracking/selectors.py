"""Reads for the training page: each run's tracked runs (links and errors)."""

from collections import defaultdict

from integrations.models import TrackedRun


def tracked_runs_by_run(*, run_ids: list[int]) -> dict[int, list[TrackedRun]]:
    """The TrackedRun rows of the given training runs (already permission-checked
    by the caller, which read the runs through their project), in one query."""
    found: dict[int, list[TrackedRun]] = defaultdict(list)
    for row in TrackedRun.objects.filter(training_run_id__in=run_ids).order_by("backend"):
        found[row.training_run_id].append(row)
    return dict(found)


def tracked_runs_by_round(*, round_ids: list[int]) -> dict[int, list[TrackedRun]]:
    found: dict[int, list[TrackedRun]] = defaultdict(list)
    for row in TrackedRun.objects.filter(loop_round_id__in=round_ids).order_by("backend"):
        found[row.loop_round_id].append(row)
    return dict(found)
