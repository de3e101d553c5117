"""A new user's first command, from the runtime files alone.

`make test` builds a second virtualenv from requirements.txt and the model
wheels only (`make runtime-env`, never requirements-dev.txt). With it, every
module of the apps imports, and `make run` — the README's first command — on a
throw-away var/ migrates, bootstraps the models, seeds the demo, starts web,
workers and beat, answers on /healthz and the login page, runs the queued demo
generation job, and stops everything on Ctrl-C. A package that only the dev
requirements bring (pyarrow once came only through `datasets`) fails here.
"""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from config.env import env_bool

ROOT = Path(settings.BASE_DIR)
START_TIMEOUT_S = 600  # a fresh var/: migrate + de-quantizing SmolLM2 + seeding, on 2 shared cores
JOB_TIMEOUT_S = 180
STOP_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def runtime_venv() -> Path:
    venv = ROOT / os.environ.get("PALATE_RUNTIME_VENV", ".venv-runtime")
    if not (venv / ".runtime").exists() or not (venv / ".models").exists():
        message = f"the runtime-only virtualenv {venv} is missing: `make runtime-env` builds it"
        if env_bool("CI", False):
            pytest.fail(message)
        pytest.skip(message)
    return venv


def clean_env(var: Path, **extra: str) -> dict[str, str]:
    """A new user's shell: nothing of the test settings (database, broker, key)."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER")}
    return keep | {"PALATE_VAR_DIR": str(var)} | extra


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, token: str | None = None) -> tuple[int, bytes]:
    headers = {"Authorization": f"Token {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 (loopback)
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
        return response.status, response.read()


def test_every_module_imports_with_the_runtime_requirements_alone(runtime_venv, tmp_path):
    result = subprocess.run(  # noqa: S603
        [str(runtime_venv / "bin" / "python"), "scripts/import_check.py"], cwd=ROOT,
        env=clean_env(tmp_path / "var"), capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith(": 0 failed")


def wait_until(condition, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout:.0f} s for {what}")
        time.sleep(0.5)


class MakeRun:
    """`make run` in its own process group, as a terminal runs it."""

    def __init__(self, *, venv: Path, var: Path, port: int, out: Path):
        self.out_path = out
        self.base = f"http://127.0.0.1:{port}"
        with open(out, "wb") as sink:
            self.process = subprocess.Popen(  # noqa: S603
                ["make", "--no-print-directory", "run", f"VENV={venv}", f"PORT={port}"],  # noqa: S607
                cwd=ROOT, env=clean_env(var), stdout=sink, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)

    def output(self) -> str:
        return self.out_path.read_text(errors="replace")

    def wait_banner(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while "Press Ctrl-C to stop." not in self.output():
            if self.process.poll() is not None:
                pytest.fail(f"make run exited with {self.process.returncode}:\n{self.output()[-6000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"no banner after {START_TIMEOUT_S} s:\n{self.output()[-6000:]}")
            time.sleep(1)

    def ctrl_c(self) -> int:
        """SIGINT to the whole foreground group, as Ctrl-C sends it."""
        os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(timeout=STOP_TIMEOUT_S)

    def group_alive(self) -> bool:
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def kill(self) -> None:
        if self.group_alive():
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def make_run(runtime_venv, tmp_path_factory):
    root = tmp_path_factory.mktemp("fresh-install")
    run = MakeRun(venv=runtime_venv, var=root / "var", port=free_port(), out=root / "make-run.out")
    run.var = root / "var"
    run.venv = runtime_venv
    try:
        run.wait_banner()
        yield run
    finally:
        run.kill()


def test_make_run_answers_and_prints_its_banner_last(make_run):
    assert get(f"{make_run.base}/healthz")[0] == 200
    assert get(f"{make_run.base}/login/")[0] == 200
    output = make_run.output()
    # The banner is the last thing on screen, with the URLs, the demo logins and the logs.
    banner = output[output.index("Palate is running"):]
    assert banner.rstrip().endswith("Press Ctrl-C to stop.")
    for expected in (f"{make_run.base}/api/docs/", "alice", "palate-demo", str(make_run.var / "log")):
        assert expected in banner
    # Celery's banners and worker chatter are in the log files, not on screen.
    assert "celery@" not in output
    assert "[tasks]" not in output
    # The web server can answer before the worker has finished starting.
    worker_log = make_run.var / "log" / "worker.log"
    wait_until(lambda: " ready." in worker_log.read_text(errors="replace"), timeout=JOB_TIMEOUT_S,
               what=f"the worker's ready line in {worker_log}")
    assert "[tasks]" in worker_log.read_text(errors="replace")
    assert (make_run.var / "log" / "beat.log").exists()
    assert (make_run.var / "log" / "trainer.log").exists()


def test_readme_commands_work_without_debug_on_the_embedded_default(make_run):
    """The key kept in var/secret_key lets `manage.py` run as the README writes it (no DEBUG=1)."""
    key = make_run.var / "secret_key"
    assert key.stat().st_mode & 0o077 == 0  # readable by its owner only
    result = subprocess.run(  # noqa: S603
        [str(make_run.venv / "bin" / "python"), "manage.py", "create_api_token", "erin"], cwd=ROOT,
        env=clean_env(make_run.var), capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    status, body = get(f"{make_run.base}/api/me/", token)
    assert status == 200 and json.loads(body)["username"] == "erin"
    make_run.token = token


def test_the_worker_picks_up_the_demo_generation_job(make_run):
    token = getattr(make_run, "token", None)
    if token is None:
        pytest.fail("no API token: the create_api_token test failed")
    projects = json.loads(get(f"{make_run.base}/api/projects/", token)[1])
    rows = projects["results"] if isinstance(projects, dict) else projects
    project = next(p for p in rows if p["slug"] == "demo-generated")
    url = f"{make_run.base}/api/projects/{project['id']}/generation-jobs/"
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while True:
        jobs = json.loads(get(url, token)[1])
        jobs = jobs["results"] if isinstance(jobs, dict) else jobs
        assert jobs, "seed_demo queued no generation job"
        if any(job["status"] != "queued" for job in jobs):
            break
        if time.monotonic() > deadline:
            log = (make_run.var / "log" / "worker.log").read_text(errors="replace")[-4000:]
            pytest.fail(f"the demo generation job is still queued after {JOB_TIMEOUT_S} s; "
                        f"worker log:\n{log}")
        time.sleep(1)
    assert all(job["status"] in ("running", "succeeded") for job in jobs), jobs


def test_ctrl_c_stops_every_process(make_run):
    code = make_run.ctrl_c()
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while make_run.group_alive() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not make_run.group_alive(), "processes of make run outlived Ctrl-C"
    assert code in (0, 2, -signal.SIGINT, 130), make_run.output()[-3000:]
