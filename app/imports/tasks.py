"""The import task and the stale-session sweep."""

import logging
import time

import kombu.exceptions
import redis.exceptions
from celery import shared_task, states
from celery.exceptions import Ignore, SoftTimeLimitExceeded
from celery.result import AsyncResult
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F
from django.db.models.functions import Coalesce, Now
from django.utils import timezone

from imports import lock
from imports.commerceml import ImportDataError
from imports.importer import Importer
from imports.models import ImportSession

log = logging.getLogger(__name__)
Status = ImportSession.Status

# Errors worth another try: the database or the broker went away for a moment.
TRANSIENT_ERRORS = (
    OperationalError,
    InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    kombu.exceptions.OperationalError,
)


class ImportFailed(Exception):
    """The import failed for a reason already written to its session."""


class ImportCancelled(Exception):
    """The session was cancelled while the task ran."""


def retry_countdown(retries):
    return min(settings.IMPORT_RETRY_BACKOFF * 2**retries, settings.IMPORT_RETRY_BACKOFF_MAX)


def _finish(session_id, status, **fields):
    """Close an active session; 0 when it was no longer active (e.g. cancelled)."""
    return ImportSession.objects.filter(pk=session_id, status__in=ImportSession.ACTIVE).update(
        status=status, finished_at=timezone.now(), **fields
    )


class ProgressReporter:
    """Publishes state PROGRESS at most once per IMPORT_PROGRESS_INTERVAL, and at
    the same pace checks for a cancel and keeps the import lock alive."""

    def __init__(self, task, session_id):
        self.task = task
        self.session_id = session_id
        self.interval = settings.IMPORT_PROGRESS_INTERVAL
        self.last = 0.0
        self.current = self.total = 0
        self.writes = 0

    def __call__(self, current, total):
        self.current, self.total = current, total
        now = time.monotonic()
        if 0 < current < total and now - self.last < self.interval:
            return
        self.last = now
        self.writes += 1
        self.task.update_state(
            state="PROGRESS", meta={"current": current, "total": total, "session_id": self.session_id}
        )
        if ImportSession.objects.filter(pk=self.session_id, status=Status.CANCELLED).exists():
            raise ImportCancelled()
        if not lock.refresh(self.task.request.id):
            raise ImportDataError("the import lock was taken by another task; this run stopped")


def _record_retry(session_id, attempt, exc, countdown):
    try:
        with transaction.atomic():
            session = ImportSession.objects.select_for_update().filter(pk=session_id).first()
            if session is None or not session.is_active:
                return
            retries = session.report.get("retries", [])
            retries.append(
                {"attempt": attempt, "error": f"{type(exc).__name__}: {exc}".strip(), "countdown": countdown}
            )
            session.report = {**session.report, "retries": retries}
            session.status = Status.RETRYING
            session.save(update_fields=["status", "report"])
    except TRANSIENT_ERRORS as db_exc:  # the database itself may be the one that is down
        log.warning("could not record the retry of import #%s: %s", session_id, db_exc)
        connection.close()


