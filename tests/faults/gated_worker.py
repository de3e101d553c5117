"""The project's Celery app for fault tests, with gates a test can hold a task at.

`celery -A tests.faults.gated_worker worker` is the real worker (config.celery's
app, production settings) plus this: when PALATE_FAULT_GATES names a folder, the
first time a task reaches a gated point the worker touches ``<gate>.reached``
there and waits until ``<gate>.open`` exists. The test sees the task mid-way (a
checkpoint written, an export written but not published) and kills the worker
with SIGKILL at exactly that point. A worker started without the variable has no
gates.
"""

import os
import time
from pathlib import Path

from celery.signals import task_prerun

from config.celery import app  # noqa: F401 - the app `celery -A` loads

GATES = Path(os.environ["PALATE_FAULT_GATES"]) if os.environ.get("PALATE_FAULT_GATES") else None
_installed = False


def wait_at(name: str) -> None:
    (GATES / f"{name}.reached").touch()
    while not (GATES / f"{name}.open").exists():
        time.sleep(0.05)


def _install() -> None:
    """Wrap the gated points; only once Django is set up (at the first task)."""
    from annotation.services import exports
    from training.services import runs

    real_write = exports.export_write

    def export_write(**kwargs):
        manifest = real_write(**kwargs)
        wait_at("export")  # written, neither zipped nor published
        return manifest

    exports.export_write = export_write

    real_progress = runs.RunHooks.on_progress

    def on_progress(self, *, step: int, total_steps: int) -> None:
        real_progress(self, step=step, total_steps=total_steps)
        if step == 4:  # the checkpoint of step 3 is on disk
            wait_at("training")

    runs.RunHooks.on_progress = on_progress


@task_prerun.connect
def _gates(**kwargs) -> None:
    global _installed
    if GATES is not None and not _installed:
        _installed = True
        _install()
