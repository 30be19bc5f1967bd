"""The kit's /healthz and /readyz (deploykit.wsgi) around the shop's WSGI app, with a
Redis server that the test starts and stops."""

import json
import shutil
import socket
import subprocess
import time
from wsgiref.util import setup_testing_defaults

import pytest

from deploykit.wsgi import application
from tests.conftest import wait_until

# Transactional: the kit closes the connection after /readyz, as Django does after a request.
pytestmark = pytest.mark.django_db(transaction=True)

PORT = 6391  # a Redis of this test's own, never the shared one


def _port_open():
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", PORT)) == 0


@pytest.fixture
def own_redis(monkeypatch, tmp_path):
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed: run `bash scripts/services.sh up`")
    assert not _port_open(), f"127.0.0.1:{PORT} is taken; this test needs it for its own Redis"
    proc = subprocess.Popen(
        [server, "--port", str(PORT), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    wait_until(_port_open, 10, "the test's redis-server to listen")
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{PORT}/0")
    yield proc
    if proc.poll() is None:
        proc.terminate()
        proc.wait()


def get(path, method="GET", host="127.0.0.1:8000"):
    """One request through the kit's WSGI app, as gunicorn passes it: (status, headers, body)."""
    environ = {"PATH_INFO": path, "REQUEST_METHOD": method, "HTTP_HOST": host}
    setup_testing_defaults(environ)
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer.update(status=int(status.split()[0]), headers=dict(headers))

    body = b"".join(application(environ, start_response))
    return answer["status"], answer["headers"], body


def test_healthz_is_liveness_only(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # nothing there: liveness does not care
    status, headers, body = get("/healthz")
    assert status == 200
    assert json.loads(body) == {"status": "ok"}
    assert headers["Cache-Control"] == "no-store"


def test_kit_routes_answer_any_host_and_the_rest_is_the_projects():
    """The healthcheck sends Host: 127.0.0.1:8000, which a server's ALLOWED_HOSTS lacks."""
    assert get("/healthz", host="127.0.0.1:8000")[0] == 200
    assert get("/healthz", method="HEAD", host="unknown.example")[0] == 200
    assert get("/readyz", host="unknown.example")[0] == 200
    # Every other path is the shop's, with its host check.
    assert get("/admin/login/", host="unknown.example")[0] == 400
    assert get("/admin/login/", host="localhost")[0] == 200


def test_readyz_answers_503_while_redis_is_stopped(own_redis):
    status, _, body = get("/readyz")
    assert status == 200
    body = json.loads(body)
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] and body["checks"]["redis"]["ok"]
    assert all(isinstance(check["latency_ms"], float) for check in body["checks"].values())

    own_redis.terminate()
    own_redis.wait()
    started = time.monotonic()
    status, _, body = get("/readyz")
    assert status == 503
    body = json.loads(body)
    assert body["status"] == "unavailable"
    assert body["checks"]["redis"]["ok"] is False and body["checks"]["redis"]["error"] == "ConnectionError"
    assert body["checks"]["database"]["ok"] is True
    assert time.monotonic() - started < 10  # it answers; it does not hang
