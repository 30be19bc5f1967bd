"""/healthz and /readyz, with a Redis server that the test starts and stops."""

import shutil
import socket
import subprocess
import time

import pytest

from tests.conftest import wait_until

pytestmark = pytest.mark.django_db

PORT = 6391  # a Redis of this test's own, never the shared one


def _port_open():
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", PORT)) == 0


@pytest.fixture
def own_redis(settings, tmp_path):
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed: run `bash scripts/services.sh up`")
    assert not _port_open(), f"127.0.0.1:{PORT} is taken; this test needs it for its own Redis"
    proc = subprocess.Popen(
        [server, "--port", str(PORT), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    wait_until(_port_open, 10, "the test's redis-server to listen")
    settings.REDIS_URL = f"redis://127.0.0.1:{PORT}/0"
    yield proc
    if proc.poll() is None:
        proc.terminate()
        proc.wait()


def test_healthz_is_liveness_only(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing there: liveness does not care
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"


def test_healthz_answers_any_host_as_docker_calls_it(client):
    """config/healthcheck.py sends Host: 127.0.0.1:8000, which a server's ALLOWED_HOSTS lacks."""
    assert client.get("/healthz", HTTP_HOST="127.0.0.1:8000").status_code == 200
    assert client.head("/healthz", HTTP_HOST="unknown.example").status_code == 200
    assert client.get("/readyz", HTTP_HOST="unknown.example").status_code == 400


def test_readyz_answers_503_while_redis_is_stopped(client, own_redis):
    ready = client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] and body["checks"]["redis"]["ok"]
    assert all(isinstance(check["latency_ms"], float) for check in body["checks"].values())

    own_redis.terminate()
    own_redis.wait()
    started = time.monotonic()
    down = client.get("/readyz")
    assert down.status_code == 503
    body = down.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["redis"]["ok"] is False and body["checks"]["redis"]["error"] == "ConnectionError"
    assert body["checks"]["database"]["ok"] is True
    assert time.monotonic() - started < 10  # it answers; it does not hang
