"""The stand-ins for the official images keep the contract the compose stack relies on."""

import os

import pytest
import requests
from imagekit import HARDENED, LABEL, RUN, TAGS, docker, image, name, out, published, run, start, stop
from testkit import wait_until

# --- python ---------------------------------------------------------------------


def test_python_makes_a_venv_and_pip_installs_through_the_proxy():
    tag = image("python")
    assert run("--rm", tag, "python", "--version").stdout.startswith("Python 3.13.")
    script = "python -m venv /tmp/v && /tmp/v/bin/pip install -q --no-deps six && /tmp/v/bin/python -c 'import six'"
    run("--rm", tag, "sh", "-c", script, timeout=300)


def test_python_pip_installs_system_wide_in_a_docker_build():
    """As the official image allows: no PEP 668 block inside a build."""
    tag = image("python")
    dockerfile = f'FROM {tag}\nRUN pip install -q --no-cache-dir --no-deps six && python -c "import six"\n'
    docker(
        "build", "--no-cache", "--force-rm", "--label", LABEL, "-t", f"kit-test-images/python-pip:{RUN}", "-",
        stdin=dockerfile, timeout=300, env={**os.environ, "DOCKER_BUILDKIT": "0"},
    )  # fmt: skip


# --- postgres -------------------------------------------------------------------


def pg_ready(container):
    return docker("exec", container, "pg_isready", "-q", "-h", "127.0.0.1", "-U", "kit", "-d", "shop", check=False)


def psql(password, sql, check=True):
    """A client container connecting over the network to "db" as kit."""
    return run(
        "--rm", "-e", f"PGPASSWORD={password}", TAGS["postgres"],
        "psql", "-h", "db", "-U", "kit", "-d", "shop", "-v", "ON_ERROR_STOP=1", "-tAXc", sql, check=check,
    )  # fmt: skip


@pytest.fixture(scope="module")
def postgres():
    """Locked down, its data on a volume, reachable as "db" on this run's network."""
    tag, volume = image("postgres"), name("pgdata")
    docker("volume", "create", "--label", LABEL, volume)
    container = start(
        name("pg"), "--network-alias", "db", *HARDENED, "--tmpfs", "/var/run/postgresql", "--tmpfs", "/tmp",
        "-v", f"{volume}:/var/lib/postgresql/data",
        "-e", "POSTGRES_USER=kit", "-e", "POSTGRES_PASSWORD=kit-secret", "-e", "POSTGRES_DB=shop", tag,
    )  # fmt: skip
    wait_until(lambda: pg_ready(container).returncode == 0, 90, "pg_isready")
    return container


def test_postgres_refuses_an_empty_password():
    """A clear refusal, not a server without a password."""
    result = run("--rm", "-e", "POSTGRES_PASSWORD=", image("postgres"), check=False, timeout=60)
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stdout + result.stderr


def test_postgres_first_start_makes_the_role_and_database(postgres):
    answer = psql("kit-secret", "SELECT current_user, current_database(), current_setting('server_version')")
    assert answer.stdout.strip().startswith("kit|shop|17."), answer.stdout


def test_postgres_refuses_a_wrong_password_and_stores_scram(postgres):
    assert psql("wrong-password", "SELECT 1", check=False).returncode != 0
    stored = psql("kit-secret", "SELECT left(rolpassword, 13) FROM pg_authid WHERE rolname = 'kit'")
    assert stored.stdout.strip() == "SCRAM-SHA-256"


def test_postgres_runs_as_postgres_with_a_private_data_dir(postgres):
    owners = out("exec", postgres, "stat", "-c", "%U %a", "/proc/1", "/var/lib/postgresql/data").splitlines()
    assert owners == ["postgres 555", "postgres 700"]


def test_postgres_restart_keeps_the_data(postgres):
    psql("kit-secret", "CREATE TABLE kit_test (x int); INSERT INTO kit_test VALUES (42)")
    stop(postgres)
    # (docker logs may trail the container's exit by a moment)
    wait_until(lambda: "database system is shut down" in logs(postgres), 5, "a clean shutdown in the logs")
    docker("start", postgres)
    wait_until(lambda: pg_ready(postgres).returncode == 0, 60, "pg_isready after the restart")
    assert psql("kit-secret", "SELECT x FROM kit_test").stdout.strip() == "42"
    assert logs(postgres).count("init process complete") == 1, "initialised twice"


def test_postgres_exits_0_on_sigterm(postgres):
    """No client connected: a smart shutdown, exit 0."""
    docker("kill", "-s", "TERM", postgres)
    assert out("wait", postgres, timeout=20) == "0"


def logs(container):
    result = docker("logs", container)
    return result.stdout + result.stderr