@shared_task(bind=True, name="imports.run_import", acks_late=True, throws=(ImportFailed,))
def run_import(self, session_id):
    task_id = self.request.id
    session = ImportSession.objects.filter(pk=session_id).first()
    if session is None or session.celery_task_id != task_id:
        lock.release(task_id)
        raise ImportFailed(f"no import session #{session_id} belongs to task {task_id}")
    if not session.is_active:
        lock.release(task_id)
        log.info("import #%s is already %s; nothing to do", session_id, session.status)
        return {"session_id": session_id, "status": session.status}
    if not lock.refresh(task_id):
        message = f"another import holds the import lock ({lock.holder()}); this one was not run"
        _finish(session_id, Status.FAILED, error_message=message)
        raise ImportFailed(message)

    ImportSession.objects.filter(pk=session_id, status__in=ImportSession.ACTIVE).update(
        status=Status.RUNNING, started_at=Coalesce(F("started_at"), Now()), attempts=F("attempts") + 1
    )
    progress = ProgressReporter(self, session_id)
    importer = Importer(settings.IMPORT_DATA_DIR, session.import_type, settings.IMPORT_BATCH_SIZE, progress)
    keep_lock = False
    try:
        with transaction.atomic():
            report = importer.run()
            total = report.total()
            finished = _finish(
                session_id,
                Status.SUCCEEDED,
                progress_current=importer.current,
                progress_total=importer.total,
                created_count=total.created,
                updated_count=total.updated,
                skipped_count=total.skipped,
                error_count=total.errors,
                report={**session.report, **report.as_dict(), "progress_writes": progress.writes},
                error_message="",
            )
            if not finished:
                raise ImportCancelled()
    except ImportCancelled:
        log.info("import #%s was cancelled; its changes were rolled back", session_id)
        self.update_state(state=states.REVOKED)
        raise Ignore() from None
    except SoftTimeLimitExceeded:
        limit = self.request.timelimit[1] or settings.CELERY_TASK_SOFT_TIME_LIMIT
        message = (
            f"stopped by the soft time limit ({limit} s); nothing was imported. "
            "Raise CELERY_TASK_SOFT_TIME_LIMIT or split the exchange."
        )
        _finish(
            session_id,
            Status.FAILED,
            error_message=message,
            progress_current=progress.current,
            progress_total=progress.total,
        )
        raise ImportFailed(message) from None
    except ImportDataError as exc:
        _finish(
            session_id,
            Status.FAILED,
            error_message=str(exc),
            progress_current=progress.current,
            progress_total=progress.total,
        )
        raise ImportFailed(str(exc)) from None
    except TRANSIENT_ERRORS as exc:
        connection.close()
        retries = self.request.retries
        if retries >= settings.IMPORT_MAX_RETRIES:
            message = f"gave up after {retries} retries: {type(exc).__name__}: {exc}"
            _finish(session_id, Status.FAILED, error_message=message)
            raise ImportFailed(message) from None
        countdown = retry_countdown(retries)
        log.warning(
            "import #%s hit %s: %s; retry %d in %d s", session_id, type(exc).__name__, exc, retries + 1, countdown
        )
        _record_retry(session_id, retries + 1, exc, countdown)
        keep_lock = True
        raise self.retry(exc=exc, countdown=countdown, max_retries=settings.IMPORT_MAX_RETRIES) from None
    except Exception as exc:
        connection.close()
        _finish(session_id, Status.FAILED, error_message=f"unexpected error: {type(exc).__name__}: {exc}")
        raise
    finally:
        if not keep_lock:
            lock.release(task_id)
    log.info(
        "import #%s done: %d created, %d updated, %d skipped, %d errors",
        session_id,
        total.created,
        total.updated,
        total.skipped,
        total.errors,
    )
    return {"session_id": session_id, "status": Status.SUCCEEDED, **total.as_dict()}


@shared_task(name="imports.sweep_stale_sessions")
def sweep_stale_sessions():
    """Fail sessions left queued or running by a task that is gone.

    A session is stale when it is older than IMPORT_STALE_AFTER and its task no
    longer holds the import lock (the lock expired: the worker was lost), or
    its task already ended in the result backend."""
    cutoff = timezone.now() - timezone.timedelta(seconds=settings.IMPORT_STALE_AFTER)
    holder = lock.holder()
    swept = 0
    for session in ImportSession.objects.filter(status__in=ImportSession.ACTIVE, created_at__lt=cutoff):
        task_id = session.celery_task_id
        if not task_id:
            reason = "it has no Celery task id"
        elif holder != task_id:
            reason = "its task no longer holds the import lock (the lock expired or the worker was lost)"
        else:
            state = AsyncResult(task_id).state
            if state not in states.READY_STATES:
                continue
            reason = f"its task already ended as {state}"
        if _finish(session.pk, Status.FAILED, error_message=f"Marked failed by the stale-session sweep: {reason}."):
            if task_id:
                lock.release(task_id)
            log.warning("import #%s marked failed: %s", session.pk, reason)
            swept += 1
    return swept
