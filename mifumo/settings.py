"""Mifumo's settings, read from the environment.

Two modes share this file (see ARCHITECTURE.md): *embedded* (the default: SQLite and a
private Redis in MIFUMO_DATA_DIR, nothing to configure) and *scale-out* (MIFUMO_MODE=scale-out:
PostgreSQL, a shared Redis and an explicit SECRET_KEY, all required).
"""

from __future__ import annotations

from datetime import timedelta

import dj_database_url

from mifumo.embedded import data_dir, embedded_secret_key, redis_socket_path
from mifumo.env import (
    FILE_EMAIL_BACKEND,
    ConfigurationError,
    EmailSettings,
    env_bool,
    env_decimal,
    env_email_url,
    env_int,
    env_rate,
    env_str,
    parse_email_url,
)
from mifumo.observability.logs import logging_config

MODE = env_str("MIFUMO_MODE", "embedded")
if MODE not in {"embedded", "scale-out"}:
    raise ConfigurationError(f"MIFUMO_MODE must be 'embedded' or 'scale-out', got {MODE!r}")
EMBEDDED = MODE == "embedded"
DATA_DIR = data_dir()


def _required_in_scale_out(name: str, embedded_default: str) -> str:
    value = env_str(name)
    if value:
        return value
    if EMBEDDED:
        return embedded_default
    raise ConfigurationError(f"{name} must be set when MIFUMO_MODE=scale-out")


SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not EMBEDDED:
        raise ConfigurationError("SECRET_KEY must be set when MIFUMO_MODE=scale-out")
    SECRET_KEY = embedded_secret_key(DATA_DIR)
if len(SECRET_KEY) < 32:
    # It signs every JWT (HS256): a short key can be brute-forced offline from one token.
    raise ConfigurationError("SECRET_KEY must be at least 32 characters long")
DEBUG = env_bool("MIFUMO_DEBUG", False)
ALLOWED_HOSTS = [h.strip() for h in env_str("ALLOWED_HOSTS", "*").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in (env_str("CSRF_TRUSTED_ORIGINS") or "").split(",") if o.strip()
]
if env_bool("MIFUMO_BEHIND_HTTPS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "mifumo.tenancy",
    "mifumo.contacts",
    "mifumo.delivery",
    "mifumo.messaging",
    "mifumo.web",
    "mifumo.communications",
]

MIDDLEWARE = [
    # First: even a refused body gets a request id, and every answer is counted.
    "mifumo.observability.middleware.RequestIdMiddleware",
    "mifumo.tenancy.middleware.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "mifumo.urls"
WSGI_APPLICATION = "mifumo.wsgi.application"
AUTH_USER_MODEL = "tenancy.User"
LOGIN_URL = "/login/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

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
                "mifumo.web.context.dashboard",
            ]
        },
    }
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = _required_in_scale_out("DATABASE_URL", f"sqlite:///{DATA_DIR / 'mifumo.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets the web, worker and scheduler processes read while one writes; IMMEDIATE
        # takes the write lock at BEGIN, so two writers queue on the busy timeout instead of
        # failing with "database is locked" when a read lock cannot be upgraded.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    # A file, not :memory:, so integration tests can share the test database with a worker.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-mifumo.sqlite3")}
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

# --- Redis: broker, shared counters (throttles, provider rate limits) and cache ----------------
_EMBEDDED_SOCKET = redis_socket_path(DATA_DIR)
REDIS_URL = _required_in_scale_out("REDIS_URL", f"unix://{_EMBEDDED_SOCKET}?db=0")
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or (
    f"redis+socket://{_EMBEDDED_SOCKET}" if REDIS_URL.startswith("unix://") else REDIS_URL
)
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "mifumo",
    }
}

