"""Container healthchecks: ``python -m config.healthcheck web|beat``.

web:  GET http://127.0.0.1:8000/healthz answers 200.
beat: the broker answers and beat has written its schedule file (it exists
      once beat has started and synced).
Exits 0 when healthy, 1 with a one-line reason otherwise. The worker's
check is ``celery inspect ping`` against itself (see compose.yml).
"""

import glob
import os
import sys
import urllib.request


def web():
    with urllib.request.urlopen("http://127.0.0.1:8000/healthz", timeout=4) as response:
        if response.status != 200:
            raise RuntimeError(f"/healthz answered {response.status}")


def beat():
    import redis

    redis.Redis.from_url(os.environ["CELERY_BROKER_URL"], socket_connect_timeout=3, socket_timeout=3).ping()
    schedule = os.environ.get("BEAT_SCHEDULE_FILE", "/var/lib/celery/celerybeat-schedule")
    if not glob.glob(schedule + "*"):
        raise RuntimeError(f"beat has not written {schedule} yet")


def main(argv):
    checks = {"web": web, "beat": beat}
    if len(argv) != 2 or argv[1] not in checks:
        print(f"usage: python -m config.healthcheck {'|'.join(checks)}", file=sys.stderr)
        return 2
    try:
        checks[argv[1]]()
    except Exception as exc:
        print(f"unhealthy: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
