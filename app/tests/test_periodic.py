"""Beat's schedule, the stale-session sweep and the session cleanup, on the real worker."""

import datetime
import uuid

import pytest
from celery.result import AsyncResult
from django.conf import settings
from django.contrib.sessions.models import Session
from django.utils import timezone

from core.tasks import clear_expired_sessions
from imports import lock
from imports.models import ImportSession
from imports.tasks import sweep_stale_sessions
from tests.conftest import CeleryProcess, celery_env, wait_finished, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("worker")]


def make_session(status="running", age=600, task_id=None, worker="gone@nowhere"):
    session = ImportSession.objects.create(
        import_type="full",
        status=status,
        celery_task_id=task_id or str(uuid.uuid4()),
        started_at=timezone.now() - datetime.timedelta(seconds=age),
        worker=worker if status != "queued" else "",
    )
    ImportSession.objects.filter(pk=session.pk).update(created_at=timezone.now() - datetime.timedelta(seconds=age))
    return session


def test_sweep_fails_stale_sessions_and_spares_live_ones():
    lost = make_session("running")  # its lock missed its heartbeats and no worker reports it
    queued_lost = make_session("queued")  # no worker started it before its lock expired
    alive = make_session("running")  # its lock is fresh; its worker did not answer (busy, or reconnecting)
    assert lock.acquire(alive.celery_task_id)
    done = make_session("succeeded")

    swept = sweep_stale_sessions.delay().get(timeout=30)
    assert swept == 2
    for session in (lost, queued_lost, alive, done):
        session.refresh_from_db()
    assert (lost.status, queued_lost.status) == ("failed", "failed")
    assert lost.error_message == (
        "Marked failed by the stale-session sweep: the worker running it (gone@nowhere) stopped: the import lock "
        "missed its heartbeats for IMPORT_LOCK_TTL (60 s) and no worker reports the task."
    )
    assert queued_lost.error_message == (
        "Marked failed by the stale-session sweep: no worker started it within IMPORT_QUEUE_TIMEOUT (600 s); "
        "check that the worker runs and consumes."
    )
    assert lost.finished_at is not None
    assert (alive.status, done.status) == ("running", "succeeded")
    assert lock.holder() == alive.celery_task_id


def test_sweep_fails_a_session_whose_worker_answers_without_it(worker):
    """The worker restarted (kill -9, OOM): it answers, but no longer has the task,
    so the session is freed at once rather than when its lock expires."""
    session = make_session("running", worker=worker.name)
    assert lock.acquire(session.celery_task_id)
    assert sweep_stale_sessions.delay().get(timeout=30) == 1
    session.refresh_from_db()
    assert session.status == "failed"
    assert session.error_message == (
        f"Marked failed by the stale-session sweep: the worker running it ({worker.name}) restarted and no "
        "longer has the task."
    )
    assert lock.holder() is None


def test_sweep_spares_an_import_a_worker_still_runs(admin_client, exchange):
    """A running import whose lock expired (Redis came back from an outage before
    the task renewed it) is still reported by its worker: the sweep leaves it,
    the task takes the lock again and finishes."""
    from imports.services import launch_import

    exchange.large(20000)
    session = launch_import("catalogue")
    wait_until(lambda: AsyncResult(session.celery_task_id).state == "PROGRESS", 60, "the import to run")
    lock.get_redis().delete(lock.LOCK_NAME)
    assert sweep_stale_sessions.delay().get(timeout=30) == 0
    session = wait_finished(session)
    assert session.status == "succeeded", session.error_message
    assert lock.holder() is None


def test_sweep_fails_a_session_whose_task_already_ended():
    from config.celery import app

    session = make_session("running")
    assert lock.acquire(session.celery_task_id)
    app.backend.store_result(session.celery_task_id, None, "FAILURE")
    assert sweep_stale_sessions.delay().get(timeout=30) == 1
    session.refresh_from_db()
    assert session.error_message == "Marked failed by the stale-session sweep: its task already ended as FAILURE."
    assert lock.holder() is None


def test_schedule_lives_in_settings():
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["clear-expired-sessions"]["task"] == "core.clear_expired_sessions"
    assert schedule["sweep-stale-imports"]["task"] == "imports.sweep_stale_sessions"
    assert schedule["sweep-stale-imports"]["schedule"] == 60.0


def test_beat_sends_the_sweep_on_the_interval_from_the_environment(exchange_dir, tmp_path):
    stale = make_session("running")
    beat = CeleryProcess(
        "beat",
        [
            "--schedule",
            str(tmp_path / "celerybeat-schedule"),
            "--pidfile",
            str(tmp_path / "beat.pid"),
            "--loglevel",
            "INFO",
        ],
        celery_env(exchange_dir, IMPORT_SWEEP_INTERVAL="1"),
        tmp_path / "beat.log",
    )
    try:

        def swept():
            beat.check_alive()
            stale.refresh_from_db()
            return stale.status == "failed"

        wait_until(swept, 60, "beat to send the sweep and the worker to run it")
        assert "Scheduler: Sending due task sweep-stale-imports (imports.sweep_stale_sessions)" in beat.log()
        assert "\x1b[" not in beat.log()
    finally:
        beat.stop()


def test_clear_expired_sessions_deletes_only_expired_ones():
    now = timezone.now()
    Session.objects.create(session_key="old", session_data="", expire_date=now - datetime.timedelta(days=1))
    Session.objects.create(session_key="new", session_data="", expire_date=now + datetime.timedelta(days=1))
    assert clear_expired_sessions.delay().get(timeout=30) == 1
    assert list(Session.objects.values_list("session_key", flat=True)) == ["new"]
