"""The project's Celery app (KIT_CELERY_APP), as the kit runs it: ``celery -A deploykit.celeryapp``.

Worker, beat and flower load the project's own app through this module, which
adds what the kit owes every project:

- the brief's settings: broker_connection_retry_on_startup on, and Celery
  leaves the root logger and colours alone (plain, one-line logs in Docker);
- the worker's concurrency from CELERY_WORKER_CONCURRENCY, when set;
- ``AliveFile``: the worker touches its alive file while it consumes from the
  broker, which deploykit.healthcheck reads (no code in the project);
- ``deploykit.ping``: the task a deploy's smoke test sends (deploykit.smoke).
- error tracking (deploykit.sentry) when SENTRY_DSN is set.

KIT_CELERY_APP is what ``celery -A`` takes: ``package.module`` (holding
``app`` or ``celery``) or ``package.module:attribute``.
"""

import os
from pathlib import Path

from celery import bootsteps
from celery.app.utils import find_app

from deploykit import env, sentry
from deploykit.healthcheck import WORKER_ALIVE_EVERY, worker_alive_file


def load():
    spec = env.get("KIT_CELERY_APP")
    if not spec:
        raise env.ConfigError(
            "KIT_CELERY_APP", "is not set; name the project's Celery app (inventory: django_stack_celery_app)"
        )
    return find_app(spec)


class AliveFile(bootsteps.StartStopStep):
    """Touches the worker's alive file every few seconds while it consumes tasks.

    A consumer step: it starts once the broker connection is up and the task
    consumer runs, and stops (removing the file) when the connection is lost or
    the worker shuts down. The timer fires from the worker's event loop, so a
    stuck loop leaves the file to age.
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


def prepare(celery_app):
    """The kit's settings and steps on the project's app."""
    celery_app.conf.update(
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_log_color=False,
    )
    concurrency = env.number("CELERY_WORKER_CONCURRENCY", None)
    if concurrency is not None:
        celery_app.conf.worker_concurrency = concurrency
    celery_app.steps["consumer"].add(AliveFile)

    @celery_app.task(name="deploykit.ping")
    def ping(message="ping"):
        return {"pong": message, "pid": os.getpid()}

    return celery_app


# Error tracking (SENTRY_DSN) starts before the project's app loads: its Celery integration sees every task.
sentry.start()
app = prepare(load())
