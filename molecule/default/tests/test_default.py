"""site.yml's result on the VDS, seen the way a sysadmin would check it after logging in as the deploy user.

Only what the deployed host alone shows: the compose project healthy, the env file and the backup settings private,
the backup timers on, the open ports.
What the stack's processes are (uids, Celery settings, HTTP) is the stack and app suites' (tests/stack, app/tests),
the daemon's settings the docker scenario's. testinfra collects the hosts from molecule's inventory;
molecule/conftest.py fails the run when there are none.
"""

import ipaddress
import json

PROJECT = "shop"
ROOT = f"/srv/{PROJECT}"
SERVICES = {"db", "redis", "web", "worker", "beat", "proxy", "flower"}  # the inventory enables flower


def run(host, command):
    """Run ``command`` on the VDS as the deploy user; fail with its output unless it exits 0."""
    result = host.run(command)
    assert result.rc == 0, f"{command!r} exited {result.rc}:\n{result.stdout}{result.stderr}"
    return result.stdout


def test_every_service_of_the_compose_project_is_running_and_healthy(host):
    lines = run(host, f"docker compose --project-name {PROJECT} ps --format json").splitlines()
    states = {entry["Service"]: (entry["State"], entry["Health"]) for entry in map(json.loads, lines)}
    assert set(states) == SERVICES, states
    assert all(state == ("running", "healthy") for state in states.values()), states


def test_env_file_is_private_to_root(host):
    with host.sudo():
        env = host.file(f"{ROOT}/.env")
        assert env.is_file
        assert (env.mode, env.user, env.group) == (0o600, "root", "root")


def test_backup_settings_are_private_and_both_timers_run(host):
    with host.sudo():
        for path in (f"/etc/kit-backup/{PROJECT}.env", f"/etc/kit-backup/{PROJECT}.password"):
            settings = host.file(path)
            assert (settings.mode, settings.user, settings.group) == (0o600, "root", "root"), path
        assert host.file(f"{ROOT}/backups/config").is_file  # the repository exists
    for timer in (f"{PROJECT}-backup.timer", f"{PROJECT}-backup-verify.timer"):
        assert host.service(timer).is_enabled and host.service(timer).is_running, timer


def test_only_ssh_http_and_https_listen_beyond_loopback(host):
    """443 is published even on a plain-HTTP site (nginx answers there once it has a certificate)."""
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
    assert ports == {("tcp", 22), ("tcp", 80), ("tcp", 443)}, sorted(sockets)
