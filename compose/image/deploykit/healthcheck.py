"""Container healthchecks: ``python -m deploykit.healthcheck web|worker|beat|flower``.

web:    GET http://127.0.0.1:8000/healthz answers 200 (deploykit.wsgi answers
        it before the project's code, whatever its routes and ALLOWED_HOSTS).
worker: the worker's alive file (deploykit.celeryapp.AliveFile touches it every
        WORKER_ALIVE_EVERY seconds while it consumes from the broker) is fresh.
beat:   the broker answers and beat has written its schedule file (it exists
        once beat has started and synced).
flower: GET http://127.0.0.1:5555/[FLOWER_URL_PREFIX/]healthcheck answers OK, with Flower's login
        (FLOWER_BASIC_AUTH, which deploykit sets from the flower_password file).
Exits 0 when healthy, 1 with a one-line reason otherwise. It imports only the
standard library (and redis, for beat): no Django, no Celery, no project code,
so compose can run the checks every few seconds.
"""

import base64
import glob
import os
import sys
import time
import urllib.request

# How often the worker touches its alive file, and the age past which the
# check fails (a few missed beats: a busy event loop may be late).
WORKER_ALIVE_EVERY = 2.0
WORKER_ALIVE_STALE = 15.0


def worker_alive_file():
    # /tmp is the container's own tmpfs (compose.yml), not a shared directory.
    return os.environ.get("WORKER_ALIVE_FILE", "/tmp/celery-worker.alive")  # noqa: S108


def web():
    with urllib.request.urlopen("http://127.0.0.1:8000/healthz", timeout=4) as response:
        if response.status != 200:
            raise RuntimeError(f"/healthz answered {response.status}")


def worker():
    path = worker_alive_file()
    try:
        age = time.time() - os.stat(path).st_mtime
    except FileNotFoundError:
        raise RuntimeError(f"{path} is missing: the worker is not consuming from the broker") from None
    if age > WORKER_ALIVE_STALE:
        raise RuntimeError(f"{path} is {age:.0f} s old: the worker's event loop is stuck or lost the broker")


def beat():
    import redis

    redis.Redis.from_url(os.environ["CELERY_BROKER_URL"], socket_connect_timeout=3, socket_timeout=3).ping()
    schedule = os.environ.get("BEAT_SCHEDULE_FILE", "/var/lib/celery/celerybeat-schedule")
    if not glob.glob(schedule + "*"):
        raise RuntimeError(f"beat has not written {schedule} yet")


def flower():
    prefix = os.environ.get("FLOWER_URL_PREFIX", "").strip("/")
    request = urllib.request.Request(f"http://127.0.0.1:5555/{prefix + '/' if prefix else ''}healthcheck")
    login = os.environ.get("FLOWER_BASIC_AUTH", "").split(",")[0]
    if login:
        request.add_header("Authorization", "Basic " + base64.b64encode(login.encode()).decode())
    with urllib.request.urlopen(request, timeout=4) as response:  # noqa: S310 - a fixed http:// URL
        body = response.read(64)
        if response.status != 200 or body.strip() != b"OK":
            raise RuntimeError(f"/healthcheck answered {response.status} {body!r}")


def main(argv):
    checks = {"web": web, "worker": worker, "beat": beat, "flower": flower}
    if len(argv) != 2 or argv[1] not in checks:
        print(f"usage: python -m deploykit.healthcheck {'|'.join(checks)}", file=sys.stderr)
        return 2
    try:
        checks[argv[1]]()
    except Exception as exc:
        print(f"unhealthy: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
