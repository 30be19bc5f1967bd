"""The running worker's effective configuration, its log and its healthcheck."""

import os
import re
import time

import pytest

from config.celery import app
from tests.conftest import wait_until


def test_running_worker_has_the_settings_the_brief_asks_for(worker):
    conf = app.control.inspect([worker.name], timeout=5).conf(with_defaults=True)[worker.name]
    assert conf["broker_connection_retry_on_startup"] is True
    assert conf["worker_hijack_root_logger"] is False
    assert conf["worker_log_color"] is False
    assert conf["worker_prefetch_multiplier"] == 1
    assert conf["task_serializer"] == conf["result_serializer"] == "json"
    assert conf["accept_content"] == ["json"]
    assert conf["task_track_started"] is True


@pytest.mark.django_db(transaction=True)
def test_worker_log_is_plain_with_task_ids(worker):
    from core.tasks import example_async_task

    result = example_async_task.delay("log", 1)
    result.get(timeout=30)

    def task_lines():  # the worker logs the success just after storing the result
        return [line for line in worker.log().splitlines() if result.id in line and "succeeded" in line]

    wait_until(task_lines, 10, "the worker to log the task's success")
    log = worker.log()
    assert "\x1b[" not in log  # no colour codes
    assert "broker_connection_retry" not in log  # no deprecation warning
    # One format: time, level, logger, [task id], message.
    assert re.match(
        rf"^\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d,\d{{3}} INFO celery\.app\.trace \[{result.id}\] Task ", task_lines()[0]
    )


def test_worker_keeps_its_alive_file_fresh_for_the_healthcheck(worker, monkeypatch):
    from deploykit import healthcheck

    monkeypatch.setenv("WORKER_ALIVE_FILE", str(worker.alive_file))
    assert worker.alive_file.exists(), "the consuming worker has not written its alive file"
    healthcheck.worker()  # fresh: passes

    stale = time.time() - 10 * healthcheck.WORKER_ALIVE_STALE
    os.utime(worker.alive_file, (stale, stale))
    with pytest.raises(RuntimeError, match="old: the worker's event loop is stuck"):
        healthcheck.worker()
    # The worker's timer touches it again within a few seconds.
    wait_until(lambda: worker.alive_file.stat().st_mtime > stale + 60, 10, "the worker to touch its alive file")
    healthcheck.worker()


def test_worker_healthcheck_fails_without_the_file(tmp_path, monkeypatch):
    from deploykit import healthcheck

    monkeypatch.setenv("WORKER_ALIVE_FILE", str(tmp_path / "missing"))
    assert healthcheck.main(["healthcheck.py", "worker"]) == 1
    with pytest.raises(RuntimeError, match="missing: the worker is not consuming"):
        healthcheck.worker()
