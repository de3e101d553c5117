"""`make prod-check`: production settings pass Django's deployment checks, and
gunicorn started by scripts/serve_prod.sh answers with the security headers.

Runs against a throwaway SQLite file and static folder with a random secret
key, on a free loopback port; stops the server it started whatever happens.
Exit status 0 when everything holds; each failure is printed.
"""

import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = os.environ.get("PYTHON", sys.executable)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def production_env(tmp: Path) -> dict[str, str]:
    """What an operator sets: DEBUG off, a real key, named hosts, a TLS proxy."""
    keep = {k: v for k, v in os.environ.items()
            if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV")}
    return keep | {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CSRF_TRUSTED_ORIGINS": "https://localhost",
        "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
        "NUM_PROXIES": "1",
        "DATABASE_URL": f"sqlite:///{tmp / 'palate.sqlite3'}",
        "PALATE_VAR_DIR": str(tmp / "var"),
        "STATIC_ROOT": str(tmp / "static"),
        "PYTHON": PYTHON,
        "PYTHONUNBUFFERED": "1",
    }


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(url: str, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    opener = urllib.request.build_opener(NoRedirect)
    try:
        request = urllib.request.Request(url, headers=headers)  # noqa: S310 - http://127.0.0.1 only
        with opener.open(request, timeout=10) as response:  # noqa: S310
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


def wait_for(url: str, server: subprocess.Popen, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            return False
        try:
            if fetch(url, {})[0] == 200:
                return True
        except OSError:
            pass
        time.sleep(0.5)
    return False


def smoke(env: dict[str, str], tmp: Path) -> list[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = env | {"GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": "2",
                 "GUNICORN_ACCESS_LOG": str(tmp / "access.log")}
    log = (tmp / "server.log").open("wb")
    server = subprocess.Popen(["bash", "scripts/serve_prod.sh"], cwd=ROOT, env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    failures = []
    try:
        if not wait_for(f"{base}/healthz", server, 600):  # collectstatic compresses ~1,000 files first
            return [f"gunicorn did not answer /healthz:\n{(tmp / 'server.log').read_text()[-3000:]}"]
        https = {"X-Forwarded-Proto": "https", "Host": "localhost"}
        status, headers = fetch(f"{base}/login/", https)
        if status != 200:
            failures.append(f"GET /login/ over (proxied) HTTPS answered {status}, not 200")
        expected = {
            "Strict-Transport-Security": "max-age=",
            "Content-Security-Policy": "default-src 'self'",
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
        }
        for name, fragment in expected.items():
            if fragment not in headers.get(name, ""):
                failures.append(f"/login/ lacks {name} containing {fragment!r}: {headers.get(name)!r}")
        status, headers = fetch(f"{base}/login/", {"Host": "localhost"})
        if status != 301 or not headers.get("Location", "").startswith("https://"):
            failures.append(f"plain HTTP /login/ answered {status} {headers.get('Location')!r}, "
                            "not a redirect to https")
        for header, value in (("X-Forwarded-Ssl", "on"), ("X-Forwarded-Protocol", "ssl")):
            status, headers = fetch(f"{base}/login/", {header: value, "Host": "localhost"})
            if status != 301:
                failures.append(f"plain HTTP /login/ with {header}: {value} answered {status}, "
                                "not a redirect: only X-Forwarded-Proto may say HTTPS")
        status, _ = fetch(f"{base}/login/", {"X-Forwarded-Proto": "https", "Host": "evil.example"})
        if status != 400:
            failures.append(f"an unknown Host header answered {status}, not 400")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()
    return failures


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="palate-prod-check-") as name:
        tmp = Path(name)
        env = production_env(tmp)
        check = subprocess.run([PYTHON, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                               cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        if check.returncode != 0:
            print("manage.py check --deploy failed:\n" + check.stdout + check.stderr, file=sys.stderr)
            return 1
        print("check --deploy: clean")
        failures = smoke(env, tmp)
    for failure in failures:
        print("FAIL: " + failure, file=sys.stderr)
    if not failures:
        print("gunicorn smoke start: /healthz, /login/ with HSTS, CSP, nosniff, frame denial; "
              "HTTP redirected to HTTPS (X-Forwarded-Ssl/-Protocol ignored); unknown hosts refused")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
