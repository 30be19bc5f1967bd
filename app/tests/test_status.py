"""deploykit.status: what playbooks/status.yml reads of Celery, against the real worker and Redis."""

import json
import time

import pytest

from config.celery import app
from tests.conftest import wait_until

IDLE_QUEUE = "kit-test-idle"  # routed to, consumed by no worker


def status(capsys, *args):
    from deploykit import status as kit_status

    assert kit_status.main(list(args)) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def idle_queue(monkeypatch):
    monkeypatch.setitem(app.conf, "task_routes", {"kit.idle": {"queue": IDLE_QUEUE}})
    yield IDLE_QUEUE
    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge(IDLE_QUEUE)


@pytest.mark.django_db(transaction=True)
def test_status_counts_waiting_messages_running_tasks_and_the_days_failures(worker, idle_queue, capsys):
    from core.tasks import example_async_task, test_task

    for _ in range(3):
        app.send_task("kit.idle", queue=idle_queue)
    failed = example_async_task.delay("status", -1)
    with pytest.raises(ValueError, match="count must be 0 or more"):
        failed.get(timeout=30)
    example_async_task.delay("status", 1).get(timeout=30)
    running = test_task.delay("status", 8)
    wait_until(lambda: running.state == "STARTED", 10, "the slow task to start")

    seen = status(capsys, "--wait", "3")
    assert seen["errors"] == {}
    assert seen["queues"][idle_queue] == 3, seen["queues"]
    assert seen["queues"]["celery"] == 0, seen["queues"]
    active = seen["workers"][worker.name]
    assert [(task["name"], task["id"]) for task in active] == [("core.test_task", running.id)]
    states = seen["tasks"]["states"]
    assert states["FAILURE"] >= 1 and states["SUCCESS"] >= 1, states
    newest = seen["tasks"]["failures"][0]
    assert newest["id"] == failed.id and newest["error"] == "ValueError: count must be 0 or more, not -1", newest
    assert seen["tasks"]["complete"] is True
    running.get(timeout=30)

    # Results older than --hours (0.36 s) are not counted.
    time.sleep(1)
    assert status(capsys, "--hours", "0.0001", "--wait", "0.5")["tasks"]["states"] == {}


def test_status_says_which_part_it_cannot_read_and_prints_the_others(worker, monkeypatch, capsys):
    monkeypatch.setattr(app.control, "inspect", lambda **kwargs: 1 / 0)
    seen = status(capsys, "--wait", "0.5")
    assert seen["errors"] == {"workers": "ZeroDivisionError: division by zero"}
    assert "workers" not in seen and "celery" in seen["queues"] and "states" in seen["tasks"]
