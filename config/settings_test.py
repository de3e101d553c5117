"""Settings for the test suite: production settings plus test-only overrides.

PostgreSQL is used whenever it answers on localhost (always in CI, where a
missing server fails the run); otherwise an in-memory SQLite.
"""

import os
import tempfile
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "test-only-secret-key")
os.environ.setdefault("PALATE_VAR_DIR", tempfile.mkdtemp(prefix="palate-test-"))
# Experiment tracking is on by default in the product (MLflow to var/mlruns); the
# suite's many training runs skip it, tests/integrations/test_tracking.py turns it on.
os.environ.setdefault("PALATE_MLFLOW", "0")

from config.services import test_database_url  # noqa: E402

os.environ["DATABASE_URL"] = test_database_url()

from config.settings import *  # noqa: E402,F403

# Fast hashing in tests only; production keeps Argon2 first.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # noqa: S303
SESSION_COOKIE_SECURE = False
SECURE_SSL_REDIRECT = False  # the test client speaks plain HTTP
CSRF_COOKIE_SECURE = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
# One test database per pytest process, so parallel runs on one machine (a
# developer's and CI's, or benchmark and tests) never drop each other's.
DATABASES["default"]["TEST"] = {"NAME": f"test_palate_{os.getpid()}"}  # noqa: F405
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"login": "5/min"}  # noqa: F405
# One process: the local-memory cache is shared by the test client and the live
# server thread, and cache.clear() between tests stays cheap. Production's
# choice (Redis or the database) is checked by tests/security/test_deploy.py.
if not os.environ.get("REDIS_URL"):
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        # Not used by the test process: listed so that creating the test database
        # also creates production's cache table, which gunicorn and Celery
        # workers started on it with production settings (tests/integration,
        # tests/faults) count the login budget and redeliveries in.
        "production-table": {"BACKEND": "django.core.cache.backends.db.DatabaseCache",
                             "LOCATION": "palate_cache"},
    }
# Unit tests run tasks in-process; tests/integration/ starts real workers and
# turns this off for its own app configuration.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
EXPORTS_DIR = Path(os.environ["PALATE_VAR_DIR"]) / "exports"
PALATE_UPLOADS_DIR = Path(os.environ["PALATE_VAR_DIR"]) / "uploads"
