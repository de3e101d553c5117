"""Fixtures shared by the fault tests: real Celery workers that a test can hold at a
gate and kill with SIGKILL, the training app's tiny backbone, and the real-service
fixtures of tests/integration (PostgreSQL, Redis)."""

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings

from tests.integration.conftest import (  # noqa: F401 - fixtures re-exported for this folder
    CELERY,
    Worker,
    celery_worker,
    database_url,
    drain,
    finished_in_log,
    postgres_db,
    producer_app,
    pytest_runtest_makereport,
    redis_url,
    wait_for,
)
from tests.training.conftest import backbone, tiny_model_dir, training_dir  # noqa: F401


def kill9(worker: Worker) -> None:
    """SIGKILL the worker (with --pool solo it is the process running the task) and
    everything in its process group: nothing gets to clean up or ack."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(worker.process.pid, signal.SIGKILL)
    worker.process.wait(timeout=10)


def wait_for_file(path: Path, *, worker: Worker, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if worker.process.poll() is not None:
            pytest.fail(f"the worker exited before {path.name}; its log:\n{worker.log()}")
        if time.monotonic() > deadline:
            pytest.fail(f"{path.name} not reached after {timeout:.0f}s; worker log:\n{worker.log()}")
        time.sleep(0.1)


def deliver_duplicate(worker, task, name: str, *args) -> None:
    """Send the task once more (a late redelivery) and wait until the worker has run it."""
    before = finished_in_log(worker, name)
    task.delay(*args)
    wait_for(lambda: finished_in_log(worker, name) > before, worker=worker, timeout=60,
             what=f"the duplicate {name} handled")


@pytest.fixture
def gated_workers(request, postgres_db, redis_url,  # noqa: F811
                  tmp_path) -> Iterator[Callable[..., Worker]]:
    """Real `celery -A tests.faults.gated_worker worker --pool solo` processes on the
    test database and a Redis queue of this test's own. ``start(gated=True)`` arms the
    gates (tests/faults/gated_worker.py) in the folder ``tmp_path / "gates"``."""
    queue = f"palate-fault-{uuid.uuid4().hex}"
    gates = tmp_path / "gates"
    gates.mkdir()
    workers: list[Worker] = []

    def start(*, gated: bool, env: dict[str, str] | None = None) -> Worker:
        full_env = {key: value for key, value in os.environ.items()
                    if key not in ("CELERY_BROKER_URL", "DATABASE_URL", "PALATE_VAR_DIR", "DEBUG",
                                   "CELERY_TASK_ALWAYS_EAGER", "PALATE_FAULT_GATES")}
        full_env.update({
            "DJANGO_SETTINGS_MODULE": "config.settings", "SECRET_KEY": "fault-test-secret-key",
            "DATABASE_URL": database_url(postgres_db), "PALATE_VAR_DIR": str(tmp_path / "var"),
            "CELERY_BROKER_URL": redis_url, "PYTHONUNBUFFERED": "1", **(env or {})})
        if gated:
            full_env["PALATE_FAULT_GATES"] = str(gates)
        log_path = tmp_path / f"worker-{len(workers)}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                [CELERY, "-A", "tests.faults.gated_worker", "worker", "--pool", "solo", "-l", "info",
                 "-n", f"palate-fault-{uuid.uuid4().hex[:8]}@%h", "-Q", queue,
                 "--without-gossip", "--without-mingle", "--without-heartbeat"],
                cwd=settings.BASE_DIR, env=full_env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)
        worker = Worker(process=process, log_path=log_path, queue=queue)
        workers.append(worker)
        worker.wait_ready()
        return worker

    start.queue = queue
    start.gates = gates
    try:
        yield start
    finally:
        for worker in workers:
            worker.stop()
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"*{queue}*"))
        if keys:
            client.delete(*keys)
        client.close()
        failed = any(getattr(request.node, f"rep_{when}", None) is not None
                     and getattr(request.node, f"rep_{when}").failed for when in ("setup", "call"))
        if failed:
            capture = request.config.pluginmanager.getplugin("capturemanager")
            with capture.global_and_fixture_disabled():
                for number, worker in enumerate(workers):
                    print(f"\n----- Celery worker {number} log (exit {worker.process.returncode}) -----\n"
                          f"{worker.log()}", file=sys.stderr)


@pytest.fixture
def fault_producer(producer_app, redis_url, gated_workers):  # noqa: F811
    """Every task this test sends goes to the gated workers' queue on Redis."""
    app = producer_app(broker_url=redis_url, queue=gated_workers.queue)
    app.conf.task_routes = {name: {"queue": gated_workers.queue} for name in (
        "training.tasks.training_run_task", "generation.tasks.generation_job_run_task",
        "annotation.tasks.dataset_export_run_task")}
    return app
