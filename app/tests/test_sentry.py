"""deploykit.sentry: with SENTRY_DSN set, web's and the worker's unhandled errors reach a Sentry server.

The server here is a local HTTP receiver that records the envelopes sentry-sdk posts; web is the kit's
WSGI app (deploykit.wsgi) in a process of its own, the worker a real Celery worker with the DSN.
"""

import gzip
import json
import os
import subprocess
import sys
import threading
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from config.celery import app
from tests.conftest import APP_DIR, KIT_DIR, CeleryProcess, celery_env, wait_until

PROJECT_ID = 42
KEY = "0123456789abcdef0123456789abcdef"


class Receiver(ThreadingHTTPServer):
    """Sentry's ingest endpoint, as far as sentry-sdk sees it: records each envelope's items."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.items, self.paths = [], []
        self.dsn = f"http://{KEY}@127.0.0.1:{self.server_port}/{PROJECT_ID}"

    def events(self):
        return [payload for header, payload in self.items if header.get("type") == "event"]


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        encoding = self.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        elif encoding:
            raise AssertionError(f"an encoding this receiver does not read: {encoding}")
        self.server.paths.append(self.path)
        lines = body.split(b"\n")
        for header, payload in zip(lines[1::2], lines[2::2], strict=False):  # line 0: the envelope's header
            self.server.items.append((json.loads(header), json.loads(payload) if payload.startswith(b"{") else None))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"id": "0"}')

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def sentry_env(receiver, **extra):
    return {"SENTRY_DSN": receiver.dsn, "SENTRY_ENVIRONMENT": "kit-test", "APP_RELEASE": "r-test", **extra}


# A request through the kit's WSGI app to a view that raises, in a process of its own (sentry-sdk starts
# once per process, as gunicorn's would).
WEB = """
import sys, wsgiref.util
from django.urls import path
import deploykit.wsgi as kit
import config.urls

def broken(request):
    raise RuntimeError("kit-sentry-web " + sys.argv[1])

config.urls.urlpatterns.append(path("kit-broken/", broken))
environ = {"PATH_INFO": "/kit-broken/", "HTTP_HOST": "localhost", "REQUEST_METHOD": "GET"}
wsgiref.util.setup_testing_defaults(environ)
statuses = []
kit.application(environ, lambda status, headers, exc_info=None: statuses.append(status))
import sentry_sdk
sentry_sdk.flush(10)
print(statuses[0])
"""


def test_a_failing_request_is_reported_with_its_url_environment_and_release(receiver):
    marker = uuid.uuid4().hex[:8]
    result = subprocess.run(
        [sys.executable, "-c", WEB, marker],
        cwd=APP_DIR,
        env={**os.environ, "PYTHONPATH": str(KIT_DIR), "ALLOWED_HOSTS": "localhost", **sentry_env(receiver)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "500 Internal Server Error", result.stdout
    events = receiver.events()
    assert len(events) == 1, receiver.items
    event = events[0]
    exception = event["exception"]["values"][-1]
    assert (exception["type"], exception["value"]) == ("RuntimeError", f"kit-sentry-web {marker}")
    assert exception["mechanism"]["type"] == "django"
    assert event["request"]["url"] == "http://localhost/kit-broken/"
    assert (event["environment"], event["release"]) == ("kit-test", "r-test")
    assert "user" not in event or not event["user"].get("ip_address")  # send_default_pii off
    assert set(receiver.paths) == {f"/api/{PROJECT_ID}/envelope/"}


def test_a_task_that_fails_in_the_worker_is_reported_with_the_task(receiver, django_db_setup, exchange_dir, tmp_path):
    """A worker of its own (its own queue), started with the DSN, as compose starts it."""
    from core.tasks import example_async_task

    queue = f"kit-sentry-{uuid.uuid4().hex[:6]}"
    name = f"sentry-{uuid.uuid4().hex[:8]}@localhost"
    process = CeleryProcess(
        "worker",
        ["--pool", "prefork", "--concurrency", "1", "--hostname", name, "-Q", queue, "--without-gossip"],
        celery_env(exchange_dir, WORKER_ALIVE_FILE=str(tmp_path / "alive"), **sentry_env(receiver)),
        tmp_path / "worker.log",
    )
    try:
        wait_until(lambda: process.check_alive() or app.control.ping([name], timeout=0.5), 60, "the worker")
        failed = example_async_task.apply_async(("sentry", -1), queue=queue)
        with pytest.raises(ValueError, match="count must be 0 or more"):
            failed.get(timeout=30)
        wait_until(receiver.events, 20, "the worker's event to reach the receiver")
    finally:
        process.stop()
    event = receiver.events()[0]
    exception = event["exception"]["values"][-1]
    assert (exception["type"], exception["value"]) == ("ValueError", "count must be 0 or more, not -1")
    assert exception["mechanism"]["type"] == "celery"
    assert event["tags"]["celery_task_id"] == failed.id
    job = event["extra"]["celery-job"]
    assert job["task_name"] == "core.example_async_task"
    assert job["args"] == "[Filtered]", job  # send_default_pii off: the task's arguments stay home
    assert (event["environment"], event["release"]) == ("kit-test", "r-test")
