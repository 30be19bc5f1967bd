"""Check that Celery works: run a demo task here, or send it to a worker.

    manage.py test_celery                       run test_task in this process
    manage.py test_celery --async               send it to a worker, print the task id
    manage.py test_celery --async --wait [S]    ... and wait up to S seconds (30) for
                                                the result; exit 1 on failure or timeout
    --example                                   use example_async_task instead
    --message TEXT                              the message (or name, with --example)
    --delay SECONDS                             how long test_task works (2; a deploy uses 0)

A deploy runs ``--async --wait`` as its smoke test.
"""

import time

from celery.exceptions import TimeoutError as CeleryTimeout
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from kombu.exceptions import OperationalError

from core.redis import mask_url
from core.tasks import example_async_task, test_task

DEFAULT_WAIT = 30.0


def positive_seconds(value):
    seconds = float(value)
    if seconds <= 0:
        raise ValueError(value)
    return seconds


class Command(BaseCommand):
    help = "Run a demo Celery task locally, or through a worker with --async (--wait for its result)."

    def add_arguments(self, parser):
        parser.add_argument("--async", dest="run_async", action="store_true", help="send the task to a worker")
        parser.add_argument("--message", default="hello from test_celery", help="the message to process")
        parser.add_argument("--example", action="store_true", help="run example_async_task instead of test_task")
        parser.add_argument("--count", type=int, default=3, help="with --example: how many results (3)")
        parser.add_argument(
            "--delay", type=float, default=2.0, metavar="SECONDS", help="how long test_task works, in seconds (2)"
        )
        parser.add_argument(
            "--wait",
            nargs="?",
            const=DEFAULT_WAIT,
            type=positive_seconds,
            metavar="SECONDS",
            help=f"with --async: wait for the result, {DEFAULT_WAIT:g} s unless given; exit 1 on failure or timeout",
        )

    def handle(self, *args, run_async, message, example, count, delay, wait, **options):
        if wait is not None and not run_async:
            raise CommandError("--wait goes with --async: add --async to send the task to a worker")
        if delay < 0:
            raise CommandError(f"--delay must be 0 or more seconds, not {delay:g}")
        task, task_args = (example_async_task, (message, count)) if example else (test_task, (message, delay))

        if not run_async:
            result = task.apply(args=task_args)
            if result.failed():
                raise CommandError(f"{task.name} failed: {result.result!r}")
            self.stdout.write(f"{task.name} ran in this process: {result.result!r}")
            return

        try:
            result = task.apply_async(
                args=task_args, retry=True, retry_policy={"max_retries": 2, "interval_start": 0.5, "interval_step": 1}
            )
        except OperationalError as exc:
            raise CommandError(f"cannot reach the broker at {mask_url(settings.CELERY_BROKER_URL)}: {exc}") from None
        self.stdout.write(f"{task.name} sent, task id {result.id}")
        if wait is None:
            return

        self.stdout.write(f"waiting up to {wait:g} s for a worker to run it...")
        started = time.monotonic()
        try:
            value = result.get(timeout=wait, propagate=False)
        except CeleryTimeout:
            raise CommandError(
                f"no result within {wait:g} s (task state {result.state}): is a worker running and connected "
                f"to {mask_url(settings.CELERY_BROKER_URL)}?"
            ) from None
        if result.failed():
            raise CommandError(f"{task.name} failed in the worker: {value!r}")
        if not result.successful():  # revoked: the smoke test did not run to the end
            raise CommandError(f"{task.name} ended {result.state} in the worker: {value!r}")
        self.stdout.write(f"result after {time.monotonic() - started:.1f} s: {value!r}")
