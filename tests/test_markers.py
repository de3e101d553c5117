"""The markers `make test-fast` deselects are applied by tests/conftest.py: by
folder (browser, integration, faults, gpu) and by module (slow)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_browser_and_slow_tests_are_marked_and_the_others_are_not():
    modules = ["tests/browser/test_home.py", "tests/smoke/test_fresh_install.py",
               "tests/smoke/test_import_check.py"]
    listed = subprocess.run(  # noqa: S603 - our own test suite
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "-m", "browser or slow", *modules],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    ids = [line.split("::")[0] for line in listed.stdout.splitlines() if "::" in line]
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert set(ids) == {"tests/browser/test_home.py", "tests/smoke/test_fresh_install.py"}
    assert "tests/smoke/test_import_check.py" not in ids
