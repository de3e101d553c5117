"""Production settings as a fresh process sees them: Django's deployment
checks pass, unsafe settings fail them, no secret key means no start, and
gunicorn (scripts/serve_prod.sh) answers with the security headers."""

import importlib.util
import os
import subprocess
import sys

import pytest
from django.conf import settings

ROOT = settings.BASE_DIR
_spec = importlib.util.spec_from_file_location("prod_check", ROOT / "scripts" / "prod_check.py")
prod_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(prod_check)


def run(args: list[str], env: dict[str, str], timeout: int = 180) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True,  # noqa: S603
                          timeout=timeout, check=False)


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    return run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)


def test_check_deploy_passes_with_production_settings(tmp_path):
    result = check_deploy(prod_check.production_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("variable", "value", "check_id"), [
    ("SECURE_COOKIES", "0", "security.W012"),
    ("SECURE_HSTS_SECONDS", "0", "security.W004"),
    ("SECURE_SSL_REDIRECT", "0", "security.W008"),
    ("SECRET_KEY", "short", "security.W009"),
])
def test_check_deploy_fails_when_a_protection_is_turned_off(tmp_path, variable, value, check_id):
    env = prod_check.production_env(tmp_path) | {variable: value}
    result = check_deploy(env)
    assert result.returncode != 0
    assert check_id in result.stderr


@pytest.mark.parametrize("command", [
    [sys.executable, "-c", "import config.wsgi"],  # what gunicorn imports
    ["bash", "scripts/serve_prod.sh"],
])
def test_production_refuses_to_start_without_a_secret_key(tmp_path, command):
    env = prod_check.production_env(tmp_path)
    del env["SECRET_KEY"]
    result = run(command, env)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
    assert not (tmp_path / "palate.sqlite3").exists()  # nothing ran: no migration


def test_serve_prod_refuses_debug(tmp_path):
    result = run(["bash", "scripts/serve_prod.sh"], prod_check.production_env(tmp_path) | {"DEBUG": "1"})
    assert result.returncode == 2
    assert "DEBUG" in result.stderr


def test_proxy_ssl_header_comes_from_the_environment(tmp_path):
    show = ("import django; django.setup(); from django.conf import settings as s; "
            "print(getattr(s, 'SECURE_PROXY_SSL_HEADER', None))")
    env = prod_check.production_env(tmp_path)
    assert run([sys.executable, "-c", show], env).stdout.strip() == \
        "('HTTP_X_FORWARDED_PROTO', 'https')"
    del env["SECURE_PROXY_SSL_HEADER"]
    assert run([sys.executable, "-c", show], env).stdout.strip() == "None"


def test_gunicorn_smoke_start_serves_pages_with_security_headers():
    """scripts/prod_check.py (make prod-check): check --deploy, then serve_prod.sh
    starts gunicorn; /healthz answers, /login/ carries HSTS, CSP, nosniff and
    frame denial, plain HTTP is redirected and unknown hosts are refused. Slow
    (about a minute of CPU): collectstatic compresses every static file."""
    result = run([sys.executable, "scripts/prod_check.py"],
                 {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "gunicorn smoke start" in result.stdout


# ----- proxy and cache settings the login budget relies on -----


def test_check_deploy_fails_behind_a_tls_proxy_without_a_proxy_count(tmp_path):
    """With SECURE_PROXY_SSL_HEADER but no NUM_PROXIES every client has the
    proxy's address: one guesser would spend everyone's login budget."""
    env = prod_check.production_env(tmp_path)
    del env["NUM_PROXIES"]
    result = check_deploy(env)
    assert result.returncode != 0
    assert "palate.E002" in result.stderr


def test_check_deploy_fails_with_a_proxy_count_but_no_proxy(tmp_path):
    env = prod_check.production_env(tmp_path)
    del env["SECURE_PROXY_SSL_HEADER"]
    result = check_deploy(env)
    assert result.returncode != 0
    assert "palate.E003" in result.stderr


def test_check_deploy_fails_on_a_per_process_cache(tmp_path):
    (tmp_path / "locmem_settings.py").write_text(
        "from config.settings import *  # noqa\n"
        "CACHES = {'default': {'BACKEND': 'django.core.cache.backends.locmem.LocMemCache'}}\n")
    env = prod_check.production_env(tmp_path) | {"DJANGO_SETTINGS_MODULE": "locmem_settings",
                                                 "PYTHONPATH": str(tmp_path)}
    result = check_deploy(env)
    assert result.returncode != 0
    assert "palate.E001" in result.stderr


def test_production_uses_a_shared_cache(tmp_path):
    show = ("import django; django.setup(); from django.conf import settings as s; "
            "print(s.CACHES['default']['BACKEND'])")
    env = prod_check.production_env(tmp_path)
    assert run([sys.executable, "-c", show], env).stdout.strip() == \
        "django.core.cache.backends.db.DatabaseCache"
    env["REDIS_URL"] = "redis://127.0.0.1:6379/9"
    assert run([sys.executable, "-c", show], env).stdout.strip() == \
        "django.core.cache.backends.redis.RedisCache"


def test_the_login_budget_is_shared_by_web_processes(tmp_path):
    """Two processes with production settings (the database cache, as
    serve_prod.sh sets it up) spend one budget of 10 attempts a minute: the
    second process is refused after the first spent 7."""
    env = prod_check.production_env(tmp_path)
    assert run([sys.executable, "manage.py", "createcachetable"], env).returncode == 0
    attempts = ("import django; django.setup()\n"
                "from django.test import RequestFactory\n"
                "from annotation.login_throttle import login_attempt_take\n"
                "request = RequestFactory().post('/login/', REMOTE_ADDR='198.51.100.7')\n"
                "print(sum(login_attempt_take(request=request, username='x') is None "
                "for _ in range(7)))\n")
    first = run([sys.executable, "-c", attempts], env)
    second = run([sys.executable, "-c", attempts], env)
    assert first.returncode == 0, first.stderr
    assert (first.stdout.strip(), second.stdout.strip()) == ("7", "3")


def test_the_test_database_has_productions_cache_table(db):
    """gunicorn and Celery workers that tests start with production settings
    count the login budget and redeliveries in this table."""
    from django.db import connection

    assert "palate_cache" in connection.introspection.table_names()
