"""Demo tasks used by ``manage.py test_celery`` and ``make bench-stack``; housekeeping."""

import logging
import time

from celery import shared_task
from django.contrib.sessions.models import Session
from django.utils import timezone

log = logging.getLogger(__name__)


@shared_task(name="core.test_task")
def test_task(message, delay=2.0):
    """Return ``"Processed: <message>"`` after about ``delay`` seconds."""
    time.sleep(delay)
    return f"Processed: {message}"


@shared_task(name="core.example_async_task")
def example_async_task(name, count):
    """A task with structured input and output: ``{name, count, results, status}``."""
    count = int(count)
    if count < 0:
        raise ValueError(f"count must be 0 or more, not {count}")
    results = [f"{name} #{index}" for index in range(1, count + 1)]
    return {"name": name, "count": count, "results": results, "status": "completed"}


@shared_task(name="core.clear_expired_sessions")
def clear_expired_sessions():
    """Delete expired Django sessions (what ``manage.py clearsessions`` does), daily from beat."""
    deleted, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    log.info("cleared %d expired sessions", deleted)
    return deleted
