"""Django settings for the sample shop, read from the environment.

Every variable is documented in compose/env.example (and the README). A bad
value stops start-up with one line naming the variable: see config/env.py.
"""

import zoneinfo
from pathlib import Path

import dj_database_url
from celery.schedules import crontab

from config import env

BASE_DIR = Path(__file__).resolve().parent.parent

# --- Core --------------------------------------------------------------------
DEBUG = env.boolean("DEBUG", default=False)

# Used only with DEBUG on and no SECRET_KEY set; a placeholder itself, so never accepted from the environment.
_DEV_SECRET_KEY = "django-insecure-dev-only-key-never-used-when-DEBUG-is-off"  # noqa: S105
_GENERATE_KEY = "set a long random one (python3 -c 'import secrets; print(secrets.token_urlsafe(50))')"
SECRET_KEY = env.string("SECRET_KEY", default="")
if env.is_placeholder(SECRET_KEY):
    raise env.ConfigError("SECRET_KEY", f"is a placeholder, not a secret; {_GENERATE_KEY}")
if not DEBUG and not SECRET_KEY:
    raise env.ConfigError("SECRET_KEY", f"is not set while DEBUG is off; {_GENERATE_KEY}")
if not DEBUG and len(SECRET_KEY) < 32:
    raise env.ConfigError("SECRET_KEY", f"is shorter than 32 characters; {_GENERATE_KEY}")
SECRET_KEY = SECRET_KEY or _DEV_SECRET_KEY

