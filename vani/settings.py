"""Settings for the VANI Cal.com webhook service.

Everything that differs between a laptop and production comes from the environment
(django-environ); an optional `.env` file next to manage.py is read first.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

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

# The public origin Cal.com reaches us at (e.g. an ngrok URL); the webhook URL is derived from it.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
WEBHOOK_PATH = "/api/webhooks/cal-com"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_tasks",
    "django_tasks_db",
    "meetings",
    "webhooks",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "vani.urls"

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
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
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
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=3)
    )

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
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# --- Cal.com ---------------------------------------------------------------------------------
# Every configured secret is accepted (rotation; one per Cal.com webhook row pointing here).
CAL_COM_WEBHOOK_SECRET = env.str("CAL_COM_WEBHOOK_SECRET", default="")
CAL_COM_WEBHOOK_SECRET_PROD = env.str("CAL_COM_WEBHOOK_SECRET_PROD", default="")
CAL_COM_API_KEY = env.str("CAL_COM_API_KEY", default="")
CAL_COM_API_URL = env.str("CAL_COM_API_URL", default="https://api.cal.com").rstrip("/")
# Cal.com API client (webhooks/calcom_api.py): per-request timeout in seconds, retries of
# 429/5xx/network failures, and the first backoff delay in seconds (doubled on each retry).
CAL_COM_API_TIMEOUT = env.float("CAL_COM_API_TIMEOUT", default=10.0)
CAL_COM_API_MAX_RETRIES = env.int("CAL_COM_API_MAX_RETRIES", default=3)
CAL_COM_API_BACKOFF_SECONDS = env.float("CAL_COM_API_BACKOFF_SECONDS", default=0.5)

# Largest webhook body we accept (bytes); larger ones are answered 413 and stored without body.
WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", default=1024 * 1024)
# Refused (unsigned, badly signed, oversized) deliveries keep at most this much of their body.
REJECTED_BODY_CAP_BYTES = env.int("REJECTED_BODY_CAP_BYTES", default=2048)
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
    "loggers": {"django": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
}
