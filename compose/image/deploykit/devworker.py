"""Development only: ``python -m deploykit.devworker [WORKER ARGS]``.

Runs ``celery -A deploykit.celeryapp worker`` and restarts it when a .py file
under the working directory (the project, bind-mounted by compose.dev.yml)
changes. Polls file times once a second (no extra dependency)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


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


def main(worker_args):
    root = Path.cwd()
    command = [sys.executable, "-m", "celery", "-A", "deploykit.celeryapp", "worker", *worker_args]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        print(f"devworker: starting {' '.join(command[1:])}", flush=True)
        worker = subprocess.Popen(command, cwd=root)
        before = snapshot(root)
        try:
            while worker.poll() is None:
                time.sleep(1)
                now = snapshot(root)
                if now != before:
                    changed = sorted(set(now.items()) ^ set(before.items()))[0][0]
                    print(f"devworker: {changed} changed; restarting the worker", flush=True)
                    worker.terminate()
                    worker.wait(timeout=60)
                    break
            else:
                print(f"devworker: the worker exited with {worker.returncode}; restarting in 2 s", flush=True)
                time.sleep(2)
        finally:
            if worker.poll() is None:
                worker.terminate()
                worker.wait(timeout=60)


if __name__ == "__main__":
    main(sys.argv[1:])