# --- Celery: tuned so that no accepted task is lost -------------------------------------------
# Tasks are acknowledged after they run, and a task whose worker died goes back to the queue.
# On Redis, an unacknowledged task is redelivered once it is older than the visibility timeout;
# the restore check runs every few seconds, so a SIGKILLed worker's tasks come back within a
# minute. The rule that makes this safe: every task is short (time limits below) and claims its
# rows with a conditional UPDATE, so a redelivered copy of a task still running elsewhere finds
# nothing to do. Delays longer than the visibility timeout (retry backoff, schedules) are kept in
# the database and released by the scheduler, never held as Celery countdowns.
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 30, minimum=1)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 10
CELERY_MAX_COUNTDOWN = 20  # seconds; a task queued with a longer countdown is a bug
CELERY_VISIBILITY_TIMEOUT = env_int(
    "CELERY_VISIBILITY_TIMEOUT", 50, minimum=CELERY_TASK_TIME_LIMIT + 1
)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    "unacked_restore_interval": 5,
    "unacked_restore_throttle": 1,
}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE = {
    # Releases scheduled campaigns, reclaims expired leases, probes paused campaigns.
    "delivery-sweep": {"task": "mifumo.delivery.tasks.sweep", "schedule": 2.0},
    # Import jobs whose task was lost (a broker restart without persistence) are re-queued.
    "resume-stalled-imports": {
        "task": "mifumo.contacts.tasks.resume_stalled_imports",
        "schedule": 60.0,
    },
    # The contact triggers add a row per statement; the list sums a tenant's rows.
    "fold-contact-counts": {"task": "mifumo.contacts.tasks.fold_contact_counts", "schedule": 60.0},
    # Finished campaigns give back what failed messages reserved (messaging/services/billing).
    "settle-credits": {"task": "mifumo.messaging.tasks.settle_credits", "schedule": 30.0},
    "expire-idempotency-keys": {
        "task": "mifumo.messaging.tasks.expire_idempotency_keys",
        "schedule": 3600.0,
    },
    # Refresh tokens pile up in the blacklist app's tables; expired ones are useless.
    "flush-expired-tokens": {
        "task": "mifumo.tenancy.tasks.flush_expired_tokens",
        "schedule": 3600.0,
    },
}

# --- API --------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "mifumo.tenancy.auth.TenantJWTAuthentication",
        "mifumo.tenancy.auth.ApiKeyAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["mifumo.tenancy.permissions.IsTenantMember"],
    "DEFAULT_PARSER_CLASSES": ["mifumo.tenancy.parsers.BoundedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["mifumo.tenancy.renderers.FastJSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "mifumo.tenancy.pagination.PageNumberPagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "mifumo.tenancy.errors.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        # The spec's limits ("Rate Limits & Constraints"), per user.
        "contacts_bulk": env_rate("MIFUMO_RATE_CONTACTS_BULK", "10/min"),
        "sms_bulk": env_rate("MIFUMO_RATE_SMS_BULK", "5/min"),
        # Sign-up and login, per client address: slows password guessing.
        "auth": env_rate("MIFUMO_RATE_AUTH", "30/min"),
    },
    # Client addresses come from REMOTE_ADDR unless the operator says how many proxies to trust;
    # trusting X-Forwarded-For by default would let anyone dodge the per-address limits.
    "NUM_PROXIES": env_int("MIFUMO_NUM_PROXIES", 0, minimum=0),
    "PAGE_SIZE": 50,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
PAGE_SIZE_MAX = 500

