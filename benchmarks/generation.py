"""Generation benchmark: tokens per second of the vLLM-server path against
transformers' ``generate`` (the named baseline) on the same prompts, model and
sampling.

* baseline: ``TransformersBackend`` in this process: the prompts rendered with
  the chat template, length-sorted, left-padded, one ``generate`` call per batch
  with ``num_return_sequences=n``;
* vllm-server: ``VllmServerBackend`` over HTTP (bounded concurrency) to vLLM's
  OpenAI-compatible server, started here from the vLLM virtualenv with the same
  command ``manage.py serve_generation`` uses (CPU: explicit KV cache, eager).

tokens/s = completion tokens actually generated / wall seconds of the timed
call; model loading and server start are timed apart, and each path gets one
untimed warm-up request. ratio = vllm-server tokens/s / baseline tokens/s.

Run from the repository root (needs `make models` and `make vllm-env`):
    .venv/bin/python benchmarks/generation.py                 # SmolLM2-135M, 16 prompts x n=4 x 80
    .venv/bin/python benchmarks/generation.py --prompts 32 --n 4 --max-tokens 128
The server binds 127.0.0.1 on a free port and is stopped at the end.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this folder is sys.path[0] and this file would shadow the
# `generation` package: put the repository root there.
if sys.path and Path(sys.path[0] or ".").resolve() == ROOT / "benchmarks":
    sys.path[0] = str(ROOT)

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import secrets  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

from generation.backends import SamplingParams  # noqa: E402
from generation.bootstrap import DEFAULT_MODELS, materialize  # noqa: E402
from generation.server import vllm_command, vllm_env, wait_healthy  # noqa: E402

TOPICS = ["why the sky is blue", "how a bicycle stays upright", "the water cycle",
          "what a prime number is", "how vaccines work", "why leaves change colour",
          "how to boil an egg", "what causes tides", "how a rainbow forms",
          "why we sleep", "how bees make honey", "what gravity is", "how a compass works",
          "why the sea is salty", "how plants drink water", "what an atom is"]
STYLES = ["Explain to a child {}.", "In three sentences, describe {}.",
          "Give a short, friendly explanation of {}.", "What should a student know about {}?"]


def prompts(count: int) -> list[list[dict]]:
    return [[{"role": "user", "content": STYLES[i % len(STYLES)].format(TOPICS[i % len(TOPICS)])}]
            for i in range(count)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def timed(backend, conversations, sampling) -> dict:
    started = time.perf_counter()
    results = backend.generate(conversations, sampling)
    seconds = time.perf_counter() - started
    tokens = sum(r.completion_tokens for r in results)
    sequences = sum(len(r.completions) for r in results)
    lengths = sum(1 for r in results for c in r.completions if c.finish_reason == "length")
    return {"sequences": sequences, "tokens": tokens, "seconds": round(seconds, 2),
            "tokens_per_s": round(tokens / seconds, 1), "hit_max_tokens": lengths}


def run_baseline(model_dir: Path, conversations, sampling, *, dtype: str, batch: int,
                 threads: int) -> dict:
    import torch

    from generation.backends.transformers_backend import TransformersBackend

    if threads:
        torch.set_num_threads(threads)

    backend = TransformersBackend(model_dir, dtype=dtype, max_batch_sequences=batch)
    started = time.perf_counter()
    backend.health()
    load = time.perf_counter() - started
    backend.generate(conversations[:1], SamplingParams(n=1, max_tokens=4))  # warm-up
    result = timed(backend, conversations, sampling)
    return {"path": f"transformers generate, {torch.get_num_threads()} thr (baseline)",
            "startup_s": round(load, 1), **result}


def run_vllm(model_dir: Path, conversations, sampling, *, python: str, dtype: str,
             concurrency: int, kv_cache_gib: float, log_path: Path) -> dict:
    from generation.backends.vllm_server import VllmServerBackend

    port, key = free_port(), secrets.token_urlsafe(16)
    command = vllm_command(python=python, model_path=model_dir, served_name="bench",
                           host="127.0.0.1", port=port, device="cpu", dtype=dtype,
                           max_model_len=2048, kv_cache_gib=kv_cache_gib)
    started = time.perf_counter()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                   env=vllm_env(api_key=key), start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/v1"
        wait_healthy(url, process=process, timeout=900)
        startup = time.perf_counter() - started
        backend = VllmServerBackend(url, model="bench", api_key=key, timeout=900,
                                    max_concurrency=concurrency, retries=0)
        backend.health()
        backend.generate(conversations[:1], SamplingParams(n=1, max_tokens=4))  # warm-up
        result = timed(backend, conversations, sampling)
        backend.close()
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
                process.wait(timeout=30)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
    return {"path": f"vllm-server (concurrency {concurrency})", "startup_s": round(startup, 1),
            **result}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=80)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--top-p", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--batch", type=int, default=64, help="baseline: sequences per batch")
    parser.add_argument("--threads", type=int, default=0,
                        help="baseline: torch threads (0: torch's default). vLLM's CPU engine "
                             "binds its own OpenMP threads and keeps one core for itself.")
    parser.add_argument("--concurrency", type=int, default=16, help="vllm-server: requests in flight")
    parser.add_argument("--kv-cache-gib", type=float, default=2.0)
    parser.add_argument("--models-dir", default=os.environ.get("PALATE_MODELS_DIR",
                                                               str(ROOT / "var" / "models")))
    parser.add_argument("--vllm-python", default=os.environ.get(
        "PALATE_VLLM_PYTHON", str(ROOT / ".venv-vllm" / "bin" / "python")))
    parser.add_argument("--skip-vllm", action="store_true")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--log", default=str(ROOT / "benchmarks" / "out" / "vllm-server.log"),
                        help="the vLLM server's output")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()

    smol = next(m for m in DEFAULT_MODELS if m.role == "policy")
    model_dir, _, _ = materialize(smol, Path(args.models_dir), report=lambda m: print(f"  {m}"))
    conversations = prompts(args.prompts)
    sampling = SamplingParams(n=args.n, temperature=args.temperature, top_p=args.top_p,
                              max_tokens=args.max_tokens, seed=args.seed)
    import torch

    print(f"model {smol.name} ({model_dir}), {args.prompts} prompts x n={args.n} x "
          f"max_tokens={args.max_tokens}, temperature {args.temperature}, top_p {args.top_p}, "
          f"{args.dtype}; {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    rows = []
    if not args.skip_baseline:
        rows.append(run_baseline(model_dir, conversations, sampling, dtype=args.dtype,
                                 batch=args.batch, threads=args.threads))
        print(json.dumps(rows[-1]))
    if args.skip_vllm:
        pass
    elif not Path(args.vllm_python).is_file():
        print(f"vllm-server path skipped: no vLLM environment at {args.vllm_python} "
              "(make vllm-env)")
    else:
        log_path = Path(args.log)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            rows.append(run_vllm(model_dir, conversations, sampling, python=args.vllm_python,
                                 dtype=args.dtype, concurrency=args.concurrency,
                                 kv_cache_gib=args.kv_cache_gib, log_path=log_path))
        except Exception:
            print(f"the vLLM path failed; its server log is {log_path}")
            raise
        print(json.dumps(rows[-1]))
    if not rows:
        return 0
    baseline = rows[0]["tokens_per_s"] if not args.skip_baseline else float("nan")
    print(f"\n{'path':40} {'seqs':>5} {'tokens':>7} {'seconds':>8} {'tokens/s':>9} "
          f"{'ratio':>6} {'startup s':>9}")
    for row in rows:
        print(f"{row['path']:40} {row['sequences']:>5} {row['tokens']:>7} {row['seconds']:>8} "
              f"{row['tokens_per_s']:>9} {row['tokens_per_s'] / baseline:>6.2f} "
              f"{row['startup_s']:>9}")
    print(f"ratio = tokens/s / baseline tokens/s; machine {platform.machine()}, "
          f"{platform.python_version()}")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
