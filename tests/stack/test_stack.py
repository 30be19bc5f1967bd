"""The compose stack from nothing: health, admin flow, users, logs, resilience, persistence."""

import re
import subprocess

import requests
from stackkit import (
    BASE_URL,
    FLOWER_PORT,
    HTTP_PORT,
    PROJECT,
    SECRET_NAMES,
    Compose,
    admin_session,
    csrf_token,
    read_env,
    shell,
    wait_until,
)

CHANGELIST = f"{BASE_URL}/admin/imports/importsession/"
LAUNCH = f"{CHANGELIST}launch/"


def session_ids(http):
    page = http.get(CHANGELIST, timeout=10).text
    return sorted({int(n) for n in re.findall(r'data-import-session="(\d+)"', page)})


def launch(http, import_type="full"):
    token = csrf_token(http, LAUNCH)
    response = http.post(
        LAUNCH, data={"csrfmiddlewaretoken": token, "import_type": import_type},
        headers={"Referer": LAUNCH}, allow_redirects=False, timeout=30,
    )  # fmt: skip
    assert response.status_code == 302, response.text[:1000]


def wait_succeeded(http, session_id):
    def finished():
        data = http.get(f"{CHANGELIST}status/", params={"ids": session_id}, timeout=10).json()
        session = data["sessions"][0]
        return session if not session["active"] else None

    session = wait_until(finished, 120, f"import #{session_id} to finish")
    assert session["status"] == "succeeded", session
    return session


def received(compose):
    return len(re.findall(r"Task imports\.run_import\[[0-9a-f-]+\] received", compose.logs("worker")))


def test_every_service_is_up_and_healthy(stack):
    states = {c["Service"]: (c["State"], c.get("Health", "")) for c in stack.ps()}
    for service in ("db", "redis", "web", "worker", "beat", "proxy"):
        assert states[service] == ("running", "healthy"), states


def test_admin_login_over_http_through_nginx(stack):
    http = admin_session()
    page = http.get(f"{BASE_URL}/admin/", timeout=10)
    assert page.status_code == 200 and "Import sessions" in page.text
    assert page.headers["Server"] == "nginx"


def test_admin_action_with_two_rows_ticked_starts_one_session_and_one_task(stack):
    http = admin_session()
    while len(session_ids(http)) < 2:  # two finished rows to tick
        launch(http, "catalogue")
        wait_succeeded(http, session_ids(http)[-1])
    before_ids, before_tasks = session_ids(http), received(stack)

    token = csrf_token(http, CHANGELIST)
    page = http.post(
        CHANGELIST,
        data={"csrfmiddlewaretoken": token, "action": "run_import_action", "_selected_action": before_ids[-2:]},
        headers={"Referer": CHANGELIST}, timeout=30,
    )  # fmt: skip
    assert page.status_code == 200 and 'id="launch-import-form"' in page.text
    launch(http, "full")

    new_ids = sorted(set(session_ids(http)) - set(before_ids))
    assert len(new_ids) == 1
    session = wait_succeeded(http, new_ids[0])
    assert session["task_state"] == "done"
    wait_until(lambda: received(stack) == before_tasks + 1, 10, "the worker to log the task")
    assert received(stack) == before_tasks + 1
    counts = shell(
        stack,
        "from catalog.models import Product, Price, Stock; "
        "print(Product.objects.count(), Price.objects.count(), Stock.objects.count())",
    )
    assert counts.splitlines()[-1] == "12 24 12"


def test_worker_and_beat_run_as_nobody_and_web_not_as_root(stack):
    for service in ("worker", "beat"):
        assert stack.exec(service, "id", "-u").stdout.strip() == "65534"
        assert stack.exec(service, "id", "-g").stdout.strip() == "65534"
    assert stack.exec("web", "id", "-u").stdout.strip() not in ("", "0")


def test_worker_log_is_quiet_and_plain(stack):
    log = stack.logs("worker")
    assert "ready." in log
    assert "superuser privileges" not in log
    assert "broker_connection_retry" not in log
    assert "\x1b[" not in log


def test_static_files_come_from_nginx_gzipped(stack):
    response = requests.get(f"{BASE_URL}/static/admin/css/base.css", headers={"Accept-Encoding": "gzip"}, timeout=10)
    assert response.status_code == 200
    # nginx's /static/ location adds "public" (expires 7d); Django never sends it.
    assert response.headers["Cache-Control"] == "max-age=604800, public"
    assert response.headers["Content-Encoding"] == "gzip"
    assert "body" in response.text
    script = requests.get(f"{BASE_URL}/static/imports/import_status.js", timeout=10)
    assert script.status_code == 200 and "import-live" in script.text


def test_only_the_proxy_publishes_ports_and_db_and_redis_on_the_loopback(stack):
    published = {
        c["Service"]: sorted({(p["URL"], p["PublishedPort"]) for p in c.get("Publishers") or [] if p["PublishedPort"]})
        for c in stack.ps()
    }
    http_port = int(BASE_URL.rsplit(":", 1)[1])
    assert published["proxy"] == [("127.0.0.1", http_port), ("127.0.0.1", http_port + 2)]  # HTTP, HTTPS (stackkit)
    for service in ("web", "worker", "beat"):
        assert published[service] == [], published
    # A port Docker picks, on the loopback only (DB_BIND, REDIS_BIND: a data host's private address).
    for service in ("db", "redis"):
        [(address, _)] = published[service]
        assert address == "127.0.0.1", published


