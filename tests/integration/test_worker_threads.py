"""Each Celery worker process caps its torch/tokenizers threads at its share of
the cores, so the generation and training workers of `make run` both progress."""

import importlib.util
import os
import subprocess
import sys

from django.conf import settings

from config.worker_threads import threads_split

_spec = importlib.util.spec_from_file_location("run_all", settings.BASE_DIR / "scripts" / "run_all.py")
run_all = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run_all)

# What a prefork child does at start: Celery sends worker_process_init, then a
# task imports torch; and the solo pool (the trainer) with torch already loaded.
CHILD = """
import django
django.setup()
from celery.signals import worker_init, worker_process_init
import config.celery
import sys
if sys.argv[1] == "torch-first":
    import torch
    worker_init.send(sender=None)
else:
    worker_process_init.send(sender=None)
    import torch
print(torch.get_num_threads())
"""


def threads_in_worker(order: str, **env: str) -> int:
    clean = {"PATH": os.environ.get("PATH", ""), "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "1",
             **env}
    result = subprocess.run([sys.executable, "-c", CHILD, order], cwd=settings.BASE_DIR, env=clean,  # noqa: S603
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return int(result.stdout.strip().splitlines()[-1])


def test_a_worker_process_caps_torch_threads_from_settings(tmp_path):
    assert threads_in_worker("signal-first", PALATE_TORCH_THREADS="1", PALATE_VAR_DIR=str(tmp_path)) == 1


def test_the_cap_applies_when_torch_was_loaded_before_the_worker_started(tmp_path):
    assert threads_in_worker("torch-first", PALATE_TORCH_THREADS="1", PALATE_VAR_DIR=str(tmp_path)) == 1


def test_zero_leaves_the_library_default(tmp_path):
    default = threads_in_worker("signal-first", PALATE_TORCH_THREADS="0", PALATE_VAR_DIR=str(tmp_path))
    assert default == threads_in_worker("signal-first", PALATE_VAR_DIR=str(tmp_path))


def test_cores_are_split_between_the_two_torch_workers():
    assert threads_split(cores=2, workers=2) == [1, 1]
    assert threads_split(cores=1, workers=2) == [1, 1]  # never zero threads
    assert threads_split(cores=7, workers=2) == [4, 3]
    assert sum(threads_split(cores=16, workers=2)) == 16


def test_make_run_gives_the_generation_worker_and_the_trainer_their_share():
    shares = run_all.thread_env({})
    assert set(shares) == {"worker", "trainer"}
    total = sum(int(shares[name]["PALATE_TORCH_THREADS"]) for name in shares)
    assert total == max(os.cpu_count() or 1, 2)
    # An operator's own setting is left alone.
    assert run_all.thread_env({"PALATE_TORCH_THREADS": "3"}) == {}
