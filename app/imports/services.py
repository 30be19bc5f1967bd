"""Launch and cancel imports: the only places that create sessions and send tasks."""

import logging
import uuid

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError

from imports import lock
from imports.models import ImportSession

log = logging.getLogger(__name__)


class LaunchRefused(Exception):
    """The import was not started; ``str(exc)`` says why, ``status`` is the HTTP status to answer."""

    def __init__(self, message, status=409):
        super().__init__(message)
        self.status = status


def _describe_holder(task_id):
    session = ImportSession.objects.filter(celery_task_id=task_id).first() if task_id else None
    if session is None:
        return "Another import is running."
    started = timezone.localtime(session.started_at or session.created_at).strftime("%H:%M:%S")
    what = session.get_import_type_display()
    return f"Import #{session.pk} ({what}) is {session.get_status_display().lower()} since {started}."


def launch_import(import_type, user=None, soft_time_limit=None):
    """Start one import session and exactly one task for it, or raise LaunchRefused.

    The import lock is taken first, with the new task's id as its token, so of
    any number of concurrent launches exactly one gets through; the others are
    refused, not queued."""
    if import_type not in ImportSession.Type.values:
        raise LaunchRefused(
            f"Unknown import type {import_type!r}: choose one of {', '.join(ImportSession.Type.values)}.", status=400
        )
    data_dir = settings.IMPORT_DATA_DIR
    if not data_dir.is_dir():
        raise LaunchRefused(
            f"The import data directory {data_dir} does not exist. Create it, or point IMPORT_DATA_DIR at the "
            "directory where 1C uploads import.xml and offers.xml.",
            status=400,
        )
    task_id = str(uuid.uuid4())
    try:
        acquired = lock.acquire(task_id, ttl=settings.IMPORT_QUEUE_TIMEOUT)
    except RedisError as exc:
        raise LaunchRefused(f"Redis is unreachable, so the import lock cannot be taken: {exc}", status=503) from None
    if not acquired:
        raise LaunchRefused(
            f"{_describe_holder(lock.holder())} Wait for it to finish, or cancel it, then launch again."
        )
    try:
        session = ImportSession.objects.create(
            import_type=import_type, celery_task_id=task_id, launched_by=user if user and user.pk else None
        )
    except Exception:
        lock.release(task_id)
        raise

    def send():
        from imports.tasks import run_import

        options = {"soft_time_limit": soft_time_limit} if soft_time_limit else {}
        try:
            run_import.apply_async(
                (session.pk,), task_id=task_id, retry=True, retry_policy={"max_retries": 2}, **options
            )
        except BrokerError as exc:
            ImportSession.objects.filter(pk=session.pk).update(
                status=ImportSession.Status.FAILED,
                finished_at=timezone.now(),
                error_message=f"The task could not be queued: the broker is unreachable ({exc}).",
            )
            lock.release(task_id)
            raise LaunchRefused(f"The broker is unreachable, so the import was not queued: {exc}", 503) from None
        log.info("import #%s (%s) queued as task %s", session.pk, import_type, task_id)

    # Send only once the session row is committed, so the worker always finds it.
    transaction.on_commit(send, robust=False)
    return session


def cancel_import(session, user=None):
    """Mark an active session cancelled, revoke its task and free the lock.

    Returns False when the session had already finished."""
    who = getattr(user, "username", "") or "an operator"
    updated = ImportSession.objects.filter(pk=session.pk, status__in=ImportSession.ACTIVE).update(
        status=ImportSession.Status.CANCELLED, finished_at=timezone.now(), error_message=f"Cancelled by {who}."
    )
    if not updated:
        return False
    if session.celery_task_id:
        # terminate=True stops a running task at once; its transaction rolls back.
        current_app.control.revoke(session.celery_task_id, terminate=True, signal="SIGTERM")
        lock.release(session.celery_task_id)
    log.info("import #%s cancelled by %s", session.pk, who)
    return True
