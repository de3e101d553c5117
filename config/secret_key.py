"""The embedded default's secret key: generated once under var/, then reused.

`make run` (DEBUG on) creates `var/secret_key` on its first start, so every
`manage.py` command the README shows works on that install as written, DEBUG
or not, and sessions survive a restart. A production deployment sets
SECRET_KEY itself: `scripts/serve_prod.sh` refuses to start without it, and
with neither the variable nor the file the settings refuse to load.
"""

import os
import secrets
from pathlib import Path

FILE_NAME = "secret_key"


def secret_key_read(*, var_dir: Path) -> str | None:
    """The key kept under var_dir, or None when there is none (or it is empty)."""
    try:
        key = (var_dir / FILE_NAME).read_text().strip()
    except FileNotFoundError:
        return None
    return key or None


def secret_key_create(*, var_dir: Path) -> str:
    """Write a new random key readable by its owner only; keep one a racing
    process wrote first (the web server, worker and beat start together)."""
    var_dir.mkdir(parents=True, exist_ok=True)
    path = var_dir / FILE_NAME
    key = secrets.token_urlsafe(50)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return secret_key_read(var_dir=var_dir) or key
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return key
