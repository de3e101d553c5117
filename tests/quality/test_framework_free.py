"""The quality package imports and runs without Django."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
import annotation.quality as q
assert q.krippendorff_alpha(reliability_data=[[1, 2, 1], [1, 2, 2]]) is not None
q.dawid_skene(items=[1, 1], labelers=[1, 2], labels=[0, 1])
q.leaderboard(model_a=[1, 2], model_b=[2, 1], outcome=[1, 1], n_resamples=5)
# Runtime dependency is numpy only: no Django, and none of the test-only reference packages.
banned = ("django", "scipy", "sklearn", "statsmodels", "krippendorff", "pandas")
loaded = sorted(m for m in sys.modules if m.split(".")[0] in banned)
assert not loaded, loaded
"""


def test_package_imports_and_runs_with_numpy_alone_and_no_django_settings():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(  # noqa: S603 - fixed interpreter and script
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
