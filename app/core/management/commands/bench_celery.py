"""Measure Celery end to end on this deployment: ``manage.py bench_celery --tasks 1000``.

Sends N short tasks at once through the broker and waits for every result.
Prints tasks per second (first send to last result) and the median and 95th
percentile of enqueue-to-start latency. The worker and this command must share
a clock (same host), which is the case for the compose stack."""

import statistics
import time

from django.core.management.base import BaseCommand, CommandError

from core.tasks import timestamp_task


class Command(BaseCommand):
    help = "Send N short tasks to the workers; print tasks/s and enqueue-to-start latency."

    def add_arguments(self, parser):
        parser.add_argument("--tasks", type=int, default=1000, help="how many tasks (1000)")
        parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for all results (300)")

    def handle(self, *args, tasks, timeout, **options):
        if tasks < 1:
            raise CommandError(f"--tasks must be 1 or more, not {tasks}")
        started = time.time()
        results = [timestamp_task.delay(time.time()) for _ in range(tasks)]
        sent = time.time()
        deadline = time.monotonic() + timeout
        values = []
        for result in results:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CommandError(f"only {len(values)} of {tasks} tasks finished within {timeout:g} s")
            values.append(result.get(timeout=remaining))
        finished = time.time()
        latencies = sorted((v["started_at"] - v["sent_at"]) * 1000 for v in values)
        p95 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))]
        self.stdout.write(f"tasks={tasks}")
        self.stdout.write(f"send_seconds={sent - started:.3f}")
        self.stdout.write(f"total_seconds={finished - started:.3f}")
        self.stdout.write(f"tasks_per_second={tasks / (finished - started):.1f}")
        self.stdout.write(f"latency_median_ms={statistics.median(latencies):.1f}")
        self.stdout.write(f"latency_p95_ms={p95:.1f}")
