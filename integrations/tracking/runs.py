"""A training run, tracked: the observer that training.observers hands each run to.

At the start: the run's parameters (hyper-parameters, backbone, resources), its
tags, and the snapshot as the dataset input (name, version, content hash,
counts). Each logged point: ``train/<metric>`` or ``eval/<metric>`` at its step.
At the end: the final evaluation (``final/<metric>``), the model folder as the
``model`` artifact of a succeeded run, and the terminal status.

Every tracker call is guarded: the first error of a tracker is written to its
``TrackedRun`` row and that tracker is dropped for the rest of the attempt, so
a tracking server that is down costs one timeout, not one per step.
"""

from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings

from integrations.tracking.backends import DatasetInput, TrackedRunSpec, tracker_build, trackers_enabled
from integrations.tracking.flatten import metrics_flatten, params_flatten
from integrations.tracking.records import tracked_run_existing_id, tracked_run_record
from training.models import RunStatus, TrainingRun

logger = logging.getLogger(__name__)

TERMINAL = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)


def experiment_name(project) -> str:
    return f"{settings.PALATE_MLFLOW_EXPERIMENT_PREFIX}{project.slug}"


def snapshot_dataset(snapshot) -> DatasetInput:
    """A dataset snapshot as a tracker's dataset input: its content hash is the digest."""
    return DatasetInput(
        name=f"{snapshot.project.slug}-snapshot-v{snapshot.version}", digest=snapshot.content_hash,
        source={"project": snapshot.project.slug, "snapshot_id": snapshot.pk, "version": snapshot.version,
                "content_hash": snapshot.content_hash},
        profile={"counts": snapshot.counts or {}, "filters": snapshot.filters or {}})


def run_spec(run: TrainingRun, *, existing_id: str) -> TrackedRunSpec:
    params = params_flatten(run.hyperparameters or {})
    params.update(params_flatten({
        "kind": run.kind, "base_model": run.base_model.name, "project": run.project.slug,
        "snapshot": {"id": run.snapshot_id, "version": run.snapshot.version,
                     "content_hash": run.snapshot.content_hash},
        "resources": run.resources or {}}, prefix="palate."))
    return TrackedRunSpec(
        key=f"training-run-{run.pk}", name=f"{run.project.slug} {run.kind} run {run.pk}",
        experiment=experiment_name(run.project), job_type=run.kind, params=params, existing_id=existing_id,
        tags={"palate.project": run.project.slug, "palate.training_run": str(run.pk),
              "palate.kind": run.kind, "palate.attempt": str(run.attempt)})


class RunTracking:
    """The trackers of one attempt of one run (a training.observers.RunObserver)."""

    def __init__(self, run: TrainingRun, names: list[str]):
        self.run = run
        self.pending = list(names)  # not opened yet
        self.open: dict[str, object] = {}

    def _failed(self, name: str, error: Exception) -> None:
        logger.warning("tracking run %s in %s failed: %s", self.run.pk, name, error, exc_info=True)
        self.open.pop(name, None)
        if name in self.pending:
            self.pending.remove(name)
        try:
            tracked_run_record(backend=name, training_run_id=self.run.pk,
                               error=f"{type(error).__name__}: {error}"[:5000])
        except Exception:  # the database too: nothing more to do than the log line
            logger.exception("recording the tracking error of run %s failed", self.run.pk)

    def _open_all(self) -> None:
        for name in list(self.pending):
            self.pending.remove(name)
            try:
                tracker = tracker_build(name)
                existing = tracked_run_existing_id(backend=name, training_run_id=self.run.pk)
                external_id, location = tracker.start(run_spec(self.run, existing_id=existing))
                if not existing:
                    tracker.log_dataset(snapshot_dataset(self.run.snapshot), context="train")
                tracked_run_record(backend=name, training_run_id=self.run.pk, external_id=external_id,
                                   location=location[:2000], finished=False, error="")
                self.open[name] = tracker
            except Exception as error:
                self._failed(name, error)

    def _each(self, call) -> None:
        for name, tracker in list(self.open.items()):
            try:
                call(tracker)
            except Exception as error:
                self._failed(name, error)

    def on_start(self, *, total_steps: int, start_step: int, device: str) -> None:
        self._open_all()

    def on_log(self, *, step: int, split: str, values: dict) -> None:
        metrics = metrics_flatten(values, prefix=f"{split}/")
        if metrics:
            self._each(lambda tracker: tracker.log_metrics(step=step, metrics=metrics))

    def on_finish(self, *, model_dir: Path | None) -> None:
        self.run.refresh_from_db()
        status = self.run.status if self.run.status in TERMINAL else None
        if status is not None:
            self._open_all()  # a run that failed before its first step is tracked too
        final = metrics_flatten(self.run.results or {}, prefix="final/")
        log_model = model_dir is not None and settings.PALATE_TRACKING_LOG_MODEL and Path(model_dir).is_dir()

        def finish(tracker) -> None:
            if final and status == RunStatus.SUCCEEDED:
                tracker.log_metrics(step=self.run.step, metrics=final)
            if log_model and status == RunStatus.SUCCEEDED:
                tracker.log_artifacts(path=Path(model_dir), name="model")
            tracker.finish(status=status)

        for name, tracker in list(self.open.items()):
            try:
                finish(tracker)
                if status is not None:
                    tracked_run_record(backend=name, training_run_id=self.run.pk, finished=True)
            except Exception as error:
                self._failed(name, error)
        self.open.clear()


def run_tracking_for(run: TrainingRun) -> RunTracking | None:
    """The factory registered with training.observers: None when no tracker is on."""
    names = trackers_enabled()
    return RunTracking(run, names) if names else None
