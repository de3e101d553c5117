"""Fixtures that start real services: a Celery worker subprocess on the test
database, and a producer app pointed at the same broker.

A missing service skips the test on a laptop and fails it under CI=true
(config/services.py ``require``).
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlparse

import pytest
from celery import Celery
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from config.env import env_bool
from config.services import DEFAULT_REDIS_URL, require

CELERY = str(Path(sys.executable).with_name("celery"))
WORKER_READY_TIMEOUT = 60.0
WORKER_STOP_TIMEOUT = 20.0
# Not DB 0 (shared use); a unique queue per test keeps parallel runs apart too.
TEST_REDIS_DB = 13


def service_or_skip(name: str, host: str, port: int) -> None:
    try:
        available = require(name, host, port)
    except ImproperlyConfigured as error:
        pytest.fail(str(error))
    if not available:
        pytest.skip(f"{name} is not reachable on {host}:{port} (CI=true would fail)")


@pytest.fixture
def postgres_db(transactional_db) -> dict:
    """The committed-rows test database, when it is one another process can open."""
    if connection.vendor != "postgresql":
        message = "a worker in another process needs PostgreSQL; the test database is " + connection.vendor
        if env_bool("CI", False):
            pytest.fail(message)
        pytest.skip(message)
    return connection.settings_dict


def database_url(settings_dict: dict) -> str:
    user = quote(settings_dict.get("USER") or "", safe="")
    password = settings_dict.get("PASSWORD") or ""
    auth = f"{user}:{quote(password, safe='')}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or ""
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{quote(settings_dict['NAME'], safe='')}"


@pytest.fixture
def redis_url() -> str:
    parsed = urlparse(os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 6379
    service_or_skip("Redis", host, port)
    return f"redis://{host}:{port}/{TEST_REDIS_DB}"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@dataclass
class Worker:
    process: subprocess.Popen
    log_path: Path
    queue: str
    started: float = field(default_factory=time.monotonic)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no worker log)"

    def wait_ready(self, timeout: float = WORKER_READY_TIMEOUT) -> None:
        """Wait for the worker's "celery@… ready." line (it logs it once it consumes)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.log():
                return
            if self.process.poll() is not None:
                pytest.fail(f"the Celery worker exited with {self.process.returncode} before it was "
                            f"ready; its log:\n{self.log()}")
            time.sleep(0.2)
        pytest.fail(f"the Celery worker was not ready after {timeout:.0f}s; its log:\n{self.log()}")

    def stop(self) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL to its whole process group."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=WORKER_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def wait_for(condition: Callable[[], bool], *, worker: Worker, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if worker.process.poll() is not None:
            pytest.fail(f"the Celery worker died while waiting for {what}; its log:\n{worker.log()}")
        time.sleep(0.25)
    pytest.fail(f"{what}: not seen after {timeout:.0f}s; worker log:\n{worker.log()}")


def finished_in_log(worker, name: str) -> int:
    """How many deliveries of task ``name`` this worker has finished."""
    return sum(1 for line in worker.log().splitlines()
               if f"Task {name}[" in line and " succeeded in " in line)


def received_in_log(worker: Worker, name: str) -> int:
    """How many deliveries of task ``name`` this worker has received (a task with a
    countdown is received at once and held until its time)."""
    return sum(1 for line in worker.log().splitlines()
               if f"Task {name}[" in line and line.endswith(" received"))


def drain(worker, *, timeout: float = 60) -> None:
    """Wait until the worker has handled everything queued before now: a harmless
    task sent to its queue last comes out last (one solo worker, FIFO), so once it
    has finished nothing queued earlier is still waiting. Proves "nothing happens"
    without sleeping for a guessed while."""
    from celery import current_app

    name = "annotation.tasks.leases_reclaim_expired_task"
    before = finished_in_log(worker, name)
    current_app.send_task(name, queue=worker.queue)
    wait_for(lambda: finished_in_log(worker, name) > before, worker=worker, timeout=timeout,
             what="the barrier task handled")


@pytest.fixture
def celery_worker(request, postgres_db, tmp_path) -> Iterator[Callable[..., Worker]]:
    """Start `celery -A config worker --pool solo` on the test database.

    ``start(env={...}, queue=...)``: the environment is the production settings
    module (config.settings, DEBUG off) with DATABASE_URL pointing at the test
    database, plus ``env``. Every worker started is stopped at teardown; on a
    failed test its log is printed.
    """
    workers: list[Worker] = []

    def start(*, env: dict[str, str], queue: str = "celery") -> Worker:
        full_env = {key: value for key, value in os.environ.items()
                    if key not in ("CELERY_BROKER_URL", "DATABASE_URL", "PALATE_VAR_DIR", "DEBUG",
                                   "CELERY_TASK_ALWAYS_EAGER")}
        full_env.update({
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "SECRET_KEY": "integration-test-secret-key",
            "DATABASE_URL": database_url(postgres_db),
            "PALATE_VAR_DIR": str(tmp_path / "var"),
            "PYTHONUNBUFFERED": "1",
        })
        full_env.update(env)
        log_path = tmp_path / f"worker-{len(workers)}.log"
        node = f"palate-it-{uuid.uuid4().hex[:8]}@%h"
        with log_path.open("wb") as log:
            process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                [CELERY, "-A", "config", "worker", "--pool", "solo", "-l", "info", "-n", node,
                 "-Q", queue, "--without-gossip", "--without-mingle"],
                cwd=settings.BASE_DIR, env=full_env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)
        worker = Worker(process=process, log_path=log_path, queue=queue)
        workers.append(worker)
        worker.wait_ready()
        return worker

    try:
        yield start
    finally:
        for worker in workers:
            worker.stop()
        failed = any(getattr(request.node, f"rep_{when}", None) is not None
                     and getattr(request.node, f"rep_{when}").failed for when in ("setup", "call"))
        if failed:
            # Teardown output is not part of the failure report: write past the capture.
            capture = request.config.pluginmanager.getplugin("capturemanager")
            with capture.global_and_fixture_disabled():
                for number, worker in enumerate(workers):
                    print(f"\n----- Celery worker {number} log (exit {worker.process.returncode}) -----\n"
                          f"{worker.log()}", file=sys.stderr)


@pytest.fixture
def producer_app() -> Iterator[Callable[..., Celery]]:
    """A Celery app with the project's settings but another broker, made the
    current app so ``task.delay()`` in the test publishes there."""
    from celery import _state

    previous = _state.get_current_app()
    apps: list[Celery] = []

    def configure(*, broker_url: str, transport_options: dict | None = None,
                  queue: str = "celery") -> Celery:
        app = Celery("palate-integration", set_as_current=False)
        app.config_from_object("django.conf:settings", namespace="CELERY")
        app.conf.update(broker_url=broker_url, broker_transport_options=transport_options or {},
                        task_default_queue=queue, task_always_eager=False)
        app.set_current()
        apps.append(app)
        return app

    try:
        yield configure
    finally:
        for app in apps:
            app.close()
        previous.set_current()