# The spec's limits ("Rate Limits & Constraints"), in one place.
CONTACTS_BULK_MAX_IDS = 100  # bulk edit, delete and tag
CONTACTS_IMPORT_MAX_ROWS = 1000  # one bulk-import request; larger files go through import jobs
# Not in the spec: a contact search counts its matches up to this many ("count_capped").
CONTACTS_SEARCH_COUNT_CAP = env_int("MIFUMO_SEARCH_COUNT_CAP", 10_000, minimum=100)
SMS_BULK_SEND_MAX_RECIPIENTS = 10_000
SMS_UPLOAD_MAX_ROWS = 50_000
# Not in the spec: how many contacts one call adds to or removes from a group.
GROUP_MEMBERS_MAX_IDS = 1000
# Contact import jobs (not in the spec). Files are limited to MAX_UPLOAD_BYTES; an XLSX or
# ODS (a ZIP of XML) may unpack to at most this much, which bounds a ZIP bomb's cost.
CONTACTS_IMPORT_MAX_UNPACKED_BYTES = env_int(
    "MIFUMO_IMPORT_MAX_UNPACKED_BYTES", 256 * 1024 * 1024, minimum=1024 * 1024
)
CONTACTS_IMPORT_CHUNK_ROWS = 5000  # rows per transaction: a few statements each
# How long one import task works before it saves its place and queues the next one: well
# inside CELERY_TASK_SOFT_TIME_LIMIT, so a chunk in progress always finishes (0: one chunk).
CONTACTS_IMPORT_TASK_SECONDS = env_int("MIFUMO_IMPORT_TASK_SECONDS", 15, minimum=0)

# Request bodies: JSON up to 8 MB (10,000 bulk-send recipients with names fit in under 2 MB);
# multipart uploads up to the 10 MB file limit plus room for the form's other fields.
MAX_JSON_BODY_BYTES = env_int("MIFUMO_MAX_JSON_BODY_BYTES", 8 * 1024 * 1024, minimum=1024)
MAX_UPLOAD_BYTES = env_int("MIFUMO_MAX_UPLOAD_BYTES", 10 * 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_JSON_BODY_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# --- Credits ----------------------------------------------------------------------------------
# Off by default: a self-hosted organisation pays its SMS vendor directly. When on, every send
# is priced per segment and destination country (SmsPrice rows, else SMS_DEFAULT_PRICE),
# reserved from the tenant's balance when accepted, and settled when its campaign finishes.
BILLING_ENABLED = env_bool("MIFUMO_BILLING", False)
SIGNUP_CREDITS = env_decimal("MIFUMO_SIGNUP_CREDITS", "0", minimum="0")
SMS_DEFAULT_PRICE = env_decimal("MIFUMO_SMS_PRICE", "1", minimum="0")
# An Idempotency-Key's answer is kept this long; a retry after it is a new request.
IDEMPOTENCY_KEY_HOURS = env_int("MIFUMO_IDEMPOTENCY_KEY_HOURS", 24, minimum=1)

# --- Delivery ---------------------------------------------------------------------------------
# The platform's default SMS vendor: beem, arkesel, africastalking or twilio, configured by
# <VENDOR>_API_KEY, _SECRET_KEY, _USERNAME, _BASE_URL, _SENDER_ID, _RATE_LIMIT, _WEBHOOK_SECRET.
SMS_PROVIDER = env_str("SMS_PROVIDER", "beem")
# Where vendors reach this installation (delivery-report callbacks), e.g. https://sms.example.org
MIFUMO_PUBLIC_URL = env_str("MIFUMO_PUBLIC_URL", "")
DELIVERY = {
    "batch_size": env_int("MIFUMO_DISPATCH_BATCH", 500, minimum=1),
    # A dispatch task sends for at most this long, then re-queues itself behind other
    # campaigns' tasks: one tenant's 50,000 messages never hold another's 20 for long.
    "task_time_budget": float(env_int("MIFUMO_DISPATCH_TIME_BUDGET", 15, minimum=1)),
    # A claimed message whose worker has not reported within this long is reclaimed by the
    # scheduler: more than the time budget plus a vendor request's timeout.
    "lease_seconds": env_int("MIFUMO_DISPATCH_LEASE_SECONDS", 90, minimum=5),
    # The scheduler re-queues a campaign with due messages and no dispatch seen this long.
    "idle_seconds": float(env_int("MIFUMO_DISPATCH_IDLE_SECONDS", 20, minimum=1)),
    "max_attempts": 5,
    "retry_base_seconds": 5.0,
    "retry_max_seconds": 300.0,
    # Consecutive failed requests after which a campaign pauses instead of burning retries.
    "pause_after_failures": 3,
    # While paused, how often the scheduler asks the vendor whether it can send again.
    "probe_interval_seconds": float(env_int("MIFUMO_PROBE_SECONDS", 15, minimum=0)),
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 15, minimum=1)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_DAYS", 7, minimum=1)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": SECRET_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_AUTHENTICATION_RULE": "mifumo.tenancy.auth.user_can_authenticate",
    "TOKEN_REFRESH_SERIALIZER": "mifumo.tenancy.serializers.TokenRefreshSerializer",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Mifumo API",
    "DESCRIPTION": "Bulk SMS and e-mail for organisations: contacts, groups, campaigns.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a `status` or `channel` of their own choices: each gets its name.
    "ENUM_NAME_OVERRIDES": {
        "CampaignStatusEnum": "mifumo.delivery.models.CampaignStatus",
        "MessageStatusEnum": "mifumo.delivery.models.MessageStatus",
        "ChannelEnum": "mifumo.delivery.models.Channel",
        "SenderIdStatusEnum": "mifumo.messaging.models.SenderIdStatus",
        "ImportStatusEnum": "mifumo.contacts.imports.models.ImportStatus",
        "BulkMessageStatusEnum": "mifumo.communications.models.BulkMessageStatus",
    },
}