# --- redis ----------------------------------------------------------------------


def redis_cli(*args):
    """redis-cli from another container on this run's network."""
    return run("--rm", TAGS["redis"], "redis-cli", "--no-auth-warning", *args, check=False).stdout.strip()


def pong(container, *auth):
    return docker("exec", container, "redis-cli", "--no-auth-warning", *auth, "ping", check=False).stdout.strip()


@pytest.fixture(scope="module")
def redis():
    """Locked down, with a password and the AOF, reachable as "cache"."""
    args = ("redis-server", "--requirepass", "kit-secret", "--appendonly", "yes")
    container = start(name("redis"), "--network-alias", "cache", *HARDENED, image("redis"), *args)
    wait_until(lambda: pong(container, "-a", "kit-secret") == "PONG", 30, "redis PING")
    return container


def test_redis_answers_other_containers_only_with_the_password(redis):
    assert redis_cli("-h", "cache", "-a", "kit-secret", "ping") == "PONG"
    assert redis_cli("-h", "cache", "ping") != "PONG"


def test_redis_keeps_an_aof_in_data(redis):
    assert redis_cli("-h", "cache", "-a", "kit-secret", "config", "get", "appendonly").splitlines()[-1] == "yes"
    assert redis_cli("-h", "cache", "-a", "kit-secret", "config", "get", "dir").splitlines()[-1] == "/data"


def test_redis_runs_as_redis(redis):
    assert out("exec", redis, "stat", "-c", "%U", "/proc/1") == "redis"


def test_redis_restart_keeps_the_data(redis):
    """Its data dir then holds the server's own 0700 appendonlydir."""
    assert redis_cli("-h", "cache", "-a", "kit-secret", "set", "kit-test", "42") == "OK"
    stop(redis)
    docker("start", redis)
    wait_until(lambda: pong(redis, "-a", "kit-secret") == "PONG", 30, "redis PING after the restart")
    assert redis_cli("-h", "cache", "-a", "kit-secret", "get", "kit-test") == "42"


def test_redis_default_command_answers_other_containers():
    """Every interface, no protected mode: a password-less server still answers (as the official image does)."""
    container = start(name("redis-default"), "--network-alias", "cache-default", image("redis"))
    wait_until(lambda: pong(container) == "PONG", 30, "redis PING (default command)")
    assert redis_cli("-h", "cache-default", "ping") == "PONG"


# --- nginx ----------------------------------------------------------------------

SITE = """server {
    listen 8081;
    location = /kit-test { default_type text/plain; return 200 "kit-test ok\\n"; }
}
"""


@pytest.fixture(scope="module")
def nginx(tmp_path_factory):
    """Locked down (and allowed to bind port 80), with a site of our own in conf.d."""
    conf = tmp_path_factory.mktemp("nginx")
    conf.chmod(0o755)
    site = conf / "kit-test.conf"
    site.write_text(SITE)
    site.chmod(0o644)
    return start(
        name("nginx"), *HARDENED, "--cap-add", "NET_BIND_SERVICE", "--tmpfs", "/var/cache/nginx", "--tmpfs", "/var/run",
        "-v", f"{site}:/etc/nginx/conf.d/kit-test.conf:ro", "-p", "127.0.0.1::80", "-p", "127.0.0.1::8081",
        image("nginx"),
    )  # fmt: skip


def get(url):
    try:
        return requests.get(url, timeout=5)
    except requests.ConnectionError:
        return None


def test_nginx_serves_its_default_site_and_a_conf_d_site(nginx):
    default = wait_until(lambda: get(f"http://{published(nginx, 80)}/"), 20, "nginx on port 80")
    assert default.status_code == 200 and "kit-local nginx" in default.text
    site = get(f"http://{published(nginx, 8081)}/kit-test")
    assert site is not None, "nothing answers on 8081: conf.d/kit-test.conf not included"
    assert site.status_code == 200 and site.text == "kit-test ok\n"


def test_nginx_logs_requests_to_stdout(nginx):
    wait_until(lambda: get(f"http://{published(nginx, 8081)}/kit-test"), 20, "nginx on port 8081")
    wait_until(lambda: "GET /kit-test" in docker("logs", nginx).stdout, 5, "the request in docker logs' stdout")


def test_nginx_workers_run_as_nginx(nginx):
    script = """for p in /proc/[0-9]*; do
        case "$(tr "\\0" " " <"$p/cmdline" 2>/dev/null)" in "nginx: worker"*) stat -c %U "$p";; esac
    done"""
    assert set(out("exec", nginx, "sh", "-c", script).split()) == {"nginx"}


def test_nginx_stops_cleanly(nginx):
    stop(nginx)
