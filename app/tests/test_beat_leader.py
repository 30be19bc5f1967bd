"""At most one beat sends: real ``celery beat`` processes sharing the test Redis.

Each beat sends the sweep every IMPORT_SWEEP_INTERVAL seconds while it holds
the leader lease (config.beat); the tests count the sends in the beats' logs,
so they need no worker.
"""

import contextlib
import shelve
import socket
import threading
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings

from config.beat import LEASE_KEY, STANDBY_POLL
from core.redis import get_redis
from tests.conftest import CeleryProcess, celery_env, wait_until

INTERVAL = 2  # IMPORT_SWEEP_INTERVAL
TTL = 6  # BEAT_LEADER_TTL
MAX_INTERVAL = TTL / 3  # how often a leader renews its lease
SEND = "Scheduler: Sending due task sweep-stale-imports (imports.sweep_stale_sessions)"
OUTAGE = "beat: Redis at "


@pytest.fixture(autouse=True)
def free_lease():
    """No lease left by another test: a killed beat's lives on for its TTL."""
    get_redis().delete(LEASE_KEY)
    yield
    get_redis().delete(LEASE_KEY)


@pytest.fixture
def beats(exchange_dir, tmp_path):
    """Starts beats; stops every one it started when the test ends."""
    started = []

    def start(name, schedule=None, **env):
        beat = CeleryProcess(
            "beat",
            [
                "--schedule",
                str(schedule or tmp_path / f"{name}-schedule"),
                "--pidfile",
                str(tmp_path / f"{name}.pid"),
                "--loglevel",
                "INFO",
            ],
            celery_env(exchange_dir, IMPORT_SWEEP_INTERVAL=str(INTERVAL), BEAT_LEADER_TTL=str(TTL), **env),
            tmp_path / f"{name}.log",
        )
        started.append(beat)
        return beat

    try:
        yield start
    finally:
        for beat in started:
            beat.stop()


def sends(beat):
    return beat.log().count(SEND)


def running(*beats):
    for beat in beats:
        beat.check_alive()
    return all("beat: Starting..." in beat.log() for beat in beats)


def test_two_beats_on_one_schedule_file_send_once(beats, tmp_path):
    schedule = tmp_path / "celerybeat-schedule"  # one file, as --scale beat=2 on one volume
    first = beats("first", schedule)
    wait_until(lambda: running(first), 30, "the first beat to start")
    second = beats("second", schedule)
    wait_until(lambda: running(second) and sends(first), 30, "the second beat to start and the first to send")
    time.sleep(1.5)  # the second beat's first ticks

    window = 12
    before = sends(first) + sends(second)
    time.sleep(window)
    running(first, second)
    sent = sends(first) + sends(second) - before

    # One sender: about window / INTERVAL (6); two would give about 12.
    assert window / INTERVAL - 1 <= sent <= window / INTERVAL + 1, f"{sent} sends in {window} s"
    assert sends(second) == 0, second.log()
    assert first.log().count("beat: leading (lease beat:leader, TTL 6 s)") == 1  # on changes only
    assert second.log().count("beat: standby; ") == 1
    assert "beat: standby; " not in first.log()

    # The file keeps the leader's last run: the leader saves after each send,
    # and the standby, stopped while it still waits for the dead leader's
    # lease, writes nothing over it.
    first.proc.kill()
    first.proc.wait()
    second.stop()
    with shelve.open(str(schedule), "r") as store:  # noqa: S301 (the file the test's beats wrote)
        last_run = store["entries"]["sweep-stale-imports"].last_run_at
    age = (datetime.now(UTC) - last_run).total_seconds()
    assert age < INTERVAL + 1.5, f"the schedule file's last run of the sweep is {age:.1f} s old"


