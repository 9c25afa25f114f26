"""Settings come from the environment; with nothing set, the embedded default.

Embedded default: a SQLite file in WAL mode and a Celery broker on the local
filesystem, so `make demo` needs no server, and a secret key made once in var/.
Production and the test suite set DATABASE_URL (PostgreSQL), CELERY_BROKER_URL
(Redis) and SECRET_KEY.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.local_secret import local_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("LADDERLAB_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if not value:
        return default
    return [part.strip() for part in value.split(",") if part.strip()]


DEBUG = env_bool("DEBUG", False)
DATABASE_URL = os.environ.get("DATABASE_URL", "")
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if DEBUG or not DATABASE_URL:
        # The embedded default and DEBUG runs never leave the laptop: a key of their own in var/.
        SECRET_KEY = local_secret_key(VAR_DIR / "secret_key")
    else:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DATABASE_URL set and DEBUG off this is a deployment: "
            "set SECRET_KEY in the environment to a long random string, e.g. the output of "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'. "
            "(Unset DATABASE_URL for the embedded default, which keeps a local key in var/.)"
        )
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "ninja",
    "axes",
    "annotation",
    "training",
    "scaling",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes requires: it turns a locked-out login into its 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "builtins": ["template_partials.templatetags.partials"],
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

EMBEDDED_DATABASE_PATH = VAR_DIR / "ladderlab.sqlite3"
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": EMBEDDED_DATABASE_PATH,
            "OPTIONS": {
                # WAL lets readers run beside the one writer; IMMEDIATE takes the
                # write lock at BEGIN so writers queue on the busy timeout instead
                # of failing with "database is locked" when a read upgrades.
                "init_command": (
                    "PRAGMA journal_mode=WAL;"
                    "PRAGMA synchronous=NORMAL;"
                    "PRAGMA busy_timeout=30000;"
                    "PRAGMA foreign_keys=ON;"
                ),
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
            },
        }
    }
DATABASE_IS_EMBEDDED = not DATABASE_URL

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    # First, so a locked-out username/IP is refused before its password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Login rate limit (django-axes). Failed attempts are rows in the database, so
# every gunicorn worker sees the same count.
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", 5))
# How long a locked-out username/IP pair must wait before trying again.
AXES_COOLOFF_TIME = timedelta(minutes=float(os.environ.get("LOGIN_COOLOFF_MINUTES", 15)))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# Failures of one username from all addresses together (each address counting at most
# AXES_FAILURE_LIMIT) before the username is locked everywhere it has not logged in from.
LOGIN_USERNAME_FAILURE_LIMIT = int(os.environ.get("LOGIN_USERNAME_FAILURE_LIMIT", 50))
AXES_HANDLER = "config.login_throttle.LoginThrottleHandler"
# Proxies in front of gunicorn that append to X-Forwarded-For (0: clients connect directly).
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", 0))
AXES_CLIENT_IP_CALLABLE = "config.client_ip.client_ip"
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "annotation:project_list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "staticfiles"))
# WhiteNoise serves from finders in development; it still expects the folder.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
# No URL pattern serves media: uploads and adapters are read by code, never served raw.
MEDIA_URL = "/media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = True

# Largest import upload; a larger declared Content-Length is refused before reading.
# Directories under which project admins may register checkpoints through the API
# (os.pathsep-separated); staff may name any directory on the server.
CHECKPOINT_ROOTS = [Path(root) for root in os.environ.get("CHECKPOINT_ROOTS", "").split(os.pathsep) if root]
# Open items a finished run scores for the queue's order and the suggestions (training.services.opinions).
LADDER_OPINION_ITEMS = int(os.environ.get("LADDER_OPINION_ITEMS", 2000))
IMPORT_MAX_BYTES = int(os.environ.get("IMPORT_MAX_BYTES", 512 * 1024 * 1024))
# Bytes of uploads one project may have stored and waiting to import; more is refused.
IMPORT_PROJECT_QUOTA_BYTES = int(os.environ.get("IMPORT_PROJECT_QUOTA_BYTES", 2 * 1024 * 1024 * 1024))
# A running import whose heartbeat is older than this is taken to be orphaned.
IMPORT_STALE_SECONDS = int(os.environ.get("IMPORT_STALE_SECONDS", 120))
# Uploads above this go to a temporary file instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# Off by default so the embedded default works on http://127.0.0.1; production
# behind HTTPS turns them on (`check --deploy` says which are missing).
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
# Only behind a TLS proxy that sets X-Forwarded-Proto (and strips the client's own):
# without one, any client could claim HTTPS with the header.
if env_bool("TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", 0))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)

# Celery. The database is the source of truth for job state; the broker only
# carries ids, so no result backend is needed.
EMBEDDED_BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
if CELERY_BROKER_URL:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Longer than the longest rung job, so a slow job is not redelivered.
        "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", 6 * 3600)),
    }
else:
    CELERY_BROKER_URL = "filesystem://"
    EMBEDDED_BROKER_DIR.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(EMBEDDED_BROKER_DIR),
        "data_folder_out": str(EMBEDDED_BROKER_DIR),
        "control_folder": str(EMBEDDED_BROKER_DIR / "control"),
        "store_processed": False,
    }
    (EMBEDDED_BROKER_DIR / "control").mkdir(parents=True, exist_ok=True)
CELERY_BROKER_IS_EMBEDDED = CELERY_BROKER_URL == "filesystem://"
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The database knows which rung and import jobs are pending; this puts back on
# the broker any whose messages were lost (a broker restarted without its data)
# and any whose worker died.
CELERY_BEAT_SCHEDULE = {
    "recover-rung-jobs": {
        "task": "training.jobs_recover",
        "schedule": float(os.environ.get("TRAINING_RECOVER_SECONDS", 60)),
    },
    "recover-import-jobs": {
        "task": "annotation.import_jobs_recover",
        "schedule": float(os.environ.get("IMPORT_RECOVER_SECONDS", 60)),
    },
}

# The most processes one rung job may shard its fine-tuning over, per queue:
# what a worker of that queue has (one GPU per process). Override with e.g.
# TRAINING_QUEUE_PROCESSES="gpu-large=4,cpu=2".
TRAINING_QUEUE_PROCESSES = {"default": 1, "cpu": 1, "gpu-small": 1, "gpu-large": 8}
for _entry in filter(None, os.environ.get("TRAINING_QUEUE_PROCESSES", "").split(",")):
    _queue, _, _processes = _entry.partition("=")
    if not _processes.strip().isdigit() or int(_processes) < 1:
        raise ImproperlyConfigured(
            f"TRAINING_QUEUE_PROCESSES: {_entry!r} must be queue=processes with processes a whole number ≥ 1"
        )
    TRAINING_QUEUE_PROCESSES[_queue.strip()] = int(_processes)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}
