"""The WSGI app gunicorn serves: the project's own (KIT_WSGI_APP), behind two kit routes.

- ``/healthz``  liveness: answers 200 from this process, before the project's
  middleware, routes and ALLOWED_HOSTS (Docker calls it as 127.0.0.1:8000).
- ``/readyz``   readiness, for deploys and load balancers: the database (through
  Django's own connection) and Redis (REDIS_URL) answer; 503 when either does not.

Every other request goes to the project untouched (and its errors to Sentry
when SENTRY_DSN is set: deploykit.sentry). The two paths are the
kit's in every project (docs/project-contract.md).
"""

import importlib
import json
import logging
import os
import time

from deploykit import sentry

log = logging.getLogger("deploykit")


def load_wsgi_app(spec):
    """``package.module:attribute`` (the attribute defaults to ``application``)."""
    module, _, attribute = spec.partition(":")
    return getattr(importlib.import_module(module), attribute or "application")


def _check_database():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_redis():
    import redis

    client = redis.Redis.from_url(os.environ["REDIS_URL"], socket_connect_timeout=3, socket_timeout=3)
    try:
        if not client.ping():
            raise ConnectionError("PING not answered")
    finally:
        client.close()


CHECKS = {"database": _check_database, "redis": _check_redis}


def readiness():
    results = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            check()
        except Exception as exc:  # any failure means "not ready"
            log.warning("readiness check %s failed: %s", name, exc)
            results[name] = {"ok": False, "error": type(exc).__name__}
        else:
            results[name] = {"ok": True}
        results[name]["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    ready = all(result["ok"] for result in results.values())
    return ready, {"status": "ok" if ready else "unavailable", "checks": results}


def _answer(start_response, status, body):
    payload = json.dumps(body).encode()
    start_response(
        status,
        [("Content-Type", "application/json"), ("Content-Length", str(len(payload))), ("Cache-Control", "no-store")],
    )
    return [payload]


class KitRoutes:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        if path == "/healthz" and method in ("GET", "HEAD"):
            return _answer(start_response, "200 OK", {"status": "ok"})
        if path == "/readyz" and method in ("GET", "HEAD"):
            try:
                ready, body = readiness()
            finally:
                from django.db import close_old_connections

                close_old_connections()
            return _answer(start_response, "200 OK" if ready else "503 Service Unavailable", body)
        return self.app(environ, start_response)


# Error tracking (SENTRY_DSN) starts before the project loads: its Django integration sees every request.
sentry.start()
application = KitRoutes(load_wsgi_app(os.environ.get("KIT_WSGI_APP", "")))
