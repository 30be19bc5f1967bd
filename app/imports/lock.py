"""The import lock: one import at a time, across every web and worker process.

A redis-py Lock whose token is the Celery task id of the session that holds
it. Any process can therefore act for that task (the worker that runs it, the
admin's Cancel button, the stale sweep), and nobody can release a lock that
another task holds.

It lives by heartbeat. A launch takes it for IMPORT_QUEUE_TIMEOUT seconds
(time for a worker to start the task); the running task renews it for
IMPORT_LOCK_TTL seconds on every progress tick. So the lock of a task whose
worker died expires within IMPORT_LOCK_TTL, and the sweep frees its session.
"""

from django.conf import settings
from redis.exceptions import LockError

from core.redis import get_redis

LOCK_NAME = "imports:lock"


def _lock(task_id, ttl=None):
    client = get_redis()
    lock = client.lock(LOCK_NAME, timeout=ttl or settings.IMPORT_LOCK_TTL, thread_local=False)
    lock.local.token = client.get_encoder().encode(task_id)
    return lock


def acquire(task_id, ttl=None):
    """Take the lock for ``task_id`` (for ``ttl`` seconds, IMPORT_LOCK_TTL by
    default); False when another task holds it. Never waits."""
    return _lock(task_id, ttl).acquire(blocking=False, token=task_id)


def refresh(task_id):
    """Renew for IMPORT_LOCK_TTL a lock ``task_id`` holds; take it again if it
    expired unheld. False when another task holds it now."""
    lock = _lock(task_id)
    try:
        lock.reacquire()
        return True
    except LockError:
        return acquire(task_id)


def release(task_id):
    """Release the lock if ``task_id`` holds it; True when it did."""
    try:
        _lock(task_id).release()
        return True
    except LockError:
        return False


def holder():
    """The task id that holds the lock, or None."""
    return get_redis().get(LOCK_NAME)
