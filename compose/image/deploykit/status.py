"""Celery's side of playbooks/status.yml: ``python -m deploykit.status [--hours H] [--wait S]``.

Prints one JSON object, read through the project's own Celery app (its broker
and result backend, as its settings read them):

queues:  the messages waiting in each queue the app knows (its default queue,
         task_queues, and the queues task_routes names);
workers: each worker that answers within --wait seconds, with its active tasks
         (name, id, seconds running);
tasks:   the results the backend holds of the last --hours hours (24), counted
         by state, and the newest failures (id, time, exception). Only a Redis
         result backend can be counted; a task with ignore_result leaves none.

A part that cannot be read is left out, and ``errors`` says why (never a URL's
password); the others are still printed. Exits 0: the playbook decides what
is wrong.
"""

import argparse
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from itertools import islice

from deploykit import celeryapp

# A Redis result backend is scanned this many keys at a time, and no further
# than SCAN_LIMIT keys (result_expires bounds how many there are).
SCAN_BATCH = 500
SCAN_LIMIT = 200_000
NEWEST_FAILURES = 5


class NotCounted(Exception):
    """A part this module cannot read from this project's configuration."""


def brief(exc):
    """One line for an exception, without what a URL holds before its host."""
    text = str(exc).split("@")[-1][:200]
    return text if isinstance(exc, NotCounted) else f"{type(exc).__name__}: {text}"


def queue_names(app):
    names = {app.conf.task_default_queue, *app.amqp.queues}
    routes = app.conf.task_routes or {}
    for route in routes.values() if isinstance(routes, dict) else ():
        if isinstance(route, dict) and isinstance(route.get("queue"), str):
            names.add(route["queue"])
    return sorted(names)


def queues(app):
    """A passive declare counts a queue's messages and creates nothing. Redis keeps
    no empty queue (its list is gone), and a broker refuses a queue it lacks: 0."""
    depth = {}
    with app.connection_for_read() as connection:
        for name in queue_names(app):
            channel = connection.channel()  # a refused declare closes its channel (AMQP)
            try:
                depth[name] = channel.queue_declare(queue=name, passive=True).message_count
            except connection.channel_errors:
                depth[name] = 0
            finally:
                channel.close()
    return depth


def workers(app, wait):
    active = app.control.inspect(timeout=wait).active() or {}
    now = time.time()
    return {
        name: [
            {
                "name": task.get("name"),
                "id": task.get("id"),
                "seconds": round(now - task["time_start"]) if task.get("time_start") else None,
            }
            for task in tasks
        ]
        for name, tasks in sorted(active.items())
    }


def done_at(meta):
    value = meta.get("date_done")
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # Celery writes UTC
    return value


def recent_tasks(app, hours):
    backend = app.backend
    client = getattr(backend, "client", None)
    if not hasattr(client, "scan_iter"):
        raise NotCounted(f"the result backend is {type(backend).__name__}, not Redis: its tasks are not counted")
    since = datetime.now(UTC) - timedelta(hours=hours)
    states, failures = {}, []
    prefix = backend.task_keyprefix
    prefix = prefix.decode() if isinstance(prefix, bytes) else prefix
    keys = list(islice(client.scan_iter(match=prefix + "*", count=SCAN_BATCH), SCAN_LIMIT))
    for start in range(0, len(keys), SCAN_BATCH):
        tally(backend, client.mget(keys[start : start + SCAN_BATCH]), since, states, failures)
    scanned = len(keys)
    failures.sort(key=lambda failure: failure["at"], reverse=True)
    return {
        "hours": hours,
        "states": dict(sorted(states.items())),
        "failures": failures[:NEWEST_FAILURES],
        "scanned": scanned,
        "complete": scanned < SCAN_LIMIT,
    }


def tally(backend, values, since, states, failures):
    for value in values:
        if value is None:  # expired between SCAN and MGET
            continue
        try:
            meta = backend.decode_result(value)
            at = done_at(meta)
        except (ValueError, TypeError):
            continue
        if at is None or at < since:
            continue
        state = meta.get("status", "UNKNOWN")
        states[state] = states.get(state, 0) + 1
        if state == "FAILURE":
            result = meta.get("result")
            error = result.get("exc_type") if isinstance(result, dict) else type(result).__name__
            message = result.get("exc_message") if isinstance(result, dict) else str(result)
            if isinstance(message, list | tuple):
                message = " ".join(str(part) for part in message)
            failures.append(
                {
                    "id": meta.get("task_id"),
                    "name": meta.get("name"),
                    "at": at.isoformat(timespec="seconds"),
                    "error": f"{error}: {str(message)[:160]}",
                }
            )


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m deploykit.status")
    parser.add_argument("--hours", type=float, default=24.0, help="how far back tasks are counted (24)")
    parser.add_argument("--wait", type=float, default=2.0, help="seconds to wait for the workers' answers (2)")
    args = parser.parse_args(argv)
    app = celeryapp.app
    status = {"errors": {}}
    for part, read in (
        ("queues", lambda: queues(app)),
        ("workers", lambda: workers(app, args.wait)),
        ("tasks", lambda: recent_tasks(app, args.hours)),
    ):
        try:
            status[part] = read()
        except Exception as exc:  # the broker or the backend: say which part, and go on
            status["errors"][part] = brief(exc)
    print(json.dumps(status))
    return 0


if __name__ == "__main__":
    sys.exit(main())
