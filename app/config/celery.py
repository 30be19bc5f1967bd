"""The Celery application ``config``: settings come from Django's, prefix CELERY_."""

import os
from pathlib import Path

from celery import Celery, bootsteps

from config.healthcheck import WORKER_ALIVE_EVERY, worker_alive_file

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class AliveFile(bootsteps.StartStopStep):
    """Touches the worker's alive file every few seconds while it consumes tasks.

    A consumer step: it starts once the broker connection is up and the task
    consumer runs, and stops (removing the file) when the connection is lost or
    the worker shuts down. The timer fires from the worker's event loop, so a
    stuck loop leaves the file to age. ``python config/healthcheck.py worker``
    reads its age: a check that costs no broker round trip and no Celery import,
    so it can run every few seconds.
    """

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, consumer, **kwargs):
        super().__init__(consumer, **kwargs)
        self.path = Path(worker_alive_file())
        self.timer = None

    def start(self, consumer):
        self.touch()
        self.timer = consumer.timer.call_repeatedly(WORKER_ALIVE_EVERY, self.touch)

    def stop(self, consumer):
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.path.unlink(missing_ok=True)

    shutdown = stop

    def touch(self):
        self.path.touch()


app.steps["consumer"].add(AliveFile)


@app.task(bind=True, ignore_result=True)
def debug_task(self):
    print(f"Request: {self.request!r}")
