"""Development only: run a Celery worker and restart it when a .py file changes.

compose.dev.yml runs it with the source bind-mounted. Polls file times once
a second (no extra dependency); arguments after ``--`` go to the worker."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand


def snapshot(root):
    times = {}
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = [d for d in subdirs if d not in {"__pycache__", "tests", "staticfiles", "media", ".git"}]
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                try:
                    times[path] = os.stat(path).st_mtime
                except FileNotFoundError:
                    continue
    return times


class Command(BaseCommand):
    help = "Run `celery -A config worker` and restart it whenever a .py file under the project changes."

    def add_arguments(self, parser):
        parser.add_argument("worker_args", nargs="*", help="extra worker arguments (after --)")

    def handle(self, *args, worker_args, **options):
        root = Path(settings.BASE_DIR)
        command = [sys.executable, "-m", "celery", "-A", "config", "worker", *worker_args]
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        while True:
            self.stdout.write(f"devworker: starting {' '.join(command[1:])}")
            worker = subprocess.Popen(command, cwd=root)
            before = snapshot(root)
            try:
                while worker.poll() is None:
                    time.sleep(1)
                    now = snapshot(root)
                    if now != before:
                        changed = sorted(set(now.items()) ^ set(before.items()))[0][0]
                        self.stdout.write(f"devworker: {changed} changed; restarting the worker")
                        worker.terminate()
                        worker.wait(timeout=60)
                        break
                else:
                    self.stdout.write(f"devworker: the worker exited with {worker.returncode}; restarting in 2 s")
                    time.sleep(2)
            finally:
                if worker.poll() is None:
                    worker.terminate()
                    worker.wait(timeout=60)
