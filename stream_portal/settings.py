"""Stream Portal settings: one file, driven by the environment variables listed in docs/operations.md.

Every variable is read through a small helper that refuses bad values at start-up, so a
typo in production fails loudly instead of running with a surprising default.
"""

import os
import re
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)  # the demo database, broker files and beat schedule live here


def envstr(name, default):
    return os.environ.get(name, default)


def envbool(name, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def envint(name, default, minimum=0):
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}")
    if number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}")
    return number


def envlist(name, default):
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def envretries(name, default):
    """A comma-separated list of whole seconds, e.g. "5,300,1800"."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        seconds = [int(item) for item in value.split(",")]
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be comma-separated whole seconds, not {value!r}")
    if any(s < 0 for s in seconds):
        raise ImproperlyConfigured(f"{name} must not contain negative numbers")
    return seconds


def envrate(name, default):
    """A DRF throttle rate such as "600/min" (periods: sec, min, hour, day)."""
    value = os.environ.get(name) or default
    if not re.fullmatch(r"\d+/(s|sec|second|m|min|minute|h|hour|d|day)", value.strip()):
        raise ImproperlyConfigured(f"{name} must look like 600/min (per sec, min, hour or day), not {value!r}")
    return value.strip()


def envcache(name, default):
    """CACHE_URL: locmem:// (default) or redis://host:port/db (rediss:// for TLS)."""
    url = os.environ.get(name) or default
    if url.startswith("locmem://"):
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "stream-portal"}
    if url.startswith(("redis://", "rediss://", "unix://")):
        return {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            # A Redis that is down fails a request (and /healthz) in seconds, not the OS's minutes.
            "OPTIONS": {"socket_connect_timeout": 5, "socket_timeout": 5},
        }
    raise ImproperlyConfigured(f"{name} must be locmem:// or redis://..., not {url!r}")


DEBUG = envbool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is false")
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
PUBLIC_BASE_URL = envstr("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
if not re.match(r"^https?://[^/]+", PUBLIC_BASE_URL):
    raise ImproperlyConfigured(f"PUBLIC_BASE_URL must be an http(s) URL, not {PUBLIC_BASE_URL!r}")

TIME_ZONE = envstr("TIME_ZONE", "Europe/London")
try:
    ZoneInfo(TIME_ZONE)
except (ZoneInfoNotFoundError, ValueError):
    raise ImproperlyConfigured(f"TIME_ZONE {TIME_ZONE!r} is not a known time zone")
USE_TZ = True
LANGUAGE_CODE = "en-gb"
USE_I18N = False

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # For the order search's trigram index (orders.Order.Meta.indexes); harmless on SQLite.
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "orders",
    "webhooks",
]

MIDDLEWARE = [
    # First: /healthz answers load balancers before host checks, HTTPS redirects and sessions.
    "stream_portal.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "stream_portal.middleware.BodySizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # A logout the cache cannot carry out answers 503 in words, not 500 (orders/sessions.py).
    "orders.sessions.SessionCacheUnavailableMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "stream_portal.urls"
WSGI_APPLICATION = "stream_portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        envstr("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=60,
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite is the one-machine demo database: wait for the worker's writes instead of failing.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend, but its per-request health check looks at the socket instead of sending
    # `SELECT 1` when the connection is idle and quiet (stream_portal/postgresql/base.py).
    DATABASES["default"]["ENGINE"] = "stream_portal.postgresql"
    # An unreachable server fails in seconds (requests, /healthz) unless the URL asks otherwise.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
    # No statement may outlast a web worker (gunicorn's timeout is 30 s): PostgreSQL cancels it after
    # 20 s and the request answers 503 instead of the worker being killed mid-request (docs/security.md).
    DATABASES["default"]["OPTIONS"]["options"] = "-c statement_timeout=20000"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": envcache("CACHE_URL", "locmem://")}
# Sessions are kept in the database and, when the cache is shared by every process (Redis), read
# from it: one Redis GET instead of a database read on every office page. With the per-process
# locmem cache a logout in one worker would leave the session in the others, so the database alone.
# What happens while Redis is down: orders/sessions.py.
SESSION_ENGINE = (
    "orders.sessions"
    if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    else "django.contrib.sessions.backends.db"
)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Messages stay on the server: a new API key is shown once through one, and must not travel in a cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)  # filled by collectstatic; present so whitenoise starts quietly before it
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Request bodies: the bulk endpoint takes up to 500 orders; anything larger is refused with 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
API_MAX_BODY_BYTES = DATA_UPLOAD_MAX_MEMORY_SIZE

# Security. HTTPS_ONLY=true behind TLS: redirects, HSTS and secure cookies.
HTTPS_ONLY = envbool("HTTPS_ONLY", False)
SECURE_SSL_REDIRECT = HTTPS_ONLY
SESSION_COOKIE_SECURE = HTTPS_ONLY
CSRF_COOKIE_SECURE = HTTPS_ONLY
SECURE_HSTS_SECONDS = 31536000 if HTTPS_ONLY else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS_ONLY
SECURE_HSTS_PRELOAD = HTTPS_ONLY
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS_ONLY else None
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS = [PUBLIC_BASE_URL] if PUBLIC_BASE_URL.startswith("https://") else []
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    # Swagger UI sets inline styles from its JavaScript.
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}

