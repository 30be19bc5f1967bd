"""gunicorn's settings, from the environment (see compose/env.example).

Used as ``gunicorn --config python:deploykit.gunicorn``: the app it serves is
deploykit.wsgi, the project's own WSGI app (KIT_WSGI_APP) behind the kit's
/healthz and /readyz."""

import os
from pathlib import Path

from deploykit.env import number as _int


def _cpus():
    """The CPUs this container may use: its affinity, capped by a CPU quota (compose's cpus:)."""
    count = len(os.sched_getaffinity(0))
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            count = min(count, max(1, -(-int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return count


def _memory_mib():
    """The memory this container may use: its cgroup limit, else the machine's."""
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            return int(limit) // 2**20
    except (OSError, ValueError):
        pass
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return 1024


wsgi_app = "deploykit.wsgi:application"
bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# Threaded workers: one process per CPU (a process runs Python on one CPU at a
# time), each with threads, so that a request waiting on the database or a
# slow client does not hold a whole process. Capped by memory: a process
# takes about 60 MiB at rest, counted as 100 with its peaks, and web gets at
# most a quarter of the server's memory (a 1 GB server runs 2 at most, beside
# PostgreSQL, Redis and Celery).
worker_class = "gthread"
workers = _int("GUNICORN_WORKERS", max(1, min(_cpus(), _memory_mib() // 4 // 100)))
threads = _int("GUNICORN_THREADS", 4)
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
max_requests = _int("GUNICORN_MAX_REQUESTS", 1000)
max_requests_jitter = max(1, max_requests // 10)
worker_tmp_dir = "/dev/shm"  # the heartbeat file; the root filesystem is read-only  # noqa: S108
accesslog = "-"
errorlog = "-"
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "*")  # only nginx reaches it
