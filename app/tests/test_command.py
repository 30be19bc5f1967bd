"""manage.py test_celery in every mode, as a deploy would run it."""

import os
import re
import subprocess
import sys

import pytest
from celery.result import AsyncResult

from tests.conftest import APP_DIR

pytestmark = pytest.mark.usefixtures("worker")


def run(*args, **env):
    return subprocess.run(
        [sys.executable, "manage.py", "test_celery", *args],
        cwd=APP_DIR,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=90,
    )


def test_default_runs_test_task_in_process():
    result = run("--message", "local")
    assert result.returncode == 0, result.stderr
    assert "core.test_task ran in this process: 'Processed: local'" in result.stdout


def test_example_runs_in_process():
    result = run("--example", "--message", "demo", "--count", "2")
    assert result.returncode == 0, result.stderr
    assert "{'name': 'demo', 'count': 2, 'results': ['demo #1', 'demo #2'], 'status': 'completed'}" in result.stdout


def test_async_sends_to_the_worker_and_prints_the_task_id():
    result = run("--async", "--message", "fire and forget")
    assert result.returncode == 0, result.stderr
    task_id = re.search(r"task id ([0-9a-f-]{36})", result.stdout).group(1)
    assert AsyncResult(task_id).get(timeout=30) == "Processed: fire and forget"


def test_async_wait_blocks_for_the_result():
    result = run("--async", "--wait", "30", "--message", "smoke")
    assert result.returncode == 0, result.stderr
    assert "result after" in result.stdout and "'Processed: smoke'" in result.stdout


def test_async_delay_zero_is_a_quick_round_trip_as_a_deploy_runs_it():
    result = run("--async", "--message", "deploy smoke test", "--delay", "0", "--wait", "1.5")
    assert result.returncode == 0, result.stderr  # the default 2 s of work would miss 1.5 s
    assert "'Processed: deploy smoke test'" in result.stdout


def test_negative_delay_is_refused():
    result = run("--delay", "-1")
    assert result.returncode == 1
    assert "--delay must be 0 or more seconds, not -1" in result.stderr


def test_async_example_wait_with_default_timeout():
    result = run("--async", "--example", "--message", "ex", "--wait")
    assert result.returncode == 0, result.stderr
    assert "waiting up to 30 s" in result.stdout
    assert "'status': 'completed'" in result.stdout


def test_wait_timeout_exits_non_zero():
    result = run("--async", "--wait", "0.5")  # test_task takes about 2 s
    assert result.returncode == 1
    assert "no result within 0.5 s" in result.stderr


def test_failed_task_exits_non_zero():
    result = run("--async", "--example", "--count", "-1", "--wait", "30")
    assert result.returncode == 1
    assert (
        "core.example_async_task failed in the worker: ValueError('count must be 0 or more, not -1')" in result.stderr
    )


def test_revoked_task_exits_non_zero():
    # A deploy's smoke test must not pass when its task was revoked before it finished.
    from config.celery import app

    command = subprocess.Popen(
        [sys.executable, "manage.py", "test_celery", "--async", "--wait", "30"],
        cwd=APP_DIR,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    sent = command.stdout.readline()  # "core.test_task sent, task id ..."; the task takes about 2 s
    task_id = re.search(r"task id ([0-9a-f-]{36})", sent).group(1)
    app.control.revoke(task_id, terminate=True)
    stdout, stderr = command.communicate(timeout=60)
    assert command.returncode == 1, sent + stdout + stderr
    assert "core.test_task ended REVOKED in the worker" in stderr, stderr
    assert AsyncResult(task_id).state == "REVOKED"


def test_failed_task_in_process_exits_non_zero():
    result = run("--example", "--count", "-1")
    assert result.returncode == 1
    assert "core.example_async_task failed: ValueError('count must be 0 or more, not -1')" in result.stderr


def test_wait_without_async_is_refused():
    result = run("--wait", "5")
    assert result.returncode == 1
    assert "--wait goes with --async" in result.stderr


def test_bad_wait_value_is_refused():
    result = run("--async", "--wait", "soon")
    assert result.returncode == 2
    assert "--wait" in result.stderr


def test_unreachable_broker_exits_non_zero_without_the_password():
    result = run("--async", "--wait", "5", CELERY_BROKER_URL="redis://:hunter2-secret@127.0.0.1:6399/0")
    assert result.returncode == 1
    assert "cannot reach the broker at redis://:***@127.0.0.1:6399/0" in result.stderr
    assert "hunter2-secret" not in result.stdout + result.stderr
