#!/usr/bin/env bash
# Production web server: gunicorn behind a TLS-terminating reverse proxy.
#
#   SECRET_KEY=... ALLOWED_HOSTS=palate.example.org \
#   CSRF_TRUSTED_ORIGINS=https://palate.example.org SECURE_PROXY_SSL_HEADER=X-Forwarded-Proto NUM_PROXIES=1 \
#   DATABASE_URL=postgres://palate@db/palate CELERY_BROKER_URL=redis://redis:6379/0 \
#   REDIS_URL=redis://redis:6379/1 scripts/serve_prod.sh
#
# It refuses to start unless `check --deploy` is clean, applies migrations
# (SKIP_MIGRATE=1 when another process owns them), collects static files (served
# by WhiteNoise from gunicorn, compressed and with hashed names, so the proxy
# needs no static location), then replaces itself with gunicorn so signals
# from a process manager reach it directly. Celery workers and beat run as
# their own services (see README, "Security and operations").
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
BIN="$(dirname "$PY")"
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-config.settings}"

if [[ -z "${SECRET_KEY:-}" ]]; then
    echo "serve_prod.sh: SECRET_KEY is not set" >&2
    exit 2
fi
if [[ "${DEBUG:-0}" =~ ^(1|true|yes|on)$ ]]; then
    echo "serve_prod.sh: DEBUG is on; production never runs with DEBUG" >&2
    exit 2
fi

"$PY" manage.py check --deploy --fail-level WARNING
if [[ "${SKIP_MIGRATE:-0}" != "1" ]]; then
    "$PY" manage.py migrate --noinput
    # The database cache's table (the login budget's store when REDIS_URL is unset).
    "$PY" manage.py createcachetable
fi
"$PY" manage.py collectstatic --noinput --verbosity 0
exec "$BIN/gunicorn" --config config/gunicorn.conf.py config.wsgi:application "$@"
