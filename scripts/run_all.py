"""Start the web server, a Celery worker and Celery beat; stop all on Ctrl-C.

Used by `make run`. If one process dies, the others are stopped too, so a
broken setup is visible at once rather than half-running.
"""

import os
import signal
import subprocess
import sys
import time

BIN = os.path.dirname(sys.executable)


def _stop(signum, frame):
    raise KeyboardInterrupt


def main() -> int:
    # SIGTERM (kill, a process manager) stops everything the way Ctrl-C does,
    # instead of leaving the worker and beat orphaned.
    signal.signal(signal.SIGTERM, _stop)
    host, port = os.environ.get("HOST", "127.0.0.1"), os.environ.get("PORT", "8000")
    commands = {
        "web": [sys.executable, "manage.py", "runserver", f"{host}:{port}", "--noreload"],
        "worker": [os.path.join(BIN, "celery"), "-A", "config", "worker", "-l", "info",
                   "--concurrency", "2", "-Q", "celery,generation"],
        # Training runs: one at a time in a solo worker (one run per GPU; on CPU, one run).
        "trainer": [os.path.join(BIN, "celery"), "-A", "config", "worker", "-l", "info", "--pool", "solo",
                    "--concurrency", "1", "-n", "trainer@%h",
                    "-Q", os.environ.get("PALATE_TRAINING_QUEUE", "gpu")],
        "beat": [os.path.join(BIN, "celery"), "-A", "config", "beat", "-l", "info",
                 "--schedule", os.path.join("var", "celerybeat-schedule")],
    }
    os.makedirs("var", exist_ok=True)
    procs = {name: subprocess.Popen(cmd) for name, cmd in commands.items()}
    print(f"\nPalate is running: http://{host}:{port}/ (API docs: http://{host}:{port}/api/docs/)"
          "\nPress Ctrl-C to stop.\n", flush=True)
    code = 0
    try:
        while all(p.poll() is None for p in procs.values()):
            time.sleep(0.5)
        code = next(p.returncode for p in procs.values() if p.poll() is not None) or 1
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
    return code


if __name__ == "__main__":
    sys.exit(main())
