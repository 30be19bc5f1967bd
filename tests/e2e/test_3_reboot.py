"""After the VDS restarts (a reboot), the stack comes back healthy by itself."""

import subprocess

import requests
from e2ekit import BASE_URL, ssh, wait_until


def _ready():
    try:
        response = requests.get(f"{BASE_URL}/readyz", headers={"Host": "localhost"}, timeout=5)
    except requests.RequestException:
        return False
    return response.status_code == 200


def test_stack_comes_back_after_a_reboot(deployed):
    subprocess.run(["docker", "restart", "--time", "30", "kit-vds"], check=True, capture_output=True, timeout=120)
    wait_until(lambda: ssh("true", check=False).returncode == 0, 120, "sshd after the reboot")
    wait_until(_ready, 300, "/readyz to answer 200 after the reboot", interval=3)

    def all_healthy():
        lines = ssh("docker ps --format '{{.Names}} {{.Status}}'").stdout.splitlines()
        states = dict(line.split(" ", 1) for line in lines)
        services = ("db", "redis", "web", "worker", "beat", "proxy")
        return all("(healthy)" in states.get(f"shop-{s}-1", "") for s in services)

    wait_until(all_healthy, 300, "every service to be healthy after the reboot", interval=5)
