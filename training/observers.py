"""Observers of training runs: other apps watch a run without training knowing them.

Experiment tracking (integrations/tracking) registers a factory here when its
app is ready; the run's hooks (training.services.runs.RunHooks) hand every
start and logged point to the observers of the run, and the worker tells them
how the run ended once its final status is committed. Training imports nothing
of the observing apps, and the trainers never see any of this.

An observer can never fail a run: every call is wrapped, an exception is
logged and swallowed here (the observer records it where the run's page shows
it). Kept free of torch and Django models at import time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

logger = logging.getLogger(__name__)


class RunObserver(Protocol):
    def on_start(self, *, total_steps: int, start_step: int, device: str) -> None: ...
    def on_log(self, *, step: int, split: str, values: dict) -> None: ...
    def on_finish(self, *, model_dir: Path | None) -> None:
        """The run's final status is committed (reload the run to read it);
        ``model_dir`` is the saved model of a succeeded run, else None."""


# name → factory(run) returning an observer for that run, or None (not wanted).
_FACTORIES: dict[str, Callable[..., RunObserver | None]] = {}


def run_observer_register(*, name: str, factory: Callable[..., RunObserver | None]) -> None:
    """Register (or replace, by name) a factory called once per executed run."""
    _FACTORIES[name] = factory


def run_observer_unregister(*, name: str) -> None:
    _FACTORIES.pop(name, None)


class RunObservers:
    """The observers of one run attempt, each call guarded."""

    def __init__(self, run) -> None:
        self.observers: list[tuple[str, RunObserver]] = []
        for name, factory in list(_FACTORIES.items()):
            try:
                observer = factory(run)
            except Exception:
                logger.exception("run observer %s could not start for run %s", name, run.pk)
                continue
            if observer is not None:
                self.observers.append((name, observer))

    def _each(self, method: str, **kwargs) -> None:
        for name, observer in self.observers:
            try:
                getattr(observer, method)(**kwargs)
            except Exception:
                # Never the run's problem: the observer keeps its own error record.
                logger.exception("run observer %s failed in %s", name, method)

    def on_start(self, **kwargs) -> None:
        self._each("on_start", **kwargs)

    def on_log(self, **kwargs) -> None:
        self._each("on_log", **kwargs)

    def on_finish(self, **kwargs) -> None:
        self._each("on_finish", **kwargs)
