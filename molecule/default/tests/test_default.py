"""site.yml's result on the VDS, seen the way a sysadmin would check it after logging in as the deploy user.

testinfra collects the hosts from molecule's inventory; molecule/conftest.py fails the run when there are none.
"""

import ipaddress
import json

import pytest

PROJECT = "shop"
ROOT = f"/srv/{PROJECT}"
SERVICES = {"db", "redis", "web", "worker", "beat", "proxy"}
NOBODY = "65534"


def run(host, command):
    """Run ``command`` on the VDS as the deploy user; fail with its output unless it exits 0."""
    result = host.run(command)
    assert result.rc == 0, f"{command!r} exited {result.rc}:\n{result.stdout}{result.stderr}"
    return result.stdout


def test_docker_is_active_and_enabled_with_log_rotation(host):
    docker = host.service("docker")
    assert docker.is_running and docker.is_enabled
    daemon = json.loads(host.file("/etc/docker/daemon.json").content_string)
    variables = host.ansible.get_variables()
    expected_opts = {
        "max-size": variables.get("docker_log_max_size", "10m"),
        "max-file": str(variables.get("docker_log_max_file", 5)),
    }
    assert daemon.get("log-driver") == "json-file", daemon
    assert daemon.get("log-opts") == expected_opts, daemon
    assert daemon.get("live-restore") is True, daemon


def test_every_service_of_the_compose_project_is_running_and_healthy(host):
    lines = run(host, f"docker compose --project-name {PROJECT} ps --format json").splitlines()
    states = {entry["Service"]: (entry["State"], entry["Health"]) for entry in map(json.loads, lines)}
    assert set(states) == SERVICES, states
    assert all(state == ("running", "healthy") for state in states.values()), states


def process_ids(host, container):
    """(uid, gid) of every process of ``container``, as the VDS's kernel sees them (not the configured user)."""
    rows = run(host, f"docker top {container} -eo pid,uid,gid").splitlines()[1:]
    return [tuple(row.split()[1:]) for row in rows]


@pytest.mark.parametrize("service", ["worker", "beat"])
def test_worker_and_beat_processes_run_as_nobody_nogroup(host, service):
    ids = process_ids(host, f"{PROJECT}-{service}-1")
    assert ids and set(ids) == {(NOBODY, NOBODY)}, ids


def test_web_does_not_run_as_root(host):
    ids = process_ids(host, f"{PROJECT}-web-1")
    assert ids and all(uid != "0" for uid, _ in ids), ids


def test_env_file_is_private_to_root(host):
    with host.sudo():
        env = host.file(f"{ROOT}/.env")
        assert env.is_file
        assert (env.mode, env.user, env.group) == (0o600, "root", "root")


def test_only_ssh_and_http_listen_beyond_loopback(host):
    ports = set()
    with host.sudo():
        sockets = host.socket.get_listening_sockets()
    for spec in sockets:
        protocol, _, address = spec.partition("://")
        if protocol not in ("tcp", "udp"):
            continue
        ip, _, port = address.rpartition(":")
        if not ipaddress.ip_address(ip.strip("[]") or "::").is_loopback:
            ports.add((protocol, int(port)))
    assert ports == {("tcp", 22), ("tcp", 80)}, sorted(sockets)


def test_readyz_answers_200_through_nginx(host):
    output = run(host, "curl -sS --max-time 10 -H 'Host: localhost' -w '\\n%{http_code}' http://127.0.0.1/readyz")
    body, status = output.rsplit("\n", 1)
    assert status == "200", output
    checks = json.loads(body)["checks"]
    assert set(checks) == {"database", "redis"} and all(check["ok"] for check in checks.values()), checks


def test_a_task_goes_through_celery_and_back(host):
    output = run(
        host,
        f"docker exec {PROJECT}-web-1 python manage.py test_celery --async --message molecule --wait 60",
    )
    assert "Processed: molecule" in output, output


def test_the_running_worker_has_the_required_celery_settings(host):
    # The running worker's own configuration, asked over the broker.
    output = run(host, f"docker exec {PROJECT}-worker-1 celery -A config inspect conf --json --timeout 10")
    [conf] = json.loads(output).values()
    # Django settings, so Celery's keys carry the CELERY_ namespace (config/celery.py).
    assert conf["CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP"] is True
    assert conf["CELERY_WORKER_HIJACK_ROOT_LOGGER"] is False
    assert conf["CELERY_WORKER_LOG_COLOR"] is False
