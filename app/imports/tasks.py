"""The import task and the stale-session sweep."""

import logging
import time

import kombu.exceptions
import redis.exceptions
from celery import current_app, shared_task, states
from celery.exceptions import Ignore, SoftTimeLimitExceeded
from celery.result import AsyncResult
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F
from django.db.models.functions import Now
from django.utils import timezone

from core.redis import get_redis, mask_url
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


# Seconds between two looks at the database and Redis while an import waits out an outage.
OUTAGE_POLL = 2.0
# Seconds the sweep waits for the workers' answers.
INSPECT_TIMEOUT = 2.0


class ImportFailed(Exception):
    """The import failed for a reason already written to its session."""


class ImportClosed(Exception):
    """The session was closed elsewhere while the task ran: cancelled from the
    admin, or failed by the sweep. Its changes roll back."""


def retry_countdown(retries):
    return min(settings.IMPORT_RETRY_BACKOFF * 2**retries, settings.IMPORT_RETRY_BACKOFF_MAX)


def _finish(session_id, status, **fields):
    """Close an active session; 0 when it was no longer active (e.g. cancelled)."""
    return ImportSession.objects.filter(pk=session_id, status__in=ImportSession.ACTIVE).update(
        status=status, finished_at=timezone.now(), **fields
    )


class ProgressReporter:
    """Publishes state PROGRESS at most once per IMPORT_PROGRESS_INTERVAL, and at
    the same pace checks that the session is still open and renews the import
    lock (its heartbeat)."""

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
        if not ImportSession.objects.filter(pk=self.session_id, status__in=ImportSession.ACTIVE).exists():
            raise ImportClosed()
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
                {
                    "attempt": attempt,
                    "error": f"{type(exc).__name__}: {exc}".strip(),
                    "countdown": countdown,
                    "at": timezone.now().isoformat(timespec="seconds"),
                }
            )
            session.report = {**session.report, "retries": retries}
            session.status = Status.RETRYING
            session.save(update_fields=["status", "report"])
    except TRANSIENT_ERRORS as db_exc:  # the database itself may be the one that is down
        log.warning("could not record the retry of import #%s: %s", session_id, db_exc)
        connection.close()


def _unreachable():
    """What of the database and Redis (lock, broker, results) does not answer now."""
    down = []
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except (OperationalError, InterfaceError):
        connection.close()
        down.append("the database")
    for url in dict.fromkeys((settings.REDIS_URL, settings.CELERY_BROKER_URL, settings.CELERY_RESULT_BACKEND)):
        try:
            get_redis(url).ping()
        except redis.exceptions.RedisError:
            down.append(f"Redis ({mask_url(url)})")
    return down


def _wait_out(task_id, session_id, attempt, exc):
    """After a lost connection: pause, then wait until the database and Redis
    answer again, renewing the lock whenever Redis answers. Raises
    ImportDataError when they stay away IMPORT_OUTAGE_TIMEOUT seconds or another
    import took the lock, ImportClosed when the session was closed meanwhile."""
    pause = retry_countdown(attempt - 1)
    log.warning(
        "import #%s hit %s: %s; its changes rolled back. Run %d of %d starts in %d s, once the database "
        "and Redis answer",
        session_id, type(exc).__name__, exc, attempt + 1, settings.IMPORT_MAX_RETRIES + 1, pause,
    )  # fmt: skip
    _record_retry(session_id, attempt, exc, pause)
    started = time.monotonic()
    while True:
        time.sleep(min(pause, OUTAGE_POLL))
        down = _unreachable()
        if "the database" not in down:
            status = ImportSession.objects.filter(pk=session_id).values_list("status", flat=True).first()
            if status not in ImportSession.ACTIVE:
                raise ImportClosed()
        if not any(name.startswith("Redis") for name in down) and not lock.refresh(task_id):
            raise ImportDataError(f"another import ({lock.holder()}) took the import lock while this one waited")
        waited = time.monotonic() - started
        if not down and waited >= pause:
            log.info("import #%s: the database and Redis answer again after %.0f s; running again", session_id, waited)
            return
        if down and waited >= pause + settings.IMPORT_OUTAGE_TIMEOUT:
            raise ImportDataError(
                f"{' and '.join(down)} did not answer for {settings.IMPORT_OUTAGE_TIMEOUT} s "
                f"(IMPORT_OUTAGE_TIMEOUT) after {type(exc).__name__}: {exc}"
            )


def _run_once(session_id, import_type, progress):
    """One run of the import, in one transaction; returns the report's totals."""
    importer = Importer(settings.IMPORT_DATA_DIR, import_type, settings.IMPORT_BATCH_SIZE, progress)
    with transaction.atomic():
        report = importer.run()
        total = report.total()
        current = ImportSession.objects.filter(pk=session_id).values_list("report", flat=True).first() or {}
        finished = _finish(
            session_id,
            Status.SUCCEEDED,
            progress_current=importer.current,
            progress_total=importer.total,
            created_count=total.created,
            updated_count=total.updated,
            skipped_count=total.skipped,
            error_count=total.errors,
            report={**current, **report.as_dict(), "progress_writes": progress.writes},
            error_message="",
        )
        if not finished:
            raise ImportClosed()
    return total


def _start_run(session_id, hostname):
    """Mark the session running again (one more attempt); False when it is closed."""
    return ImportSession.objects.filter(pk=session_id, status__in=ImportSession.ACTIVE).update(
        status=Status.RUNNING, attempts=F("attempts") + 1, worker=hostname or ""
    )


