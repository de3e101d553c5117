import functools
import subprocess
from pathlib import Path

VERSION = "0.1.0"


@functools.cache
def code_version() -> str:
    """The release plus the git commit when the code runs from a checkout."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(  # noqa: S603
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True,  # noqa: S607
            text=True, timeout=5, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return VERSION
    return f"{VERSION}+{commit}"
