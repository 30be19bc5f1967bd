"""gunicorn settings, from the environment (see compose/env.example).

Used as ``gunicorn config.wsgi --config python:config.gunicorn``."""

import os


def _int(name, default):
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise SystemExit(f"configuration error: {name} must be a whole number of 1 or more, not {value!r}")
    return int(value)


bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# Two sync workers fit a 1 GB VDS next to PostgreSQL, Redis and Celery.
workers = _int("GUNICORN_WORKERS", 2)
threads = _int("GUNICORN_THREADS", 1)
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
max_requests = _int("GUNICORN_MAX_REQUESTS", 1000)
max_requests_jitter = max(1, max_requests // 10)
worker_tmp_dir = "/dev/shm"  # the heartbeat file; the root filesystem is read-only  # noqa: S108
accesslog = "-"
errorlog = "-"
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "*")  # only nginx reaches it