def test_a_standby_takes_over_when_the_leader_dies_or_stops(beats):
    leader = beats("a")
    wait_until(lambda: running(leader), 30, "the first beat to start")
    standbys = [beats("b"), beats("c")]  # each with its own file, as on two hosts
    wait_until(lambda: running(*standbys) and sends(leader), 30, "the standbys to start and the leader to send")
    time.sleep(1.5)  # the standbys' first ticks
    assert [sends(beat) for beat in standbys] == [0, 0], "a standby sent while the first beat led"

    # SIGKILL: the lease lives on until its TTL runs out, then a standby takes it.
    killed_at = time.monotonic()
    leader.proc.kill()
    leader.proc.wait()
    new = wait_until(
        lambda: next((beat for beat in standbys if sends(beat)), None),
        TTL + INTERVAL + 3,
        "a standby to send after the leader was killed",
    )
    took = time.monotonic() - killed_at
    assert TTL - MAX_INTERVAL - 0.5 <= took <= TTL + STANDBY_POLL + INTERVAL + 1, f"first send {took:.1f} s after"
    (other,) = (beat for beat in standbys if beat is not new)
    assert sends(other) == 0, other.log()

    # SIGTERM: the leader releases the lease, the other standby takes it at once.
    stopped_at = time.monotonic()
    new.stop()
    wait_until(lambda: running(other) and "beat: leading" in other.log(), TTL, "the last standby to lead")
    took = time.monotonic() - stopped_at
    assert took <= STANDBY_POLL + 1, f"took the lease {took:.1f} s after the leader's SIGTERM, not at once"
    assert "beat: released the lease beat:leader" in new.log()
    wait_until(lambda: running(other) and sends(other), INTERVAL + 2, "the new leader to send")

    other.stop()
    assert get_redis().get(LEASE_KEY) is None  # released on SIGTERM


def hang_up(*sockets):
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv() or accept()
        sock.close()


class RedisGate:
    """A TCP relay to the test Redis that the test can cut: an outage for one beat only."""

    def __init__(self, host, port):
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open = True
        self.sockets = []
        self.guard = threading.Lock()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            if not self.open:
                client.close()  # the beat's client sees the connection closed: a RedisError
                continue
            server = socket.create_connection(self.target)
            with self.guard:
                self.sockets += [client, server]
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        hang_up(src, dst)

    def cut(self):
        self.open = False
        with self.guard:
            hang_up(*self.sockets)
            self.sockets.clear()

    def close(self):
        self.cut()
        hang_up(self.listener)


def test_a_redis_outage_stops_sending_without_stopping_beat(beats):
    url = urlsplit(settings.REDIS_URL)
    gate = RedisGate(url.hostname, url.port)
    userinfo = url.netloc.rpartition("@")[0]
    through_gate = urlunsplit(url._replace(netloc=f"{userinfo}@127.0.0.1:{gate.port}"))
    try:
        # Its broker (CELERY_BROKER_URL) stays reachable: only the lease's Redis goes.
        beat = beats("beat", REDIS_URL=through_gate)
        wait_until(lambda: running(beat) and sends(beat), 30, "beat to send")

        gate.cut()
        before = sends(beat)
        time.sleep(5)
        running(beat)
        log = beat.log()
        assert sends(beat) - before <= 1, "beat kept sending while its Redis was down"  # 1: a send in flight
        assert log.count(OUTAGE) == 1, log  # one warning per outage, not one per tick
        assert "does not answer" in log.split(OUTAGE, 1)[1].splitlines()[0]
        assert SEND not in log.split(OUTAGE, 1)[1]

        gate.open = True
        resumed = sends(beat)
        wait_until(
            lambda: running(beat) and "beat: Redis answers again" in beat.log() and sends(beat) > resumed,
            MAX_INTERVAL + INTERVAL + 3,
            "beat to send again once Redis answers",
        )
        assert beat.log().count("beat: leading") == 2  # before the outage, and after it

        beat.stop()
        assert get_redis().get(LEASE_KEY) is None  # released on SIGTERM
    finally:
        gate.close()
