"""Settings for the VANI Cal.com webhook service.

Everything that differs between a laptop and production comes from the environment
(django-environ); the `.env` file next to manage.py (common/envfile.py; `make run` creates it) is
read too, the environment winning.
"""

import warnings
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from common.envfile import env_file_path

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(env_file_path(), overwrite=False)

# development | production. Production fails closed (see webhooks/checks.py).
ENVIRONMENT = env.str("ENVIRONMENT", default="development")
IS_PRODUCTION = ENVIRONMENT == "production"

DEBUG = env.bool("DJANGO_DEBUG", default=not IS_PRODUCTION)
SECRET_KEY = env.str(
    "DJANGO_SECRET_KEY",
    # Only used in development; production refuses to start without one (webhooks/checks.py).
    default="django-insecure-development-only-key-change-me-0123456789abcdef",
)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["*"] if not IS_PRODUCTION else [])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# Where `make run` listens (scripts/run.sh reads these from the same .env).
HOST = env.str("HOST", default="127.0.0.1")
PORT = env.int("PORT", default=8000)
# The public origin Cal.com reaches us at (e.g. an ngrok URL); the webhook URL is derived from it.
# Unset, it is where `make run` listens, so the tools in another shell post to the right port.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default=f"http://{HOST}:{PORT}").rstrip("/")
WEBHOOK_PATH = "/api/webhooks/cal-com"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_tasks",
    "django_tasks_db",
    "meetings",
    "webhooks",
    "notifications",
    "calsync",
    "api",
    "console",
    "devtools",
]

