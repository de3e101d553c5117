"""Palate settings: one module, driven by environment variables.

Embedded defaults (SQLite file, filesystem Celery broker) let `make run` work on
a laptop with no server; production sets DATABASE_URL and CELERY_BROKER_URL.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_json, env_list, env_str
from config.secret_key import secret_key_create, secret_key_read

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("PALATE_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)

# SECRET_KEY from the environment; else the embedded install's key under var/
# (config/secret_key.py), which `make run` (DEBUG on) creates on its first start.
# With neither, outside DEBUG, refuse to start: production sets SECRET_KEY.
SECRET_KEY = env_str("SECRET_KEY") or secret_key_read(var_dir=VAR_DIR)
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            f"SECRET_KEY must be set when DEBUG is off (or run `make run` once, which keeps a "
            f"generated key in {VAR_DIR / 'secret_key'} for the embedded default)")
    SECRET_KEY = secret_key_create(var_dir=VAR_DIR)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
if "*" in ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must name hosts; '*' is refused")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "annotation",
    "generation",
    "arena",
    "training",
    "frontend",
    "audit",
    "integrations",
]

MIDDLEWARE = [
    "integrations.metrics.middleware.RequestMetricsMiddleware",  # first: it times the whole request
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "audit.context.AuditContextMiddleware",  # client address for audit events
    "django.contrib.messages.middleware.MessageMiddleware",
    "frontend.middleware.LoginThrottleStatusMiddleware",  # a login form refused by the budget: 429
    "config.request_guards.RequestGuardMiddleware",  # ids past 64 bits, NUL in queries
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "frontend.middleware.ContentSecurityPolicyMiddleware",
    # Last, so its process_exception sees a view's database error first: 503, not 500.
    "config.db_unavailable.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'palate.sqlite3'}"),
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        # A persistent connection is checked before a request reuses it, so a
        # restarted PostgreSQL costs no failed request once it is back.
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite creates the file but not its folder (var/ is absent on a fresh clone).
    if str(DATABASES["default"]["NAME"]) not in ("", ":memory:"):
        Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # WAL and a busy timeout let the web server and the worker share the file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# The model backend behind the login budget (annotation/login_throttle.py):
# every password check, whichever page or API asks, spends from one budget.
AUTHENTICATION_BACKENDS = ["annotation.auth_backends.ThrottledModelBackend"]
# Per account: this many different addresses failing on one username within
# the window lock that username for the rest of it (one address cannot).
LOGIN_ACCOUNT_MAX_ADDRESSES = env_int("LOGIN_ACCOUNT_MAX_ADDRESSES", 10)
LOGIN_ACCOUNT_WINDOW_SECONDS = env_int("LOGIN_ACCOUNT_WINDOW_SECONDS", 900)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# OpenID Connect sign-in (integrations/oidc, mozilla-django-oidc), off unless
# PALATE_OIDC is on. The endpoints are the provider's discovery document's
# (/.well-known/openid-configuration). ID tokens are RS256 by default, checked
# against the provider's JWKS, with state, nonce, issuer, audience and expiry.
# PALATE_OIDC_ROLE_MAP maps a group claim value to project roles, JSON:
# {"annotators": {"demo-pairwise": "labeler"}, "ml-team": {"demo-pairwise": "engineer"}};
# the projects it names are managed by sign-in (roles set, and removed when the
# groups no longer grant one); others are left to their admins. Local passwords
# stay available unless PALATE_LOCAL_PASSWORDS is off (API tokens are unaffected).
PALATE_OIDC = env_bool("PALATE_OIDC", False)
PALATE_OIDC_PROVIDER_NAME = env_str("PALATE_OIDC_PROVIDER_NAME", "single sign-on")
PALATE_OIDC_ISSUER = env_str("OIDC_OP_ISSUER", "")
PALATE_OIDC_GROUPS_CLAIM = env_str("PALATE_OIDC_GROUPS_CLAIM", "groups")
PALATE_OIDC_ROLE_MAP = env_json("PALATE_OIDC_ROLE_MAP", {})
PALATE_LOCAL_PASSWORDS = env_bool("PALATE_LOCAL_PASSWORDS", True)
OIDC_RP_CLIENT_ID = env_str("OIDC_RP_CLIENT_ID", "")
OIDC_RP_CLIENT_SECRET = env_str("OIDC_RP_CLIENT_SECRET", "")
OIDC_RP_SIGN_ALGO = env_str("OIDC_RP_SIGN_ALGO", "RS256")
OIDC_RP_SCOPES = env_str("OIDC_RP_SCOPES", "openid email profile groups")
OIDC_OP_AUTHORIZATION_ENDPOINT = env_str("OIDC_OP_AUTHORIZATION_ENDPOINT", "")
OIDC_OP_TOKEN_ENDPOINT = env_str("OIDC_OP_TOKEN_ENDPOINT", "")
OIDC_OP_USER_ENDPOINT = env_str("OIDC_OP_USER_ENDPOINT", "")
OIDC_OP_JWKS_ENDPOINT = env_str("OIDC_OP_JWKS_ENDPOINT", "")
OIDC_USE_PKCE = env_bool("OIDC_USE_PKCE", True)
OIDC_TIMEOUT = env_int("OIDC_TIMEOUT", 10)
LOGIN_REDIRECT_URL_FAILURE = "/login/?sso=failed"
if PALATE_OIDC:
    missing = [name for name in ("OIDC_RP_CLIENT_ID", "OIDC_RP_CLIENT_SECRET",
                                 "OIDC_OP_AUTHORIZATION_ENDPOINT", "OIDC_OP_TOKEN_ENDPOINT",
                                 "OIDC_OP_USER_ENDPOINT", "OIDC_OP_JWKS_ENDPOINT") if not globals()[name]]
    if missing:
        raise ImproperlyConfigured(f"PALATE_OIDC is on but {', '.join(missing)} not set")
    AUTHENTICATION_BACKENDS = ["integrations.oidc.backend.PalateOIDCBackend", *AUTHENTICATION_BACKENDS]
if not PALATE_LOCAL_PASSWORDS:
    if not PALATE_OIDC:
        raise ImproperlyConfigured("PALATE_LOCAL_PASSWORDS is off and PALATE_OIDC is not on: "
                                   "nobody could sign in")
    AUTHENTICATION_BACKENDS = [backend for backend in AUTHENTICATION_BACKENDS
                               if backend != "annotation.auth_backends.ThrottledModelBackend"]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
# HTTPS outside DEBUG: plain HTTP is redirected (except the health probe, which
# load balancers send over HTTP) and browsers are told to stay on HTTPS.
# Loopback tools that serve plain HTTP set SECURE_SSL_REDIRECT=0.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Behind a TLS-terminating proxy, name the header it sets (e.g. X-Forwarded-Proto)
# so Django knows the request was HTTPS. Only set it when that proxy overwrites
# the header: otherwise a client could claim HTTPS itself.
_proxy_ssl_header = env_str("SECURE_PROXY_SSL_HEADER", "")
if _proxy_ssl_header:
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https")
# Preload lists are opt-in per domain and hard to leave: the operator decides
# (SECURE_HSTS_PRELOAD=1), so the check's preload reminder is not a failure.
SILENCED_SYSTEM_CHECKS = ["security.W021"]
# Admin-issued password-reset links (annotation/services/users.py) last this long.
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT_HOURS", 24) * 3600

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "annotation.api.authentication.HashedTokenAuthentication",
        # SessionAuthentication enforces CSRF for session-authenticated writes.
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "annotation.api.pagination.PalatePagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "annotation.api.exception_handler.palate_exception_handler",
    # JSON nested past the interpreter's recursion limit is a 400, not a 500.
    "DEFAULT_PARSER_CLASSES": ["annotation.api.parsers.BoundedJSONParser",
                               "rest_framework.parsers.FormParser",
                               "rest_framework.parsers.MultiPartParser"],
    "DEFAULT_THROTTLE_RATES": {"login": env_str("LOGIN_THROTTLE_RATE", "10/min")},
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Behind N reverse proxies, throttles read the client from X-Forwarded-For;
    # unset, only REMOTE_ADDR counts (a client cannot forge its way past them).
    "NUM_PROXIES": env_int("NUM_PROXIES", 0) or None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Palate API",
    "DESCRIPTION": "Human preference annotation for LLM alignment.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from the installed sidecar package: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        # Choice sets with equal values share one name (drf-spectacular hashes
        # the values, so two names for one set is an error in check --deploy).
        "SourceEnum": "annotation.models.AnnotationSource",  # = ResponseSource
        "JobStatusEnum": "training.models.RunStatus",  # = generation.models.JobStatus
        "MemberRoleEnum": "annotation.models.Role",
        "ModelRoleEnum": "generation.models.ModelRole",
        "JobKindEnum": "generation.models.JobKind",
        "RunKindEnum": "training.models.RunKind",
        "JobStrategyEnum": "generation.models.Strategy",  # requests also accept best_of_n
        "ConsensusMethodEnum": "annotation.models.ConsensusMethod",  # a project's default, the quality method
    },
}

EXPORTS_DIR = Path(env_str("PALATE_EXPORTS_DIR", str(VAR_DIR / "exports")))
# An export heartbeats every 10,000 rows and before it packs its archive: one not heard
# of for this long is taken for dead and requeued (it must exceed the longest packing).
PALATE_EXPORT_STALE_SECONDS = env_int("PALATE_EXPORT_STALE_SECONDS", 3600)

# restore_project reads a gzip'd backup into memory: at most this much once
# decompressed (gzip expands a thousandfold; a bomb is refused, not swallowed).
PALATE_RESTORE_MAX_BYTES = env_int("PALATE_RESTORE_MAX_BYTES", 2 * 2**30)

# API tokens: stored hashed; a token older than this is refused.
API_TOKEN_TTL = timedelta(days=env_int("API_TOKEN_TTL_DAYS", 90))

# The login budget lives in this cache, so every web process must see the same
# one: Redis when configured, else (DEBUG off) a table in the database
# (`createcachetable`, run by serve_prod.sh). A per-process cache would give
# each gunicorn worker its own budget; check --deploy refuses it
# (annotation/checks.py). Only `make run` (DEBUG, one process) uses local memory.
if env_str("REDIS_URL"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": env_str("REDIS_URL")}}
elif DEBUG:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache",
                          "LOCATION": "palate_cache"}}

# Celery. The embedded default is kombu's filesystem transport: a real worker
# with no broker server. Producers and the worker must share the same folder.
BROKER_DIR = VAR_DIR / "broker"
# The host part means nothing to this transport; naming one keeps kombu from
# warning "No hostname was supplied" on every command that queues a task.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://localhost/")
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "reclaim-expired-leases": {
        "task": "annotation.tasks.leases_reclaim_expired_task",
        "schedule": env_int("LEASE_RECLAIM_SECONDS", 30),
    },
}
CELERY_TIMEZONE = TIME_ZONE

# Generation (the `generation` app). Checkpoints materialized by
# `manage.py bootstrap_models` live under PALATE_MODELS_DIR; generation tasks
# run on their own queue so a GPU host can consume only that one.
PALATE_MODELS_DIR = Path(env_str("PALATE_MODELS_DIR", str(VAR_DIR / "models")))
# Compute threads per Celery worker process for torch/tokenizers (0: the libraries'
# default, one per core). `make run` gives the generation and training workers a
# share of the cores each (config/worker_threads.py).
PALATE_TORCH_THREADS = env_int("PALATE_TORCH_THREADS", 0)
PALATE_GENERATION_BACKEND = env_str("PALATE_GENERATION_BACKEND", "transformers")
PALATE_VLLM_URL = env_str("PALATE_VLLM_URL", "http://127.0.0.1:8001/v1")
PALATE_VLLM_API_KEY = env_str("PALATE_VLLM_API_KEY", "")
PALATE_VLLM_PYTHON = env_str("PALATE_VLLM_PYTHON", str(BASE_DIR / ".venv-vllm" / "bin" / "python"))
PALATE_VLLM_TIMEOUT_S = env_int("PALATE_VLLM_TIMEOUT_S", 300)
PALATE_VLLM_MAX_CONCURRENCY = env_int("PALATE_VLLM_MAX_CONCURRENCY", 8)
PALATE_VLLM_RETRIES = env_int("PALATE_VLLM_RETRIES", 3)
PALATE_GENERATION_STALE_SECONDS = env_int("PALATE_GENERATION_STALE_SECONDS", 900)
# Arena streams (arena/services/limits.py): at most this many concurrent streams
# per generation server; a turn ends after TURN_TIMEOUT_S, or when no token came
# for TOKEN_TIMEOUT_S. Together with max_output_tokens they bound how long a
# gunicorn sync worker is held by one stream.
PALATE_ARENA_MAX_STREAMS = env_int("PALATE_ARENA_MAX_STREAMS", 8)
PALATE_ARENA_TURN_TIMEOUT_S = env_int("PALATE_ARENA_TURN_TIMEOUT_S", 120)
PALATE_ARENA_TOKEN_TIMEOUT_S = env_int("PALATE_ARENA_TOKEN_TIMEOUT_S", 60)
CELERY_TASK_ROUTES = {"generation.tasks.generation_job_run_task": {"queue": "generation"}}
CELERY_BEAT_SCHEDULE["requeue-stale-generation-jobs"] = {
    "task": "generation.tasks.generation_jobs_requeue_stale_task",
    "schedule": env_int("PALATE_GENERATION_WATCHDOG_SECONDS", 300),
}

# Training (the `training` app). Runs go to their own queue, served by
# `celery -A config worker -Q gpu --pool solo --concurrency 1` (one run per GPU);
# acks late and prefetch 1 above apply. Soft/hard limits: Celery enforces them on
# prefork workers; under --pool solo the trainer checks the soft one (checkpoint,
# then fail) and the watchdog fails a run past the hard one.
PALATE_TRAINING_DIR = Path(env_str("PALATE_TRAINING_DIR", str(VAR_DIR / "training")))
PALATE_TRAINING_QUEUE = env_str("PALATE_TRAINING_QUEUE", "gpu")
PALATE_TRAINING_REWARD_BACKBONE = env_str("PALATE_TRAINING_REWARD_BACKBONE", "all-minilm-l6-v2")
PALATE_TRAINING_SOFT_TIME_LIMIT = env_int("PALATE_TRAINING_SOFT_TIME_LIMIT", 6 * 3600)
PALATE_TRAINING_TIME_LIMIT = env_int("PALATE_TRAINING_TIME_LIMIT", PALATE_TRAINING_SOFT_TIME_LIMIT + 900)
PALATE_TRAINING_HEARTBEAT_SECONDS = env_int("PALATE_TRAINING_HEARTBEAT_SECONDS", 10)
PALATE_TRAINING_STALE_SECONDS = env_int("PALATE_TRAINING_STALE_SECONDS", 300)
PALATE_TRAINING_MAX_ATTEMPTS = env_int("PALATE_TRAINING_MAX_ATTEMPTS", 3)
CELERY_TASK_ROUTES["training.tasks.training_run_task"] = {"queue": PALATE_TRAINING_QUEUE}
CELERY_BEAT_SCHEDULE["requeue-stale-training-runs"] = {
    "task": "training.tasks.training_runs_requeue_stale_task",
    "schedule": env_int("PALATE_TRAINING_WATCHDOG_SECONDS", 60),
}
# The closed loop (training/loop): a round trains inside its task, so it goes to
# the training queue; the sweep sends rounds whose worker died back to one.
CELERY_TASK_ROUTES["training.loop_tasks.loop_round_advance_task"] = {"queue": PALATE_TRAINING_QUEUE}
CELERY_BEAT_SCHEDULE["resume-stale-loop-rounds"] = {
    "task": "training.loop_tasks.loop_rounds_resume_stale_task",
    "schedule": env_int("PALATE_LOOP_SWEEP_SECONDS", 120),
}

# Redelivery (config/redelivery.py): the database, not the broker, is the source of
# truth. Runs, jobs and exports still queued this long after they were sent are
# sent again, in case the broker lost the message (a Redis restart without
# persistence); a duplicate delivery finds nothing to claim. Exports running
# past PALATE_EXPORT_STALE_SECONDS are requeued by their own watchdog.
PALATE_REDELIVERY_AFTER_SECONDS = env_int("PALATE_REDELIVERY_AFTER_SECONDS", 600)
CELERY_IMPORTS = ["config.redelivery"]
CELERY_BEAT_SCHEDULE["requeue-forgotten-jobs"] = {
    "task": "config.redelivery.requeue_forgotten_task",
    "schedule": env_int("PALATE_REDELIVERY_SWEEP_SECONDS", 120),
}
CELERY_BEAT_SCHEDULE["requeue-stale-exports"] = {
    "task": "annotation.tasks.dataset_exports_requeue_stale_task",
    "schedule": env_int("PALATE_EXPORT_WATCHDOG_SECONDS", 300),
}

# Uploads larger than this are stored under PALATE_UPLOADS_DIR (shared by the web
# processes and the workers) and imported by a worker, with progress on the data
# page; smaller ones are imported in the request. An upload not heard of for
# PALATE_UPLOAD_STALE_SECONDS is taken for dead and requeued.
PALATE_UPLOAD_ASYNC_BYTES = env_int("PALATE_UPLOAD_ASYNC_BYTES", 2 * 2**20)
PALATE_UPLOADS_DIR = Path(env_str("PALATE_UPLOADS_DIR", str(VAR_DIR / "uploads")))
PALATE_UPLOAD_STALE_SECONDS = env_int("PALATE_UPLOAD_STALE_SECONDS", 600)
CELERY_BEAT_SCHEDULE["requeue-stale-uploads"] = {
    "task": "annotation.tasks.upload_jobs_requeue_stale_task",
    "schedule": env_int("PALATE_UPLOAD_WATCHDOG_SECONDS", 300),
}

# Integrations (integrations/): signed webhooks. Targets on loopback, private or
# link-local addresses are refused unless PALATE_WEBHOOK_ALLOW_PRIVATE is on.
PALATE_WEBHOOK_ALLOW_PRIVATE = env_bool("PALATE_WEBHOOK_ALLOW_PRIVATE", False)
PALATE_WEBHOOK_TIMEOUT_SECONDS = env_int("PALATE_WEBHOOK_TIMEOUT_SECONDS", 10)
PALATE_WEBHOOK_MAX_ATTEMPTS = env_int("PALATE_WEBHOOK_MAX_ATTEMPTS", 8)
PALATE_WEBHOOK_BACKOFF_SECONDS = env_int("PALATE_WEBHOOK_BACKOFF_SECONDS", 30)
PALATE_WEBHOOK_BACKOFF_MAX_SECONDS = env_int("PALATE_WEBHOOK_BACKOFF_MAX_SECONDS", 6 * 3600)
PALATE_WEBHOOK_QUEUE_EMPTY_SECONDS = env_int("PALATE_WEBHOOK_QUEUE_EMPTY_SECONDS", 3600)
CELERY_BEAT_SCHEDULE["webhook-deliveries-sweep"] = {
    "task": "integrations.tasks.webhook_deliveries_sweep_task",
    "schedule": env_int("PALATE_WEBHOOK_SWEEP_SECONDS", 60),
}
# Prometheus metrics at /metrics (integrations/metrics): a bearer token, or a client
# address in the allow-list (loopback under DEBUG, nobody otherwise: behind a local
# proxy every request comes from loopback). Web and worker processes write their
# instruments to one multiprocess directory, which prometheus-client reads from
# the environment when it is imported: set here, before any app imports it.
PALATE_METRICS_TOKEN = env_str("PALATE_METRICS_TOKEN", "")
PALATE_METRICS_ALLOW = env_list("PALATE_METRICS_ALLOW", ["127.0.0.1", "::1"] if DEBUG else [])
PALATE_METRICS_DIR = Path(env_str("PROMETHEUS_MULTIPROC_DIR", str(VAR_DIR / "metrics")))
PALATE_METRICS_DIR.mkdir(parents=True, exist_ok=True)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(PALATE_METRICS_DIR)
PALATE_WORKER_HEARTBEAT_SECONDS = env_int("PALATE_WORKER_HEARTBEAT_SECONDS", 15)

# Experiment tracking (integrations/tracking): training runs and loop rounds log
# their parameters, per-step metrics, the snapshot as dataset input, the final
# evaluation and the model folder. MLflow is on by default, to a local file store
# under var/ (MLFLOW_TRACKING_URI names a server instead; `mlflow ui
# --backend-store-uri var/mlruns` browses the local one). W&B is off unless
# PALATE_WANDB is on: offline runs under var/wandb (`wandb sync` uploads them
# later), online when WANDB_API_KEY is set (or WANDB_MODE says so). A tracker that
# fails is logged and shown on the run; the run goes on.
PALATE_MLFLOW = env_bool("PALATE_MLFLOW", True)
PALATE_MLFLOW_TRACKING_URI = env_str("MLFLOW_TRACKING_URI", "") or (VAR_DIR / "mlruns").as_uri()
PALATE_MLFLOW_EXPERIMENT_PREFIX = env_str("PALATE_MLFLOW_EXPERIMENT_PREFIX", "palate-")
PALATE_TRACKING_LOG_MODEL = env_bool("PALATE_TRACKING_LOG_MODEL", True)
PALATE_WANDB = env_bool("PALATE_WANDB", False)
PALATE_WANDB_PROJECT = env_str("WANDB_PROJECT", "palate")
PALATE_WANDB_ENTITY = env_str("WANDB_ENTITY", "")
PALATE_WANDB_DIR = Path(env_str("WANDB_DIR", str(VAR_DIR / "wandb")))
PALATE_WANDB_MODE = env_str("WANDB_MODE", "") or ("online" if env_str("WANDB_API_KEY") else "offline")
if PALATE_WANDB_MODE not in ("online", "offline", "disabled"):
    raise ImproperlyConfigured(f"WANDB_MODE={PALATE_WANDB_MODE!r}: use online, offline or disabled")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # httpx logs every request at INFO: one line per generated prompt.
    "loggers": {"httpx": {"level": "WARNING"}},
}
