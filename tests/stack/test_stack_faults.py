"""Faults during a large import on the real stack: Redis away for a minute, the
worker's main process killed, PostgreSQL restarted.

Each test launches an import of a generated 50,000-product exchange from the
admin, breaks something once the task runs, and then checks what an admin
would see: the session ends (succeeded, or failed with the reason), the import
lock is free, no half-written import remains, and a new launch goes through.
This file runs after test_stack.py (file order), whose checks count the
12-product sample.
"""

import subprocess
import time

import pytest
from stackkit import admin_session, fill_exchange, wait_until
from test_stack import CHANGELIST, launch, session_ids

PRODUCTS = 50000
# What a "full" import of a new generated exchange adds: products, two prices each, stock.
FULL_ROWS = (PRODUCTS, 2 * PRODUCTS, PRODUCTS)
SEEDS = iter(range(100, 200))
# Break things once the import is this far in: past several batches of upserts
# (IMPORT_BATCH_SIZE, 1000), so that a run that is not all or nothing shows.
MID_IMPORT = 10000


@pytest.fixture
def large_exchange(stack):
    """A generated exchange of products the database has not seen (a new seed each
    test), so that row counts tell a whole import from none."""
    fill_exchange(stack, PRODUCTS, seed=next(SEEDS))
    yield
    fill_exchange(stack)


def container(stack, service):
    """(pid of the main process, restart count) of the service's container."""
    [cid] = stack.run("ps", "--quiet", service).stdout.split()
    out = subprocess.run(
        ["docker", "inspect", "--format", "{{.State.Pid}} {{.RestartCount}}", cid],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout.split()  # fmt: skip
    return int(out[0]), int(out[1])


def rows(stack):
    """(products, prices, stock rows) straight from PostgreSQL."""
    query = (
        "SELECT (SELECT count(*) FROM catalog_product), (SELECT count(*) FROM catalog_price), "
        "(SELECT count(*) FROM catalog_stock)"
    )
    out = stack.exec("db", "sh", "-c", f'psql -U "$POSTGRES_USER" -d "$POSTGRES_DB" -tAc "{query}"').stdout
    return tuple(int(n) for n in out.strip().split("|"))


def lock_holder(stack):
    # As an operator would: the password is the redis container's secret file, not its environment.
    command = 'REDISCLI_AUTH="$(cat /run/secrets/redis_password)" exec redis-cli -n 2 GET imports:lock'
    return stack.exec("redis", "sh", "-c", command).stdout.strip()


def status(http, session_id):
    """The status endpoint's answer for one session, or None while it does not answer."""
    try:
        response = http.get(f"{CHANGELIST}status/", params={"ids": session_id}, timeout=10)
    except OSError:
        return None
    return response.json() if response.status_code == 200 else None


def session_state(http, session_id):
    body = status(http, session_id)
    return body["sessions"][0] if body else None


def launch_and_wait_running(http, stack):
    """Launch a full import; return its session id once it has written some batches."""
    launch(http, "full")
    session_id = session_ids(http)[-1]

    def importing():
        session = session_state(http, session_id)
        return session and session["task_state"] == "progress" and session["progress"]["current"] >= MID_IMPORT

    wait_until(importing, 60, f"import #{session_id} to run", interval=0.2)
    return session_id


def wait_closed(http, session_id, timeout):
    def closed():
        session = session_state(http, session_id)
        return session if session and not session["active"] else None

    return wait_until(closed, timeout, f"import #{session_id} to end", interval=1)


def whole(before):
    return tuple(b + f for b, f in zip(before, FULL_ROWS, strict=True))


def assert_whole_or_nothing(stack, before):
    """Either the whole import is in the database, or none of it; returns which."""
    after = rows(stack)
    assert after in (before, whole(before)), f"partial import: {before} before, {after} after"
    return "whole" if after != before else "nothing"


def test_redis_away_for_a_minute_mid_import_costs_a_delay_not_the_import(stack, large_exchange, figure):
    http = admin_session()
    before = rows(stack)
    worker, beat = container(stack, "worker"), container(stack, "beat")
    session_id = launch_and_wait_running(http, stack)

    stack.run("stop", "redis")
    stopped = time.monotonic()
    try:
        # The admin keeps answering and says what is wrong, rather than "retrying".
        body = wait_until(
            lambda: (b := status(http, session_id)) and b["sessions"][0]["task_state"] == "unreachable" and b,
            30, "the status endpoint to say the broker is unreachable",
        )  # fmt: skip
        assert body["broker"]["reachable"] is False and "unreachable" in body["broker"]["error"]
        assert http.get(CHANGELIST, timeout=30).status_code == 200
        time.sleep(max(0.0, 60 - (time.monotonic() - stopped)))
    finally:
        stack.run("start", "redis")
    back = time.monotonic()

    wait_until(
        lambda: stack.exec("worker", "python", "-m", "deploykit.healthcheck", "worker", check=False).returncode == 0,
        120, "the worker to consume again",
    )  # fmt: skip
    figure("Redis back -> worker consuming again", f"{time.monotonic() - back:.1f} s")
    session = wait_closed(http, session_id, 120)
    figure("Redis back -> import session closed", f"{time.monotonic() - back:.1f} s ({session['status']})")

    assert session["status"] == "succeeded", session  # resumed, not dropped
    assert assert_whole_or_nothing(stack, before) == "whole"
    assert lock_holder(stack) == ""
    # Neither the worker nor beat died: same main process, no restart.
    assert container(stack, "worker") == worker
    assert container(stack, "beat") == beat


def test_worker_killed_mid_import_frees_the_session_and_the_lock(stack, large_exchange, figure):
    http = admin_session()
    before = rows(stack)
    session_id = launch_and_wait_running(http, stack)
    pid, restarts = container(stack, "worker")

    subprocess.run(["kill", "-9", str(pid)], check=True)  # as the OOM killer or a crash would
    killed = time.monotonic()
    session = wait_closed(http, session_id, 150)
    figure("worker killed -> session closed and lock freed", f"{time.monotonic() - killed:.1f} s")

    assert session["status"] == "failed", session
    assert "the worker running it" in session["error"], session["error"]
    assert lock_holder(stack) == ""
    assert rows(stack) == before  # the dead run's transaction rolled back
    assert container(stack, "worker")[1] == restarts + 1  # Docker restarted it

    # The admin is free to launch again, and that import succeeds.
    stack.run("up", "--detach", "--wait", "--wait-timeout", "120", "worker")
    again = launch_and_wait_running(http, stack)
    assert wait_closed(http, again, 120)["status"] == "succeeded"
    assert rows(stack) == whole(before)


def test_postgres_restarted_mid_import_retries_and_never_half_writes(stack, large_exchange, figure):
    http = admin_session()
    before = rows(stack)
    session_id = launch_and_wait_running(http, stack)

    stack.run("restart", "db")
    restarted = time.monotonic()
    session = wait_closed(http, session_id, 180)
    figure("PostgreSQL restarted -> import session closed", f"{time.monotonic() - restarted:.1f} s")

    assert session["status"] in ("succeeded", "failed"), session
    if session["status"] == "failed":
        assert session["error"], session
    written = assert_whole_or_nothing(stack, before)
    assert written == ("whole" if session["status"] == "succeeded" else "nothing"), session
    assert lock_holder(stack) == ""
