"""Short, owned outages of the local PostgreSQL and Redis servers.

Both context managers stop the real server, yield while it is down, and always
bring it back in ``finally`` (and wait until it answers), so a failing test never
leaves the machine without its database or broker. They act on the servers as
this machine and CI run them (shared/FACTS.md): PostgreSQL through Debian's
``pg_ctlcluster`` as root, Redis as a daemonized ``redis-server`` without
persistence. Other processes using the servers see the outage too: keep it to
seconds.
"""

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.env import env_bool
from config.services import port_open

PG_CONF = Path("/etc/postgresql")
REDIS_START = ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", "6379",
               "--save", "", "--appendonly", "no"]


def _unavailable(reason: str) -> None:
    if env_bool("CI", False):
        pytest.fail(f"{reason} (CI=true)")
    pytest.skip(reason)


def _wait_port(port: int, *, up: bool, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while port_open("127.0.0.1", port, timeout=0.2) != up:
        if time.monotonic() > deadline:
            raise RuntimeError(f"port {port} still {'closed' if up else 'open'} after {timeout:.0f}s")
        time.sleep(0.1)


def _pg_cluster() -> list[str]:
    if os.geteuid() != 0 or not shutil.which("pg_ctlcluster") or not PG_CONF.is_dir():
        _unavailable("restarting PostgreSQL needs root and Debian's pg_ctlcluster")
    versions = sorted(PG_CONF.iterdir(), key=lambda p: int(p.name) if p.name.isdigit() else 0)
    if not versions or not (versions[-1] / "main").is_dir():
        _unavailable(f"no PostgreSQL cluster under {PG_CONF}")
    return ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1].name, "main"]


def _pg_ready(timeout: float = 60.0) -> None:
    """Accepting connections, not only listening (startup recovery answers 'starting up')."""
    deadline = time.monotonic() + timeout
    while subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", "5432", "-q"],  # noqa: S607
                         check=False).returncode != 0:
        if time.monotonic() > deadline:
            raise RuntimeError("PostgreSQL did not come back")
        time.sleep(0.1)


@contextlib.contextmanager
def postgres_down() -> Iterator[None]:
    """Stop PostgreSQL (fast mode: every session is terminated, as in a crash or a
    failover), yield, and start it again whatever happens."""
    cluster = _pg_cluster()
    try:
        subprocess.run([*cluster, "stop", "-m", "fast"], check=True, capture_output=True,  # noqa: S603
                       timeout=60)
        _wait_port(5432, up=False, timeout=30)
        yield
    finally:
        if not port_open("127.0.0.1", 5432):
            subprocess.run([*cluster, "start"], check=True, capture_output=True, timeout=120)  # noqa: S603
        _pg_ready()


def redis_restart() -> None:
    """``redis-cli shutdown nosave`` (every queued message gone, as after a crash of
    a Redis that keeps nothing on disk), then start it again and wait until it answers."""
    if not shutil.which("redis-server") or not shutil.which("redis-cli"):
        _unavailable("restarting Redis needs redis-server and redis-cli")
    if not port_open("127.0.0.1", 6379):
        _unavailable("Redis is not running on 127.0.0.1:6379")
    try:
        subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", "6379", "shutdown", "nosave"],  # noqa: S607
                       check=False, capture_output=True, timeout=30)
        _wait_port(6379, up=False, timeout=30)
    finally:
        if not port_open("127.0.0.1", 6379):
            subprocess.run(REDIS_START, check=True, capture_output=True, timeout=30)  # noqa: S603
        _wait_port(6379, up=True, timeout=30)