def test_readyz_through_the_proxy(stack):
    body = requests.get(f"{BASE_URL}/readyz", timeout=10).json()
    assert body["status"] == "ok" and body["checks"]["database"]["ok"] and body["checks"]["redis"]["ok"]


def test_worker_started_while_redis_is_down_keeps_retrying_then_connects(stack):
    stack.run("stop", "redis")
    try:
        stack.run("up", "--detach", "--no-deps", "--force-recreate", "worker")
        wait_until(
            lambda: "Trying again in" in stack.logs("worker") or "Retry limit" in stack.logs("worker"),
            60, "the worker to report that it retries the broker",
        )  # fmt: skip
        assert "Retry limit" not in stack.logs("worker")
        [worker] = [c for c in stack.ps() if c["Service"] == "worker"]
        assert worker["State"] == "running"
        # Running, but not consuming: its healthcheck says so.
        check = stack.exec("worker", "python", "-m", "deploykit.healthcheck", "worker", check=False)
        assert check.returncode == 1, check.stdout + check.stderr
        assert "is missing: the worker is not consuming" in check.stderr
    finally:
        stack.run("start", "redis")
    wait_until(lambda: "ready." in stack.logs("worker"), 120, "the worker to connect once Redis is back")
    stack.run("up", "--detach", "--wait", "--wait-timeout", "180", "worker")
    assert stack.exec("worker", "python", "-m", "deploykit.healthcheck", "worker").returncode == 0
    result = stack.manage("test_celery", "--async", "--wait", "60")
    assert "Processed:" in result.stdout


def test_data_survives_down_and_up(stack):
    http = admin_session()
    sessions = session_ids(http)
    assert sessions
    stack.run("down", "--timeout", "20")
    assert stack.ps() == []
    stack.run("up", "--detach", "--wait", "--wait-timeout", "300", timeout=600)
    http = admin_session()  # the superuser survived too
    assert session_ids(http) == sessions
    counts = shell(stack, "from catalog.models import Product; print(Product.objects.count())")
    assert counts.splitlines()[-1] == "12"


def test_flower_needs_a_password_and_listens_on_loopback_only(stack):
    stack.run("--profile", "monitoring", "up", "--detach", "--wait", "--wait-timeout", "120", "flower")
    [flower] = stack.ps("flower", profile="monitoring")
    assert {(p["URL"], p["PublishedPort"]) for p in flower["Publishers"] if p["PublishedPort"]} == {
        ("127.0.0.1", FLOWER_PORT)
    }
    url = f"http://127.0.0.1:{FLOWER_PORT}/"
    assert wait_until(lambda: _status(url) == 401, 60, "flower to answer 401 without a password")
    env = read_env(stack.env_file)
    answer = requests.get(url, auth=(env["FLOWER_USER"], env["FLOWER_PASSWORD"]), timeout=10)
    assert answer.status_code == 200 and "Flower" in answer.text
    stack.run("--profile", "monitoring", "stop", "flower")


def test_web_worker_and_beat_run_on_a_database_and_redis_outside_the_stack(stack, tmp_path):
    """A managed database and Redis: COMPOSE_PROFILES without db and redis, and the URLs naming others. Here they
    are this suite's stack's own, joined to a second project's network under other names, as a provider's would be
    reachable; the second project shares its secret files. It starts no db or redis, and runs on those."""
    # The env file's lines (read_env adds the secret files' values, which the second project reads as files).
    values = {name: value for name, value in read_env(stack.env_file).items() if name not in SECRET_NAMES}
    values.update(
        COMPOSE_PROFILES="",
        DATABASE_URL=f"postgres://{values['POSTGRES_USER']}@managed-db:5432/{values['POSTGRES_DB']}",
        # Databases of their own: this suite's worker must not take the second project's tasks.
        CELERY_BROKER_URL="redis://managed-redis:6379/5",
        CELERY_RESULT_BACKEND="redis://managed-redis:6379/6",
        REDIS_URL="redis://managed-redis:6379/7",
        HTTP_PORT=str(HTTP_PORT + 3),
        HTTPS_PORT=str(HTTP_PORT + 4),
    )
    env_file = tmp_path / "managed.env"
    env_file.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
    managed = Compose(f"{PROJECT}-managed", env_file)
    network = f"{managed.project}_default"
    joined = []
    try:
        managed.run("run", "--rm", "--no-deps", "config")  # the checker accepts the URLs without db and redis
        managed.run("create")
        for service, alias in (("db", "managed-db"), ("redis", "managed-redis")):
            [container] = stack.run("ps", "--quiet", service).stdout.split()
            subprocess.run(["docker", "network", "connect", "--alias", alias, network, container],
                           check=True, capture_output=True, timeout=60)  # fmt: skip
            joined.append(container)
        managed.run("up", "--detach", "--wait", "--wait-timeout", "180", timeout=300)
        assert managed.containers() == {"web": "running", "worker": "running", "beat": "running", "proxy": "running"}
        readyz = requests.get(f"http://127.0.0.1:{HTTP_PORT + 3}/readyz", timeout=10)
        assert readyz.status_code == 200, readyz.text
        # Through the other Redis databases, to the second project's own worker.
        smoke = managed.exec("web", "python", "-m", "deploykit.smoke", "--wait", "60")
        assert smoke.stdout.startswith("celery ok:"), smoke.stdout + smoke.stderr
    finally:
        for container in joined:
            subprocess.run(["docker", "network", "disconnect", network, container], capture_output=True, timeout=60)
        managed.down()


def _status(url):
    try:
        return requests.get(url, timeout=5).status_code
    except requests.ConnectionError:
        return None
