"""Fixtures for the app suite: a real Celery worker (and beat) on the test database.

The suite needs the PostgreSQL and Redis that scripts/services.sh starts (or any
others named by DATABASE_URL / CELERY_BROKER_URL / ... in the environment).
When they do not answer, every test errors with a message saying so: nothing
is skipped.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
import redis
from celery.signals import after_task_publish
from django.conf import settings
from django.db import connection

from imports.sample import write_exchange

APP_DIR = Path(__file__).resolve().parents[1]
# The kit's layer (deploykit), which runs the shop in its image.
KIT_DIR = APP_DIR.parent / "compose" / "image"
SMALL_SAMPLE = APP_DIR / "imports" / "sample_data"
WORKER_APP_NAME = "kit-test-worker"


def wait_until(predicate, timeout, what, interval=0.1):
    """Poll ``predicate`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


@pytest.fixture(scope="session", autouse=True)
def services_answer():
    """Fail at once, with the fix, when PostgreSQL or Redis is not there."""
    for url in {settings.CELERY_BROKER_URL, settings.CELERY_RESULT_BACKEND, settings.REDIS_URL}:
        try:
            redis.Redis.from_url(url, socket_connect_timeout=3).ping()
        except redis.RedisError as exc:
            pytest.fail(f"Redis at {url.split('@')[-1]} does not answer ({exc}): run `bash scripts/services.sh up`")
    db = settings.DATABASES["default"]
    try:
        psycopg.connect(
            host=db["HOST"],
            port=db["PORT"],
            user=db["USER"],
            password=db["PASSWORD"],
            dbname=db["NAME"],
            connect_timeout=3,
        ).close()
    except psycopg.Error as exc:
        pytest.fail(
            f"PostgreSQL at {db['HOST']}:{db['PORT']} does not answer ({exc}): run `bash scripts/services.sh up`"
        )
    # Start from empty test queues, results and locks.
    for url in {settings.CELERY_BROKER_URL, settings.CELERY_RESULT_BACKEND, settings.REDIS_URL}:
        redis.Redis.from_url(url).flushdb()


@pytest.fixture(scope="session")
def exchange_dir():
    """The worker's IMPORT_DATA_DIR; each test fills it through ``exchange``."""
    path = Path(tempfile.mkdtemp(prefix="kit-exchange-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _test_database_url():
    db = connection.settings_dict  # after django_db_setup: the test database
    return (
        f"postgres://{quote(db['USER'], safe='')}:{quote(db['PASSWORD'], safe='')}@{db['HOST']}:{db['PORT']}/"
        f"{db['NAME']}?application_name={WORKER_APP_NAME}"
    )


class CeleryProcess:
    """A ``celery worker`` or ``celery beat`` process with its log in a file."""

    def __init__(self, kind, args, env, log_path):
        self.kind = kind
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "deploykit.celeryapp", kind, *args],
            cwd=APP_DIR,
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(KIT_DIR)},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self):
        return self.log_path.read_text(errors="replace")

    def check_alive(self):
        if self.proc.poll() is not None:
            pytest.fail(f"celery {self.kind} exited with {self.proc.returncode}:\n{self.log()[-3000:]}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def celery_env(exchange_dir, **extra):
    return {"DATABASE_URL": _test_database_url(), "IMPORT_DATA_DIR": str(exchange_dir), **extra}


@pytest.fixture(scope="session")
def worker(django_db_setup, django_db_blocker, exchange_dir, tmp_path_factory):
    """A real prefork worker (2 processes) on the test database and test Redis."""
    from config.celery import app

    name = f"test-{uuid.uuid4().hex[:8]}@localhost"
    workdir = tmp_path_factory.mktemp("worker")
    process = CeleryProcess(
        "worker",
        ["--pool", "prefork", "--concurrency", "2", "--hostname", name, "--loglevel", "INFO", "--without-gossip"],
        celery_env(exchange_dir, WORKER_ALIVE_FILE=str(workdir / "alive")),
        workdir / "worker.log",
    )
    process.name = name
    process.alive_file = workdir / "alive"

    def answers():
        process.check_alive()
        return app.control.ping(destination=[name], timeout=0.5)

    try:
        wait_until(answers, 60, f"the Celery worker {name} to answer a ping")
        yield process
    finally:
        process.stop()


@pytest.fixture
def exchange(exchange_dir, settings):
    """Fills the exchange directory for one test; the web side reads the same one."""
    settings.IMPORT_DATA_DIR = exchange_dir

    class Exchange:
        path = exchange_dir

        def clear(self):
            for child in exchange_dir.iterdir():
                child.unlink()

        def small(self):
            self.clear()
            for name in ("import.xml", "offers.xml"):
                shutil.copy(SMALL_SAMPLE / name, exchange_dir / name)

        def large(self, products=20000):
            self.clear()
            write_exchange(exchange_dir, products)

        def write(self, name, content):
            (exchange_dir / name).write_bytes(content if isinstance(content, bytes) else content.encode())

    helper = Exchange()
    helper.clear()
    return helper


@pytest.fixture
def publishes():
    """Every import task message published to the broker by this process."""
    sent = []
    guard = threading.Lock()

    def record(sender=None, headers=None, **kwargs):
        if sender == "imports.run_import":
            with guard:
                sent.append(headers["id"])

    after_task_publish.connect(record, weak=False)
    yield sent
    after_task_publish.disconnect(record)


@pytest.fixture(autouse=True)
def no_leftover_lock():
    """Each test starts with the import lock free."""
    from imports import lock

    lock.get_redis().delete(lock.LOCK_NAME)
    yield


def wait_finished(session, timeout=120):
    """Wait until the session leaves queued/running/retrying; returns it fresh."""

    def finished():
        session.refresh_from_db()
        return not session.is_active

    wait_until(finished, timeout, f"import #{session.pk} to finish (last status {session.status})")
    return session