MIDDLEWARE = [
    # First, so that every database wait of the request counts (vani/database.py).
    "vani.database.DatabaseDeadlineMiddleware",
    # First: is_secure() (HTTPS redirect, secure cookies) must not see a forged header.
    "webhooks.middleware.TrustedProxyProtoMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "vani.middleware.RejectNulInQueryMiddleware",
    # Serves the admin's and Swagger UI's static files under gunicorn (no separate web server).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = env.str("ROOT_URLCONF", default="vani.urls")

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

WSGI_APPLICATION = "vani.wsgi.application"

# --- Database -------------------------------------------------------------------------------
# Web processes bound every PostgreSQL wait (vani/database.py): a connect by DB_CONNECT_TIMEOUT,
# all of a request's waits together by DB_REQUEST_TIMEOUT, so a delivery is answered (503 during
# an outage) within about that long even when the database accepts TCP and never answers.
DB_CONNECT_TIMEOUT = env.int("DB_CONNECT_TIMEOUT", default=3)
DB_REQUEST_TIMEOUT = env.float("DB_REQUEST_TIMEOUT", default=4.0)
DATABASE_URL = env.str("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
# A typo in the scheme would otherwise surface as a KeyError or a backend import error.
_scheme = DATABASE_URL.split("://", 1)[0] if "://" in DATABASE_URL else ""
if _scheme not in ("postgres", "postgresql", "pgsql", "sqlite"):
    raise ImproperlyConfigured(
        f"DATABASE_URL: unknown scheme {(_scheme or DATABASE_URL.split(':', 1)[0])[:20]!r}; use "
        "postgres://USER:PASSWORD@HOST:PORT/NAME or sqlite:///PATH"
    )
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Concurrent deliveries on the embedded default: take the write lock at BEGIN (no
    # deadlock-prone lock upgrades), wait for it instead of failing with "database is locked",
    # and let readers run beside the writer (WAL).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    # Fail fast when PostgreSQL is unreachable, so the endpoint can answer 503 quickly.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", DB_CONNECT_TIMEOUT)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Background tasks (django-tasks) ---------------------------------------------------------
# ImmediateBackend runs tasks inline (embedded default); production uses django-tasks-db and
# `manage.py db_worker`.
TASKS_BACKEND = env.str("TASKS_BACKEND", default="django_tasks.backends.immediate.ImmediateBackend")
TASKS = {"default": {"BACKEND": TASKS_BACKEND}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# Times are stored in UTC; the console and notifications show them in this zone, named
# (e.g. "Europe/Berlin"; vani/preflight.py refuses an unknown name before the server starts).
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True
# Our own date formats (vani/formats/): every date and time the console shows names its zone.
FORMAT_MODULE_PATH = ["vani.formats"]

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Until `collectstatic` has run (development, tests) there is nothing for whitenoise to serve.
warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if IS_PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Cal.com ---------------------------------------------------------------------------------
# Every configured secret is accepted (rotation; one per Cal.com webhook row pointing here).
CAL_COM_WEBHOOK_SECRET = env.str("CAL_COM_WEBHOOK_SECRET", default="")
CAL_COM_WEBHOOK_SECRET_PROD = env.str("CAL_COM_WEBHOOK_SECRET_PROD", default="")
CAL_COM_API_KEY = env.str("CAL_COM_API_KEY", default="")
CAL_COM_API_URL = env.str("CAL_COM_API_URL", default="https://api.cal.com").rstrip("/")
# Cal.com API client (calcom/api/client.py): per-request timeout in seconds, retries of
# 429/5xx/network failures, and the first backoff delay in seconds (doubled on each retry).
CAL_COM_API_TIMEOUT = env.float("CAL_COM_API_TIMEOUT", default=10.0)
CAL_COM_API_MAX_RETRIES = env.int("CAL_COM_API_MAX_RETRIES", default=3)
CAL_COM_API_BACKOFF_SECONDS = env.float("CAL_COM_API_BACKOFF_SECONDS", default=0.5)
# The Cal.com sync (calsync/, `sync_calcom_bookings`): how often it runs in production (0: not
# run; the dashboard warns when no sync succeeded for twice this long), and how far back its
# very first run reads bookings (later runs continue from where the last one stopped).
CAL_COM_SYNC_INTERVAL_SECONDS = env.int("CAL_COM_SYNC_INTERVAL_SECONDS", default=0)
CAL_COM_SYNC_FIRST_RUN_DAYS = env.int("CAL_COM_SYNC_FIRST_RUN_DAYS", default=30)

# Largest webhook body we accept (bytes); larger ones are answered 413 and stored without body.
WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", default=1024 * 1024)
# Refused (unsigned, badly signed, oversized) deliveries keep at most this much of their body.
REJECTED_BODY_CAP_BYTES = env.int("REJECTED_BODY_CAP_BYTES", default=2048)
# ... and of their headers (names and values together; at most 50 headers, values cut to 256).
REJECTED_HEADERS_CAP_BYTES = env.int("REJECTED_HEADERS_CAP_BYTES", default=4096)
# Let our own limit, not Django's, decide on webhook bodies.
DATA_UPLOAD_MAX_MEMORY_SIZE = max(WEBHOOK_MAX_BODY_BYTES + 1024, 2621440)

# --- Logging ---------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        # 4xx answers are logged once, by us, with their cause; Django's per-request warning
        # would let a junk flood flood the logs.
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
    },
}

# --- REST API (/api/) --------------------------------------------------------------------------
# Staff only: a token (`manage.py create_api_token USERNAME`, header `Authorization: Token …`)
# or the admin's session. Each user may make API_THROTTLE_RATE requests ("600/min", "20/s", …).
API_THROTTLE_RATE = env.str("API_THROTTLE_RATE", default="600/min")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Staff, and the model permission the admin would ask for (view_* for reads, add_* …).
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAdminUser",
        "api.permissions.ModelPermissions",
    ],
    "DEFAULT_PARSER_CLASSES": [
        "api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.ApiUserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": API_THROTTLE_RATE},
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
# OpenAPI 3.1 schema at /api/schema/ and Swagger UI at /api/docs/ (staff only); the UI's assets
# come from drf-spectacular-sidecar (our own static files), never a CDN.
SPECTACULAR_SETTINGS = {
    "TITLE": "VANI API",
    "DESCRIPTION": "Meetings, targets and Cal.com webhook events, for staff and internal tools.",
    "VERSION": "1.0.0",
    # 3.1: a nullable nested object is `oneOf: [object, null]`, which validators agree on
    # (3.0's `nullable` beside `allOf` is read differently by different tools).
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAdminUser"],
    "SCHEMA_PATH_PREFIX": r"/api/",
    # Request bodies get their own components, without the read-only fields of the answers.
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a `status`; give each choice set its own stable name.
    "ENUM_NAME_OVERRIDES": {
        "MeetingStatusEnum": "meetings.models.MeetingStatus",
        "PaymentStatusEnum": "meetings.models.PaymentStatus",
        "WebhookEventStatusEnum": "webhooks.models.WebhookEventStatus",
        "SignatureResultEnum": "webhooks.models.SignatureResult",
        "AttemptOutcomeEnum": "webhooks.models.AttemptOutcome",
        "AttemptTriggerEnum": "webhooks.models.AttemptTrigger",
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- HIT notifications -----------------------------------------------------------------------
# E-mail goes through Django's mail; EMAIL_URL e.g. smtp+tls://user:pass@smtp.example.com:587.
# The default prints messages to the console (development).
_email_config = env.email_url("EMAIL_URL", default="consolemail://")
EMAIL_BACKEND = _email_config["EMAIL_BACKEND"]
EMAIL_HOST = _email_config.get("EMAIL_HOST") or "localhost"
EMAIL_PORT = _email_config.get("EMAIL_PORT") or 25
EMAIL_HOST_USER = _email_config.get("EMAIL_HOST_USER") or ""
EMAIL_HOST_PASSWORD = _email_config.get("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = _email_config.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email_config.get("EMAIL_USE_SSL", False)
# Bounded so a dead mail server cannot hold a worker (or, inline, a request) for long.
EMAIL_TIMEOUT = env.float("EMAIL_TIMEOUT", default=10.0)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="VANI <vani@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Cal.com triggers that notify (each must be one that status_mapping marks as a HIT).
HIT_TRIGGERS = env.list("HIT_TRIGGERS", default=["BOOKING_PAID", "MEETING_ENDED"])
# Channels in use; a listed channel with nothing configured (no recipients, no Slack URL) is off.
HIT_CHANNELS = env.list("HIT_CHANNELS", default=["email", "slack", "log"])
# Always e-mailed, besides the owner of the meeting's target.
HIT_NOTIFY_EMAILS = env.list("HIT_NOTIFY_EMAILS", default=[])
HIT_SLACK_WEBHOOK_URL = env.str("HIT_SLACK_WEBHOOK_URL", default="")
HIT_SLACK_TIMEOUT = env.float("HIT_SLACK_TIMEOUT", default=10.0)
# A failed send is retried after HIT_RETRY_BASE_SECONDS, then twice that, four times …, and
# marked failed after HIT_MAX_ATTEMPTS attempts (staff can still resend it from the admin).
HIT_MAX_ATTEMPTS = env.int("HIT_MAX_ATTEMPTS", default=6)
HIT_RETRY_BASE_SECONDS = env.float("HIT_RETRY_BASE_SECONDS", default=60.0)
# The "meeting completed" HIT waits this many seconds before it is sent; a no-show marked
# meanwhile withdraws it. MEETING_ENDED fires at the booking's end time whether or not anyone
# came; Cal Video's no-show checks fire a delay after the start that is set in Cal.com's UI, and
# hosts mark no-shows by hand after the call. 0 sends at once. Payment HITs are never delayed.
HIT_MEETING_COMPLETED_DELAY = env.int("HIT_MEETING_COMPLETED_DELAY", default=3600)

# --- Operations and security -----------------------------------------------------------------
# Processing retries: after failed attempt n the next one waits WEBHOOK_RETRY_BASE_SECONDS *
# 2**(n-1) (the upper half of it random, so retries of many events spread out), at most
# WEBHOOK_RETRY_MAX_SECONDS; after WEBHOOK_MAX_ATTEMPTS attempts the event is `dead`.
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=5)
WEBHOOK_RETRY_BASE_SECONDS = env.float("WEBHOOK_RETRY_BASE_SECONDS", default=30.0)
WEBHOOK_RETRY_MAX_SECONDS = env.float("WEBHOOK_RETRY_MAX_SECONDS", default=3600.0)
# With django-tasks-db, workers claim received events in batches of WEBHOOK_DRAIN_BATCH_SIZE; a
# delivery's drain task is due WEBHOOK_DRAIN_DELAY_SECONDS after it, so that the deliveries of
# that moment share one task (webhooks/draining.py). A drain task that found work keeps looking
# for new deliveries until none has come for WEBHOOK_DRAIN_LINGER_SECONDS (0: one batch and done).
WEBHOOK_DRAIN_BATCH_SIZE = env.int("WEBHOOK_DRAIN_BATCH_SIZE", default=50)
WEBHOOK_DRAIN_DELAY_SECONDS = env.float("WEBHOOK_DRAIN_DELAY_SECONDS", default=0.1)
WEBHOOK_DRAIN_LINGER_SECONDS = env.float("WEBHOOK_DRAIN_LINGER_SECONDS", default=0.5)
# Recovery sweep (recover_webhook_events): events left `received` or `processing` this long
# (a killed worker, a lost enqueue) are enqueued again, and so are retries overdue by this much.
WEBHOOK_STUCK_AFTER_SECONDS = env.int("WEBHOOK_STUCK_AFTER_SECONDS", default=300)
# Retention in days per status for prune_webhook_events, e.g. "processed=90,rejected=7";
# unlisted statuses keep these defaults. received, processing and failed are never pruned;
# dead events are kept until a retention is configured for them (they need a human).
WEBHOOK_RETENTION_DAYS = {
    "processed": 90,
    "ignored": 30,
    "duplicate": 30,
    "rejected": 7,
    **{status.strip(): int(days) for status, days in env.dict("WEBHOOK_RETENTION_DAYS", default={}).items()},
}
# Refused deliveries (bad signature, too large) from one client address (IPv6: one /64) beyond
# this many per minute are answered 429 and only counted, not stored one by one. Valid
# deliveries never count.
WEBHOOK_REJECTED_LIMIT_PER_MINUTE = env.int("WEBHOOK_REJECTED_LIMIT_PER_MINUTE", default=20)

# The rate limiter's counters. locmem is per process; with several web processes use Redis,
# e.g. CACHE_URL=redis://127.0.0.1:6379/1 (Django's built-in RedisCache).
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
if CACHES["default"]["BACKEND"].endswith("RedisCache"):
    # A hung Redis must not hold a request: the limiter fails open after a second.
    CACHES["default"].setdefault("OPTIONS", {}).update({"socket_connect_timeout": 1, "socket_timeout": 1})

# Behind a TLS-terminating proxy (ngrok, a load balancer): its addresses (or CIDR ranges). Only
# then are X-Forwarded-For (client address) and X-Forwarded-Proto (HTTPS) believed.
TRUSTED_PROXY_IPS = env.list("TRUSTED_PROXY_IPS", default=[])
TRUSTED_PROXY = env.bool("TRUSTED_PROXY", default=bool(TRUSTED_PROXY_IPS))
if TRUSTED_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=IS_PRODUCTION)
# Cal.com does not follow redirects and probes/scrapers talk plain HTTP inside the network:
# these paths are answered where they are asked, never redirected.
SECURE_REDIRECT_EXEMPT = [r"^api/webhooks/cal-com/?$", r"^healthz/?$", r"^readyz/?$", r"^metrics/?$"]
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=IS_PRODUCTION)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=IS_PRODUCTION)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if IS_PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=IS_PRODUCTION)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=IS_PRODUCTION)

# /metrics: staff (admin session) or these client addresses / CIDR ranges (e.g. Prometheus).
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=[])

# LOG_FORMAT=json: one JSON object per line, with the key=value fields as JSON keys.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT == "json":
    LOGGING["formatters"]["json"] = {
        "()": "pythonjsonlogger.json.JsonFormatter",
        "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
    }
    LOGGING["handlers"]["console"]["formatter"] = "json"
