"""After the VDS restarts (a reboot), the stack comes back healthy by itself, and the firewall with it."""

import subprocess

import e2ekit
import pytest
import requests
from e2ekit import BASE_URL, ssh, wait_until


def _ready():
    try:
        response = requests.get(f"{BASE_URL}/readyz", headers={"Host": "localhost"}, timeout=5)
    except requests.RequestException:
        return False
    return response.status_code == 200


@pytest.fixture
def planted(deployed):
    e2ekit.plant_listeners(restart="always")  # back after the reboot, as the stack is
    yield
    e2ekit.remove_listeners()


def test_stack_comes_back_after_a_reboot(planted):
    subprocess.run(["docker", "restart", "--time", "30", "kit-vds"], check=True, capture_output=True, timeout=120)
    wait_until(lambda: ssh("true", check=False).returncode == 0, 120, "sshd after the reboot")
    wait_until(_ready, 300, "/readyz to answer 200 after the reboot", interval=3)

    def all_healthy():
        # By service: a release replaces web and worker by new containers (shop-web-2, ...).
        lines = ssh(
            "docker ps --filter label=com.docker.compose.project=shop"
            " --format '{{.Label \"com.docker.compose.service\"}} {{.Status}}'"
        ).stdout.splitlines()
        states = dict(line.split(" ", 1) for line in lines)
        services = ("db", "redis", "web", "worker", "beat", "proxy")
        return all("(healthy)" in states.get(s, "") for s in services)

    wait_until(all_healthy, 300, "every service to be healthy after the reboot", interval=5)

    # ufw loads the DOCKER-USER rules at boot, before Docker publishes the planted container's port again.
    wait_until(lambda: ssh("curl -fsS -o /dev/null 127.0.0.1:9998", check=False).returncode == 0, 60,
               "the planted container to be back")  # fmt: skip
    assert e2ekit.answering_ports() == [22, 80]
