"""benchmarks/gpu_check.py in its CPU smoke mode: the script a GPU machine runs, on
tiny shapes, in a process without Django (the GPU machine has none)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_cpu_smoke_run_trains_every_case_and_writes_json_and_a_results_section(tmp_path):
    results = tmp_path / "RESULTS.md"
    results.write_text("# Results\n\n## GPU check (benchmarks/gpu_check.py)\n\nold numbers\n\n"
                       "## Later\n\nkept\n")
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--cpu-smoke", "--out",
         str(tmp_path / "check.json"), "--results-md", str(results)],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=300)
    report = json.loads((tmp_path / "check.json").read_text())
    cases = [(r["kind"], r["lora"]) for r in report["runs"]]
    assert report["runs"][2]["options"] == {"group_by_length": True, "attn_implementation": "sdpa"}
    assert cases == [("dpo", False), ("reward", False), ("dpo", True)]
    for run in report["runs"]:
        assert run["steps"] == 3 and run["tokens_per_s"] > 0 and len(run["losses"]) == 3
    assert report["runs"][0]["losses"][0] == pytest.approx(0.6931, abs=1e-3)  # ln 2 at step 1
    # On the CPU, bf16 autocast against float32: the same check the GPU run makes.
    assert report["bf16_check"]["ok"], report["bf16_check"]
    text = results.read_text()
    assert "old numbers" not in text and "## Later\n\nkept" in text and "| ours dpo smoke-all |" in text