# REST API
API_RATE_LIMIT = envrate("API_RATE_LIMIT", "600/min")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["orders.api.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["orders.api.auth.HasScopes"],
    "DEFAULT_THROTTLE_CLASSES": ["orders.api.auth.ApiClientRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_client": API_RATE_LIMIT},
    "DEFAULT_RENDERER_CLASSES": ["orders.api.renderers.JSONRenderer"],  # DRF's bytes, made by orjson
    "DEFAULT_PARSER_CLASSES": ["orders.api.parsers.StrictJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "orders.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "orders.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DATE_FORMAT": "%Y-%m-%d",
    "TIME_FORMAT": "%H:%M:%S",
    "COERCE_DECIMAL_TO_STRING": False,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Stream Portal API",
    "DESCRIPTION": (
        "REST API (v1) for ERP, WMS, web shops and route planners. Authenticate with "
        "`Authorization: Bearer <key>` (create a key with `manage.py create_api_client`). "
        'Errors: 400 answers `{"errors": {field: [messages]}}` (nested fields as dotted paths, '
        'e.g. `lines.0.quantity`); every other error answers `{"detail": message}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "orders.api.schema.describe_every_field",
    ],
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "orders.models.Order.Status",
        "MovementStatusEnum": "orders.models.StockMovement.Status",
    },
}

# Celery. Default broker: kombu's filesystem transport, which needs no server (one-machine demo).
CELERY_BROKER_URL = envstr("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("in", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "in"),
        "data_folder_out": str(_broker_dir / "in"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
# A task is acknowledged only after it ran, so a worker that dies mid-task leaves it queued.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_IMPORTS = ["stream_portal.tasks"]
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    # Orders waiting only for a future on-hand date become ready when that date arrives.
    "release-due-orders": {"task": "stream_portal.tasks.release_due_orders", "schedule": crontab(minute="*/15")},
    "purge-idempotency-keys": {"task": "stream_portal.tasks.purge_idempotency_keys", "schedule": crontab(minute=7)},
    # Import jobs whose enqueue was lost or whose worker died are queued again.
    "resume-import-jobs": {"task": "stream_portal.tasks.resume_import_jobs", "schedule": crontab(minute="*/5")},
    "purge-inbound-events": {"task": "stream_portal.tasks.purge_inbound_events", "schedule": crontab(minute=37)},
}

# Order imports (docs/import.md). Blank Stock_Location / Delivery_Method cells take these codes;
# with no default stock location, a line's stock is taken to be at its fleet's own depot.
IMPORT_DEFAULT_STOCK_LOCATION = envstr("IMPORT_DEFAULT_STOCK_LOCATION", "")
IMPORT_DEFAULT_DELIVERY_METHOD = envstr("IMPORT_DEFAULT_DELIVERY_METHOD", "")
IMPORT_DEFAULT_COUNTRY = envstr("IMPORT_DEFAULT_COUNTRY", "GB")
# An upload may be larger than other API bodies: 100,000 rows of the layout are about 30 MB.
IMPORT_MAX_BYTES = 64 * 1024 * 1024
# Called with a job id once the job's row is committed; orders never imports Celery itself.
IMPORT_ENQUEUE = "stream_portal.tasks.enqueue_import_job"

# Webhooks (delivered by the webhooks app).
WEBHOOK_ALLOW_PRIVATE_URLS = envbool("WEBHOOK_ALLOW_PRIVATE_URLS", False)
WEBHOOK_RETRY_SCHEDULE = envretries("WEBHOOK_RETRY_SCHEDULE", [5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400])

# --- Outbound webhook delivery (webhooks/delivery.py, webhooks/tasks.py) ---
# Standard Webhooks timeouts: 3 s to connect, 15 s for the whole request.
WEBHOOK_CONNECT_TIMEOUT_SECONDS = 3
WEBHOOK_TIMEOUT_SECONDS = 15
# Certificates of https receivers are checked against the system's trusted CAs, or this PEM file if set.
WEBHOOK_CA_BUNDLE = None
# A retry due within this many seconds also gets a Celery countdown; longer waits are left to the sweeper.
WEBHOOK_COUNTDOWN_MAX_SECONDS = 30
# The sweeper fans out events the after-commit signal missed and queues deliveries that have fallen due.
WEBHOOK_SWEEP_SECONDS = 15
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # Publishing fails at once while the broker is down instead of stalling the request for seconds:
    # the outbox row is already committed, and the sweeper queues its delivery once the broker is back.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"max_retries": 0, "socket_connect_timeout": 2}
CELERY_BEAT_SCHEDULE["webhooks-sweep"] = {"task": "webhooks.tasks.sweep", "schedule": float(WEBHOOK_SWEEP_SECONDS)}
# A send task claims up to this many due deliveries at once and records them together (docs/webhooks.md).
WEBHOOK_BATCH_SIZE = envint("WEBHOOK_BATCH_SIZE", 50)
# Requests of a batch in flight at once, per worker process (threads; also the connections kept per receiver).
WEBHOOK_SEND_CONCURRENCY = envint("WEBHOOK_SEND_CONCURRENCY", 8)
# A receiver host's address, once resolved and checked by the SSRF guard, is reused this long by the sender.
WEBHOOK_ADDRESS_CACHE_SECONDS = 10
# --- end outbound webhook delivery ---

# Inbound status events (webhooks/inbound.py): a completion further than this from the address's
# known position is flagged for the office.
POD_DISTANCE_WARNING_M = envint("POD_DISTANCE_WARNING_M", 500)

# Idempotency keys are honoured for 24 hours; a first request still "in flight" after this many
# seconds is taken to have died, so its key can be used again.
IDEMPOTENCY_TTL_SECONDS = 24 * 3600
IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS = 120

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "INFO" if not DEBUG else "DEBUG"},
    "loggers": {
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.db.backends": {"level": "INFO"},
    },
}
