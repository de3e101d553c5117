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


def main() -> int:
    host, port = os.environ.get("HOST", "127.0.0.1"), os.environ.get("PORT", "8000")
    commands = {
        "web": [sys.executable, "manage.py", "runserver", f"{host}:{port}", "--noreload"],
        "worker": [os.path.join(BIN, "celery"), "-A", "config", "worker", "-l", "info",
                   "--concurrency", "2", "-Q", "celery"],
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