ALLOWED_HOSTS = env.items("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env.items("CSRF_TRUSTED_ORIGINS", "")
for _origin in CSRF_TRUSTED_ORIGINS:
    if not _origin.startswith(("http://", "https://")):
        raise env.ConfigError("CSRF_TRUSTED_ORIGINS", f"entry {_origin!r} must start with http:// or https://")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "core",
    "catalog",
    "imports",
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

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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

# --- Database ----------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        env.url("DATABASE_URL", ["postgres", "postgresql", "pgsql"]),
        conn_max_age=env.integer("DB_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
}
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env.integer("DB_CONNECT_TIMEOUT", 5, minimum=1)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Locale ------------------------------------------------------------------
LANGUAGE_CODE = env.string("LANGUAGE_CODE", "en-us")
TIME_ZONE = env.string("TIME_ZONE", "UTC")
try:
    zoneinfo.ZoneInfo(TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError):
    raise env.ConfigError("TIME_ZONE", f"{TIME_ZONE!r} is not a known time zone (e.g. Europe/Moscow)") from None
USE_I18N = True
USE_TZ = True

# --- Static and media (nginx serves both from shared volumes) ----------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env.string("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.string("MEDIA_ROOT", str(BASE_DIR / "media")))

# --- Security behind the proxy -----------------------------------------------
if env.boolean("USE_X_FORWARDED_PROTO", default=True):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env.boolean("SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# HSTS on HTTPS answers: the role sets these once the site has a certificate
# (django_stack_hsts_*); 0 sends no header.
SECURE_HSTS_SECONDS = env.integer("HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.boolean("HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.boolean("HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- Redis and Celery --------------------------------------------------------
_REDIS_SCHEMES = ["redis", "rediss"]
CELERY_BROKER_URL = env.url("CELERY_BROKER_URL", _REDIS_SCHEMES)
CELERY_RESULT_BACKEND = env.url("CELERY_RESULT_BACKEND", _REDIS_SCHEMES, default=CELERY_BROKER_URL)
# Redis used for the import lock (defaults to the broker's).
REDIS_URL = env.url("REDIS_URL", _REDIS_SCHEMES, default=CELERY_BROKER_URL)
REDIS_SOCKET_TIMEOUT = env.integer("REDIS_SOCKET_TIMEOUT", 5, minimum=1)

CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_ENABLE_UTC = True
CELERY_TASK_TRACK_STARTED = True
CELERY_TASK_TIME_LIMIT = env.integer("CELERY_TASK_TIME_LIMIT", 30 * 60, minimum=10)
CELERY_TASK_SOFT_TIME_LIMIT = env.integer("CELERY_TASK_SOFT_TIME_LIMIT", CELERY_TASK_TIME_LIMIT - 60, minimum=5)
if CELERY_TASK_SOFT_TIME_LIMIT >= CELERY_TASK_TIME_LIMIT:
    raise env.ConfigError(
        "CELERY_TASK_SOFT_TIME_LIMIT",
        f"({CELERY_TASK_SOFT_TIME_LIMIT}) must be below CELERY_TASK_TIME_LIMIT ({CELERY_TASK_TIME_LIMIT})",
    )
if CELERY_TASK_SOFT_TIME_LIMIT < 5:  # only the default gets here: a value that is set is checked above
    raise env.ConfigError(
        "CELERY_TASK_SOFT_TIME_LIMIT",
        f"is not set, and its default, CELERY_TASK_TIME_LIMIT ({CELERY_TASK_TIME_LIMIT}) - 60 s, is below 5: "
        "set it between 5 and the hard limit",
    )
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_LOG_COLOR = False
# Worker processes; unset means one per CPU (fit it to the server's memory).
CELERY_WORKER_CONCURRENCY = env.integer("CELERY_WORKER_CONCURRENCY", None, minimum=1)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # the import task is long: take one at a time
CELERY_WORKER_SEND_TASK_EVENTS = True  # for flower
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_RESULT_EXPIRES = env.integer("CELERY_RESULT_EXPIRES", 7 * 24 * 3600, minimum=60)

# Celery's Redis result backend: fail fast when Redis is away (its defaults
# wait up to 120 s), so the admin and the status endpoint keep answering.
CELERY_REDIS_SOCKET_TIMEOUT = REDIS_SOCKET_TIMEOUT
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = REDIS_SOCKET_TIMEOUT
# A running task keeps running when the worker loses the broker (Celery 6
# will cancel it by default): the import waits the outage out itself.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# A task whose pool process is killed (OOM, kill -9) fails with
# WorkerLostError and its message is acknowledged, not re-queued: an import
# that ran out of memory would only run out of memory again. The sweep then
# closes its session with the reason.
CELERY_TASK_REJECT_ON_WORKER_LOST = False
# Redis hands an unacknowledged message out again after visibility_timeout.
# It must outlast the longest run (the hard limit, outage waits included), or
# a running import would be handed to a second worker; when the worker's main
# process died instead, the message comes back after it, finds its session
# closed by the sweep and does nothing.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_TASK_TIME_LIMIT + 600}

# --- Imports -----------------------------------------------------------------
IMPORT_DATA_DIR = Path(env.string("IMPORT_DATA_DIR", str(BASE_DIR / "imports" / "sample_data")))
IMPORT_BATCH_SIZE = env.integer("IMPORT_BATCH_SIZE", 1000, minimum=1, maximum=50000)
# Seconds between two progress writes to the result backend (and cancel checks,
# and heartbeats of the import lock).
IMPORT_PROGRESS_INTERVAL = float(env.integer("IMPORT_PROGRESS_INTERVAL_MS", 500, minimum=50)) / 1000
# The import lock lives by heartbeat: the running task renews it on every
# progress tick, so it expires IMPORT_LOCK_TTL seconds after its worker died.
IMPORT_LOCK_TTL = env.integer("IMPORT_LOCK_TTL", 60, minimum=10, maximum=3600)
# From launch until a worker starts the task, the lock lives this long; a
# session that no worker started by then is failed by the sweep.
IMPORT_QUEUE_TIMEOUT = env.integer("IMPORT_QUEUE_TIMEOUT", 600, minimum=IMPORT_LOCK_TTL)
# A lost database or Redis: the import rolls back, pauses min(BACKOFF * 2**n,
# BACKOFF_MAX) seconds, waits until both answer again (at most
# IMPORT_OUTAGE_TIMEOUT seconds), and runs again from the start, at most
# IMPORT_MAX_RETRIES times.
IMPORT_MAX_RETRIES = 3
IMPORT_RETRY_BACKOFF = env.integer("IMPORT_RETRY_BACKOFF", 10, minimum=1)
IMPORT_RETRY_BACKOFF_MAX = env.integer("IMPORT_RETRY_BACKOFF_MAX", 300, minimum=IMPORT_RETRY_BACKOFF)
IMPORT_OUTAGE_TIMEOUT = env.integer("IMPORT_OUTAGE_TIMEOUT", 600, minimum=10)
# How often the admin's list polls the status endpoint while an import is active.
IMPORT_STATUS_POLL_MS = env.integer("IMPORT_STATUS_POLL_MS", 5000, minimum=500)

# --- Periodic tasks (celery beat) ---------------------------------------------
_cleanup_hour = env.integer("SESSION_CLEANUP_HOUR", 3, minimum=0, maximum=23)
CELERY_BEAT_SCHEDULE = {
    "clear-expired-sessions": {
        "task": "core.clear_expired_sessions",
        "schedule": crontab(hour=_cleanup_hour, minute=30),
    },
    "sweep-stale-imports": {
        "task": "imports.sweep_stale_sessions",
        "schedule": float(env.integer("IMPORT_SWEEP_INTERVAL", 60, minimum=1)),
    },
}
# One beat sends: each beat takes a leader lease in Redis (config.beat), so a
# second one (--scale beat=2, or another host) waits as a standby and takes
# over within BEAT_LEADER_TTL seconds of the leader's death.
CELERY_BEAT_SCHEDULER = "config.beat:LeaderScheduler"
BEAT_LEADER_TTL = env.integer("BEAT_LEADER_TTL", 30, minimum=3)
# Beat wakes at least this often, to renew its lease (a third of its TTL).
CELERY_BEAT_MAX_LOOP_INTERVAL = max(1, BEAT_LEADER_TTL // 3)

# --- Logging: one format everywhere, task id on task lines, no colours --------
LOG_LEVEL = env.string("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise env.ConfigError("LOG_LEVEL", f"must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not {LOG_LEVEL!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"task_id": {"()": "config.logfilters.TaskIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(task)s%(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["task_id"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "kombu": {"level": "WARNING"},
    },
}
