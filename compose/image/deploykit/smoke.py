"""A deploy's smoke test: ``python -m deploykit.smoke [--wait SECONDS]``.

Sends the kit's ``deploykit.ping`` task through the project's own Celery app
(its broker and result backend, as its settings read them) and waits for a
worker's answer. Prints ``celery ok: ...`` and exits 0, or one line saying
what failed (never a URL's password) and exits 1.
"""

import argparse
import sys
import time

from deploykit import celeryapp


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m deploykit.smoke")
    parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for a worker's answer (60)")
    args = parser.parse_args(argv)
    app = celeryapp.app
    started = time.monotonic()
    try:
        result = app.send_task("deploykit.ping", args=["deploy smoke test"])
        answer = result.get(timeout=args.wait)
    except Exception as exc:  # the broker, the backend or the worker: say which, briefly
        print(f"celery failed: {type(exc).__name__}: {str(exc).split('@')[-1][:200]}", file=sys.stderr)
        return 1
    elapsed = time.monotonic() - started
    print(f"celery ok: task {result.id} answered {answer['pong']!r} from worker pid {answer['pid']} in {elapsed:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
