"""The in-process `vllm` backend, run in the vLLM virtualenv (its own process:
this one has no vLLM). It starts a second engine (~1-2 min on CPU); `make test`
builds the vLLM virtualenv, and under CI a missing one fails the run."""

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = textwrap.dedent("""
    import json, sys
    from generation.backends import SamplingParams
    from generation.backends.vllm_engine import VllmEngineBackend

    if __name__ == "__main__":  # vLLM starts processes of its own
        backend = VllmEngineBackend(sys.argv[1], model_name="tiny", dtype="float32",
                                    max_model_len=512, enforce_eager=True,
                                    kv_cache_memory_bytes=256 * 1024 ** 2,
                                    enable_chunked_prefill=False)  # see generation/server.py
        results = backend.generate(
            [[{"role": "user", "content": "Why?"}], [{"role": "user", "content": "How so?"}]],
            SamplingParams(n=2, max_tokens=6, temperature=1.0, seed=3))
        print("RESULT " + json.dumps([[[c.text, c.finish_reason, c.completion_tokens]
                                       for c in r.completions] for r in results]))
""")


def test_the_in_process_engine_generates_n_samples(tiny_model_dir, tmp_path):
    python = Path(settings.PALATE_VLLM_PYTHON)
    if not python.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"no vLLM environment at {python} (make test builds it)")
        pytest.skip(f"no vLLM environment at {python}")
    script = tmp_path / "engine.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VLLM_CPU_CI_ENV": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([str(python), str(script), str(tiny_model_dir)], env=env, cwd=tmp_path,  # noqa: S603
                          capture_output=True, text=True, timeout=900)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    results = json.loads(lines[-1][len("RESULT "):])
    assert [len(r) for r in results] == [2, 2]
    assert all(1 <= tokens <= 6 and reason in ("stop", "length") for r in results
               for _, reason, tokens in r)


def test_the_engine_refuses_a_daemonic_process(monkeypatch, tmp_path):
    import multiprocessing

    from generation.backends import BackendUnavailable
    from generation.backends.vllm_engine import VllmEngineBackend

    monkeypatch.setattr(multiprocessing.current_process(), "daemon", True, raising=False)
    with pytest.raises(BackendUnavailable, match="--pool solo"):
        VllmEngineBackend(tmp_path).health()
