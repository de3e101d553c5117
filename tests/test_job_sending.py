"""Services send their tasks by registered name (core.jobs.sending), so no
service imports its own tasks module: the eager setting still runs the task
inline, on-commit sending still waits for the commit, and a process that never
imported the tasks modules (the web process) still finds the task."""

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import transaction

from annotation.models import ProjectQuality
from annotation.services.quality_recompute import RECOMPUTE_TASK
from core.jobs.sending import task_send


def _computed(project) -> bool:
    return ProjectQuality.objects.filter(project=project, computed_at__isnull=False).exists()


def test_a_task_sent_by_name_runs_inline_when_eager(project):
    task_send(RECOMPUTE_TASK, project.pk)
    assert _computed(project)


def test_on_commit_sends_only_once_the_transaction_commits(project, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        task_send(RECOMPUTE_TASK, project.pk, on_commit=True)
    assert len(callbacks) == 1 and not _computed(project)
    callbacks[0]()
    assert _computed(project)


def test_a_rolled_back_request_sends_nothing(project, django_capture_on_commit_callbacks):
    with (django_capture_on_commit_callbacks(execute=True) as callbacks,
          pytest.raises(RuntimeError), transaction.atomic()):
        task_send(RECOMPUTE_TASK, project.pk, on_commit=True)
        raise RuntimeError("the request fails after queueing")
    assert callbacks == [] and not _computed(project)


def test_an_unknown_name_is_refused_before_anything_is_queued(db):
    with pytest.raises(LookupError, match="annotation.tasks.no_such_task"):
        task_send("annotation.tasks.no_such_task", 1, on_commit=True)


def test_a_process_that_never_imported_the_tasks_modules_finds_the_task():
    # A fresh interpreter after django.setup(), as the web process is: the
    # apps' tasks modules are not imported yet, and the name still resolves
    # to the registered task (whose apply_async honours the eager setting).
    code = (
        "import django; django.setup()\n"
        "from celery import current_app\n"
        "import config.celery\n"
        f"name = {RECOMPUTE_TASK!r}\n"
        "assert name not in current_app.tasks, 'precondition: not imported yet'\n"
        "from core.jobs.sending import _registered\n"
        "print(_registered(name).name)\n")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test"}
    done = subprocess.run([sys.executable, "-c", code], cwd=settings.BASE_DIR, env=env,  # noqa: S603 - fixed code
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == RECOMPUTE_TASK
