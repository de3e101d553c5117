"""Reads of training runs for the API and the pages."""

from pathlib import Path

from django.db.models import QuerySet

from annotation.models import Project
from generation.models import ModelSpec
from training.models import RunKind, RunStatus, TrainingMetric, TrainingRun

MAX_ARTIFACTS = 200


def training_run_list(*, project: Project, status: str | None = None) -> QuerySet[TrainingRun]:
    runs = TrainingRun.objects.filter(project=project).select_related(
        "snapshot", "base_model", "output_model", "created_by")
    if status in RunStatus.values:
        runs = runs.filter(status=status)
    return runs


def training_run_metrics(*, run: TrainingRun) -> dict[str, list[dict]]:
    """The run's time series per split, in step order: [{"step": s, **values}]."""
    series: dict[str, list[dict]] = {"train": [], "eval": []}
    rows = TrainingMetric.objects.filter(run=run).order_by("split", "step").values_list(
        "split", "step", "values")
    for split, step, values in rows:
        series.setdefault(split, []).append({"step": step, **values})
    return series


def training_run_artifacts(*, run: TrainingRun) -> list[dict]:
    """Files under the run's folder (model and checkpoints), relative paths and sizes."""
    root = Path(run.artifacts_dir) if run.artifacts_dir else None
    if root is None or not root.is_dir():
        return []
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(root).parts):
            found.append({"path": str(path.relative_to(root)), "bytes": path.stat().st_size})
            if len(found) >= MAX_ARTIFACTS:
                break
    return found


def reward_model_active(*, project: Project) -> ModelSpec | None:
    run = (TrainingRun.objects.select_related("output_model")
           .filter(project=project, kind=RunKind.REWARD, is_active=True).first())
    return run.output_model if run else None
