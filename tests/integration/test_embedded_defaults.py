"""config.settings as a fresh process sees it: embedded defaults with no
service configured, and refusal to start on unsafe production settings."""

import json
import os
import subprocess
import sys

from django.conf import settings

SHOW_SETTINGS = """
import json
import django
django.setup()
from django.conf import settings
print(json.dumps({
    "engine": settings.DATABASES["default"]["ENGINE"],
    "name": str(settings.DATABASES["default"]["NAME"]),
    "broker": settings.CELERY_BROKER_URL,
    "queue_folder": settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"],
}))
"""


def run_clean(args: list[str], **env: str) -> subprocess.CompletedProcess:
    """Run Python in the project root with nothing of this process's settings
    environment (no DATABASE_URL, CELERY_BROKER_URL, SECRET_KEY, DEBUG…)."""
    clean = {"PATH": os.environ.get("PATH", ""), "DJANGO_SETTINGS_MODULE": "config.settings",
             "PYTHONDONTWRITEBYTECODE": "1", **env}
    return subprocess.run([sys.executable, *args], cwd=settings.BASE_DIR, env=clean,  # noqa: S603
                          capture_output=True, text=True, timeout=120, check=False)


def test_no_service_settings_mean_a_sqlite_file_and_the_filesystem_broker(tmp_path):
    var = tmp_path / "fresh" / "var"  # absent, as on a fresh clone
    result = run_clean(["-c", SHOW_SETTINGS], DEBUG="1", PALATE_VAR_DIR=str(var))
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["engine"] == "django.db.backends.sqlite3"
    assert found["name"] == str(var / "palate.sqlite3")
    assert var.is_dir()  # SQLite cannot create the folder itself
    assert found["broker"] == "filesystem://localhost/"
    assert found["queue_folder"] == str(var / "broker" / "queue")


def test_missing_secret_key_with_debug_off_refuses_to_start(tmp_path):
    result = run_clean(["manage.py", "check"], PALATE_VAR_DIR=str(tmp_path))
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_missing_secret_key_is_allowed_with_debug_on(tmp_path):
    result = run_clean(["manage.py", "check"], DEBUG="1", PALATE_VAR_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr


def test_wildcard_allowed_hosts_is_refused(tmp_path):
    result = run_clean(["manage.py", "check"], SECRET_KEY="x" * 50, ALLOWED_HOSTS="example.org,*",
                       PALATE_VAR_DIR=str(tmp_path))
    assert result.returncode != 0
    assert "ALLOWED_HOSTS" in result.stderr


SHOW_KEY = """
import django
django.setup()
from django.conf import settings
print(settings.SECRET_KEY)
"""


def test_the_first_debug_start_keeps_a_secret_key_that_later_commands_reuse(tmp_path):
    var = tmp_path / "var"
    first = run_clean(["-c", SHOW_KEY], DEBUG="1", PALATE_VAR_DIR=str(var))
    assert first.returncode == 0, first.stderr
    key_file = var / "secret_key"
    assert key_file.stat().st_mode & 0o077 == 0  # readable by its owner only
    key = key_file.read_text().strip()
    assert len(key) >= 50 and first.stdout.strip() == key
    # A README command as written (no DEBUG=1) on that install reads the same key.
    later = run_clean(["-c", SHOW_KEY], PALATE_VAR_DIR=str(var))
    assert later.returncode == 0, later.stderr
    assert later.stdout.strip() == key


def test_an_explicit_secret_key_wins_over_the_embedded_one(tmp_path):
    var = tmp_path / "var"
    assert run_clean(["-c", SHOW_KEY], DEBUG="1", PALATE_VAR_DIR=str(var)).returncode == 0
    result = run_clean(["-c", SHOW_KEY], SECRET_KEY="k" * 60, PALATE_VAR_DIR=str(var))
    assert result.stdout.strip() == "k" * 60
