"""Start the web server, the Celery workers and beat; stop all on Ctrl-C.

Used by `make run`. Each process writes to its own log under var/log/, so the
terminal shows one thing: the "Palate is running" banner, printed once the web
server answers. If one process dies, its log's tail is shown and the others are
stopped too, so a broken setup is visible at once rather than half-running.
"""

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config.worker_threads import threads_split  # noqa: E402

BIN = os.path.dirname(sys.executable)
READY_TIMEOUT_S = 120.0
DEMO_LOGINS = "admin (site admin), alice and bob (labelers), erin (engineer); password palate-demo"


def _stop(signum, frame):
    raise KeyboardInterrupt


def commands(*, host: str, port: str, var: Path) -> dict[str, list[str]]:
    celery = os.path.join(BIN, "celery")
    return {
        "web": [sys.executable, "manage.py", "runserver", f"{host}:{port}", "--noreload"],
        "worker": [celery, "-A", "config", "worker", "-l", "info", "--concurrency", "2",
                   "-Q", "celery,generation"],
        # Training runs: one at a time in a solo worker (one run per GPU; on CPU, one run).
        "trainer": [celery, "-A", "config", "worker", "-l", "info", "--pool", "solo",
                    "--concurrency", "1", "-n", "trainer@%h",
                    "-Q", os.environ.get("PALATE_TRAINING_QUEUE", "gpu")],
        "beat": [celery, "-A", "config", "beat", "-l", "info",
                 "--schedule", str(var / "celerybeat-schedule")],
    }


def thread_env(base: dict[str, str]) -> dict[str, dict[str, str]]:
    """The generation worker and the trainer both run torch: each gets its share
    of the cores (config/worker_threads.py), unless PALATE_TORCH_THREADS is set."""
    if base.get("PALATE_TORCH_THREADS"):
        return {}
    worker, trainer = threads_split(cores=os.cpu_count() or 1, workers=2)
    return {"worker": {"PALATE_TORCH_THREADS": str(worker)},
            "trainer": {"PALATE_TORCH_THREADS": str(trainer)}}


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (our own loopback URL)
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def banner(*, base_url: str, logs: Path) -> str:
    return (
        "\n"
        f"Palate is running: {base_url}/\n"
        f"  API docs     {base_url}/api/docs/\n"
        f"  Django admin {base_url}/admin/\n"
        f"  Demo logins  {DEMO_LOGINS}\n"
        "  The worker is generating the candidates of 'Demo: model candidates' and the trainer\n"
        "  is training the demo's reward model: see those projects' Generation and Training pages.\n"
        f"  Logs         {logs}/web.log, worker.log, trainer.log, beat.log\n"
        "Press Ctrl-C to stop.\n"
    )


def main() -> int:
    # SIGTERM (kill, a process manager) stops everything the way Ctrl-C does,
    # instead of leaving the worker and beat orphaned.
    signal.signal(signal.SIGTERM, _stop)
    host, port = os.environ.get("HOST", "127.0.0.1"), os.environ.get("PORT", "8000")
    var = Path(os.environ.get("PALATE_VAR_DIR", ROOT / "var"))
    logs = var / "log"
    logs.mkdir(parents=True, exist_ok=True)
    base_env = dict(os.environ)
    extra_env = thread_env(base_env)
    procs: dict[str, subprocess.Popen] = {}
    log_paths: dict[str, Path] = {}
    for name, command in commands(host=host, port=port, var=var).items():
        log_paths[name] = logs / f"{name}.log"
        with open(log_paths[name], "ab") as log:
            procs[name] = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,  # noqa: S603
                                           stdin=subprocess.DEVNULL,
                                           env=base_env | extra_env.get(name, {}))
    base_url = f"http://{host}:{port}"
    code = 0
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        ready = False
        while not ready:
            dead = [name for name, p in procs.items() if p.poll() is not None]
            if dead:
                break
            if time.monotonic() > deadline:
                print(f"The web server did not answer on {base_url}/healthz within "
                      f"{READY_TIMEOUT_S:.0f} s; its log:\n{log_tail(log_paths['web'])}", flush=True)
                return 1
            ready = answers(f"{base_url}/healthz") and answers(f"{base_url}/login/")
            if not ready:
                time.sleep(0.3)
        if ready:
            print(banner(base_url=base_url, logs=logs), flush=True)
        while all(p.poll() is None for p in procs.values()):
            time.sleep(0.5)
        name = next(name for name, p in procs.items() if p.poll() is not None)
        code = procs[name].returncode or 1
        print(f"\n{name} stopped (exit {procs[name].returncode}); the last lines of "
              f"{log_paths[name]}:\n{log_tail(log_paths[name])}\nStopping the others.", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        # A second Ctrl-C must not cut the cleanup short (the children see it too).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs.values():
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    return code


if __name__ == "__main__":
    sys.exit(main())