# --- E-mail: EMAIL_URL (smtp://user:pass@host:587?tls=1, smtps://…, console://, file:///dir) ---
# Unset in embedded mode, mails are written as files to MIFUMO_DATA_DIR/outbox instead of
# being sent (the smtp adapter logs where); unset in scale-out, Django's default applies: an
# MTA on localhost:25.
_email = env_email_url("EMAIL_URL")
EMAIL_OUTBOX = None
if _email is None:
    if EMBEDDED:
        EMAIL_OUTBOX = DATA_DIR / "outbox"
        _email = EmailSettings(FILE_EMAIL_BACKEND, file_path=str(EMAIL_OUTBOX))
    else:
        _email = parse_email_url("smtp://localhost:25")
EMAIL_BACKEND = _email.backend
EMAIL_HOST, EMAIL_PORT = _email.host or "localhost", _email.port or 25
EMAIL_HOST_USER, EMAIL_HOST_PASSWORD = _email.username, _email.password
EMAIL_USE_TLS, EMAIL_USE_SSL, EMAIL_TIMEOUT = _email.use_tls, _email.use_ssl, _email.timeout
if _email.file_path:
    EMAIL_FILE_PATH = _email.file_path
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Mifumo <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns on every start when it is missing
# Serve app static files straight from the installed packages: no collectstatic step to forget.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
# "text" (readable, the default) or "json" (one object a line, for a log collector). Every line
# carries the request id, also in the worker lines of the tasks a request queued.
LOG_FORMAT = env_str("LOG_FORMAT", "text").lower()
if LOG_FORMAT not in {"text", "json"}:
    raise ConfigurationError(f"LOG_FORMAT must be 'text' or 'json', got {LOG_FORMAT!r}")
LOGGING = logging_config(LOG_FORMAT, LOG_LEVEL)

# --- Metrics: /metrics in Prometheus' text format ----------------------------------------------
# With a token, scrapers send `Authorization: Bearer <token>` and nothing else gets in; without
# one, only local addresses (127.0.0.1, ::1) unless MIFUMO_METRICS_LOCAL_ONLY=false.
METRICS_TOKEN = env_str("MIFUMO_METRICS_TOKEN", "")
METRICS_LOCAL_ONLY = env_bool("MIFUMO_METRICS_LOCAL_ONLY", True)
# prometheus-client's multiprocess directory; `mifumo serve`, `web` and `worker` set it to
# MIFUMO_DATA_DIR/metrics when unset. Empty: this process's own metrics only.
PROMETHEUS_MULTIPROC_DIR = env_str("PROMETHEUS_MULTIPROC_DIR", "")
