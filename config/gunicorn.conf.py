"""gunicorn settings for production (scripts/serve_prod.sh passes this file).

Every value can be overridden from the environment, so one file serves a
laptop check (make prod-check) and a large host.

    GUNICORN_BIND          address to listen on (default 127.0.0.1:8000: a proxy in front)
    GUNICORN_WORKERS       processes (default 2 x CPU cores + 1, at most 12)
    GUNICORN_THREADS       threads per process (default 1: sync workers)
    GUNICORN_TIMEOUT       seconds a request may take before its worker is recycled (default 60)
    GUNICORN_MAX_REQUESTS  recycle a worker after this many requests (default 2000, 0: never)
    FORWARDED_ALLOW_IPS    proxies whose X-Forwarded-* headers gunicorn trusts (default 127.0.0.1)
"""

import multiprocessing
import os

from prometheus_client import multiprocess


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name}={raw!r} is not an integer") from None


bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# The classic rule of thumb for sync workers; capped because each worker holds
# its own database connection and Django's memory.
workers = _int("GUNICORN_WORKERS", min(2 * multiprocessing.cpu_count() + 1, 12))
threads = _int("GUNICORN_THREADS", 1)
worker_class = "gthread" if threads > 1 else "sync"
# Export downloads stream from disk and agreement reports can take seconds; a
# request longer than this is a bug or an attack, and its worker is replaced.
timeout = _int("GUNICORN_TIMEOUT", 60)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# Recycling bounds slow leaks (e.g. in native libraries); the jitter keeps all
# workers from restarting at once.
max_requests = _int("GUNICORN_MAX_REQUESTS", 2000)
max_requests_jitter = max_requests // 10
# Headers a client could forge are ignored unless they come from these proxies.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# Of those headers, HTTPS is read from X-Forwarded-Proto only: the one the README
# tells the proxy to overwrite. gunicorn's default also takes X-Forwarded-Ssl and
# X-Forwarded-Protocol, which a proxy passes through untouched, so a client
# could claim HTTPS with them and skip the redirect.
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}
# Request-line and header limits well under gunicorn's maxima: nothing in the
# API needs a long URL.
limit_request_line = 8190
limit_request_fields = 100
# Heartbeat files in memory, not on a possibly slow disk (gunicorn creates and
# unlinks them itself, with private names).
_SHM = "/dev/shm"  # noqa: S108
worker_tmp_dir = _SHM if os.path.isdir(_SHM) else None
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
proc_name = "palate-web"


def child_exit(server, worker):
    # prometheus-client multiprocess mode (integrations/metrics): a dead worker's
    # live gauges must stop counting; its counters stay summed.
    multiprocess.mark_process_dead(worker.pid)