@shared_task(bind=True, name="imports.run_import", acks_late=True, throws=(ImportFailed,))
def run_import(self, session_id):
    task_id = self.request.id
    session = ImportSession.objects.filter(pk=session_id).first()
    if session is None or session.celery_task_id != task_id:
        raise ImportFailed(f"no import session #{session_id} belongs to task {task_id}")
    # Only a queued session starts. A message handed out a second time (after
    # its worker died, or when a broker outage put it back in the queue) finds
    # its session running or closed, and does nothing: it records no result,
    # and it leaves the lock (whose token is this same task id) alone.
    claimed = ImportSession.objects.filter(pk=session_id, status=Status.QUEUED).update(
        status=Status.RUNNING, started_at=Now(), attempts=F("attempts") + 1, worker=self.request.hostname or ""
    )
    if not claimed:
        log.info("import #%s is %s already; this delivery of its task does nothing", session_id, session.status)
        raise Ignore()
    if not lock.refresh(task_id):
        message = f"another import holds the import lock ({lock.holder()}); this one was not run"
        _finish(session_id, Status.FAILED, error_message=message)
        raise ImportFailed(message)

    progress = ProgressReporter(self, session_id)
    attempt = 0
    try:
        while True:
            if attempt and not _start_run(session_id, self.request.hostname):
                raise ImportClosed()
            try:
                total = _run_once(session_id, session.import_type, progress)
                break
            except TRANSIENT_ERRORS as exc:
                connection.close()
                attempt += 1
                if attempt > settings.IMPORT_MAX_RETRIES:
                    raise ImportDataError(
                        f"gave up after {settings.IMPORT_MAX_RETRIES} retries: {type(exc).__name__}: {exc}"
                    ) from None
                _wait_out(task_id, session_id, attempt, exc)
    except ImportClosed:
        log.info("import #%s was closed while it ran (cancelled, or failed by the sweep); its changes rolled back",
                 session_id)  # fmt: skip
        self.update_state(state=states.REVOKED)
        raise Ignore() from None
    except SoftTimeLimitExceeded:
        limit = self.request.timelimit[1] or settings.CELERY_TASK_SOFT_TIME_LIMIT
        message = (
            f"stopped by the soft time limit ({limit} s); nothing was imported. "
            "Raise CELERY_TASK_SOFT_TIME_LIMIT or split the exchange."
        )
        _fail(session_id, message, progress)
        raise ImportFailed(message) from None
    except ImportDataError as exc:
        _fail(session_id, str(exc), progress)
        raise ImportFailed(str(exc)) from None
    except Exception as exc:
        connection.close()
        _finish(session_id, Status.FAILED, error_message=f"unexpected error: {type(exc).__name__}: {exc}")
        raise
    finally:
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


def _fail(session_id, message, progress):
    _finish(
        session_id,
        Status.FAILED,
        error_message=message,
        progress_current=progress.current,
        progress_total=progress.total,
    )


def _held_by_workers(task_ids):
    """{hostname: the given task ids it holds (received, running)} of every worker that answered."""
    replies = current_app.control.inspect(timeout=INSPECT_TIMEOUT).query_task(*task_ids) or {}
    return {hostname: set(found) for hostname, found in replies.items()}


def _stale_reason(session, holder, workers):
    """Why the session's task is gone, or None while it may still run."""
    task_id = session.celery_task_id
    if not task_id:
        return "it has no Celery task id"
    result = AsyncResult(task_id)
    if result.state in states.READY_STATES and result.state != states.REVOKED:
        why = f": {type(result.result).__name__}: {result.result}" if isinstance(result.result, Exception) else ""
        return f"its task already ended as {result.state}{why}"
    if session.status == Status.QUEUED:
        if holder == task_id:
            return None
        return (
            f"no worker started it within IMPORT_QUEUE_TIMEOUT ({settings.IMPORT_QUEUE_TIMEOUT} s); "
            "check that the worker runs and consumes"
        )
    if any(task_id in held for held in workers().values()):
        return None  # a worker has it: running, or waiting out an outage
    if holder != task_id:
        return (
            f"the worker running it ({session.worker or 'unknown'}) stopped: the import lock missed its "
            f"heartbeats for IMPORT_LOCK_TTL ({settings.IMPORT_LOCK_TTL} s) and no worker reports the task"
        )
    if session.worker and session.worker in workers():
        return f"the worker running it ({session.worker}) restarted and no longer has the task"
    return None  # its lock is fresh and its worker did not answer: look again next time


@shared_task(name="imports.sweep_stale_sessions")
def sweep_stale_sessions():
    """Fail the queued or running sessions whose task is gone, and free the lock.

    Beat sends it every IMPORT_SWEEP_INTERVAL seconds. A session is stale when
    its task already ended; when it is queued and no worker started it before
    its lock expired (IMPORT_QUEUE_TIMEOUT); or when it runs, no worker reports
    its task, and its lock missed its heartbeats (IMPORT_LOCK_TTL) or its own
    worker answered without it. Returns how many sessions it failed."""
    sessions = list(ImportSession.objects.filter(status__in=ImportSession.ACTIVE))
    if not sessions:
        return 0
    holder = lock.holder()
    answers = {}

    def workers():
        if "replies" not in answers:
            answers["replies"] = _held_by_workers([s.celery_task_id for s in sessions if s.celery_task_id])
        return answers["replies"]

    swept = 0
    for session in sessions:
        reason = _stale_reason(session, holder, workers)
        if reason is None:
            continue
        if _finish(session.pk, Status.FAILED, error_message=f"Marked failed by the stale-session sweep: {reason}."):
            if session.celery_task_id:
                lock.release(session.celery_task_id)
            log.warning("import #%s marked failed: %s", session.pk, reason)
            swept += 1
    return swept
