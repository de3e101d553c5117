"""Find the local PostgreSQL and Redis the test suite and benchmarks run against.

With CI=true a missing service is an error, never a silent fallback.
"""

import os
import socket

from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool

DEFAULT_POSTGRES_URL = "postgres://root@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require(name: str, host: str, port: int) -> bool:
    """True when the service answers; under CI a missing one raises."""
    if port_open(host, port):
        return True
    if env_bool("CI", False):
        raise ImproperlyConfigured(f"{name} is not reachable on {host}:{port} and CI=true")
    return False


def test_database_url() -> str:
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    if require("PostgreSQL", "127.0.0.1", 5432):
        return DEFAULT_POSTGRES_URL
    return "sqlite:///:memory:"
