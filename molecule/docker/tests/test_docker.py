"""The docker role alone, distro source: engine, Compose v2, daemon.json, the drop-in, the group, an inner container."""

import json

import pytest


@pytest.fixture(scope="module")
def variables(host):
    """The scenario's inventory values (molecule/docker/molecule.yml): what the role was asked for."""
    return host.ansible.get_variables()


def test_engine_and_compose_v2_come_from_debian(host):
    for package in ("docker.io", "docker-compose", "docker-buildx"):
        assert host.package(package).is_installed, package
    engine = host.check_output("docker version --format '{{.Server.Version}}'")
    assert int(engine.split(".")[0]) >= 26, engine  # Debian 13 ships Engine 26.1
    compose = host.check_output("docker compose version --short")
    assert compose.startswith("2."), compose


def test_the_service_is_enabled_and_running(host):
    docker = host.service("docker")
    assert docker.is_enabled and docker.is_running


def test_daemon_json_rotates_logs_and_keeps_containers_alive(host, variables):
    daemon = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert daemon == {
        "log-driver": "json-file",
        "log-opts": {"max-size": variables["docker_log_max_size"], "max-file": str(variables["docker_log_max_file"])},
        "live-restore": True,
    }
    # What the running daemon applies, not only what the file says.
    info = json.loads(host.check_output("docker info --format '{{json .}}'"))
    assert info["LoggingDriver"] == "json-file" and info["LiveRestoreEnabled"] is True


def test_the_daemon_runs_with_the_drop_in_environment(host, variables):
    dropin = host.file("/etc/systemd/system/docker.service.d/kit-environment.conf")
    assert (dropin.mode, dropin.user) == (0o644, "root")
    unit = host.check_output("systemctl show docker --property=Environment --value").split()
    pid = host.check_output("systemctl show docker --property=MainPID --value")
    running = host.check_output(f"tr '\\0' '\\n' </proc/{pid}/environ").splitlines()
    for name, value in variables["docker_daemon_environment"].items():
        assert f"{name}={value}" in unit, unit
        assert f"{name}={value}" in running, running


def test_the_deploy_user_is_in_the_docker_group(host, variables):
    for user in variables["docker_users"]:
        assert "docker" in host.user(user).groups, user
        # Membership works: the user talks to the daemon without sudo.
        assert host.run(f"su -s /bin/sh -c 'docker info --format ok' {user}").stdout.strip() == "ok"


def test_a_container_runs_inside_the_vds(host):
    # No registry is reachable: import a one-binary image (busybox-static, from prepare) and run it,
    # with a network, as `docker run` of any app would.
    image = "kit-molecule/probe:1"
    host.check_output(
        "rm -rf /tmp/probe && mkdir -p /tmp/probe/bin && cp /bin/busybox /tmp/probe/bin/ "
        f"&& tar -C /tmp/probe -c . | docker import - {image}"
    )
    output = host.check_output(f"docker run --rm {image} /bin/busybox sh -c 'echo hello from $(/bin/busybox hostname)'")
    assert output.startswith("hello from "), output
    host.check_output(f"docker image rm {image}")
