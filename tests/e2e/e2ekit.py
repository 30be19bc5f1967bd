"""Helpers for the end-to-end tests: the sandbox VDS, ansible-playbook, ssh, HTTP."""

import json
import os
import re
import shlex
import subprocess
import time
from pathlib import Path

import pytest
import testkit
from testkit import Probe, wait_until  # noqa: F401 - the e2e tests' import

ROOT = Path(__file__).resolve().parents[2]
KIT = ROOT / ".kit"
BIN = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin"
BASE_URL = "http://127.0.0.1:8080"
SSH = [
    "ssh", "-i", str(KIT / "ssh" / "id_ed25519"), "-p", "2222", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
    "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
]  # fmt: skip
# One line per host; the recap sums the inventory's hosts (not localhost, where the sandbox playbook runs).
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def playbook(name, *args, check=True, timeout=1800):
    """Run playbooks/<name>, or a path from the repository root (sandbox/sandbox.yml);
    returns (returncode, output, recap dict)."""
    started = time.monotonic()
    result = subprocess.run(
        [str(BIN / "ansible-playbook"), name if "/" in name else f"playbooks/{name}", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1"},
    )  # fmt: skip
    output = result.stdout + result.stderr
    lines = [line[1:] for line in RECAP.findall(output) if line[0] != "localhost"]
    recap = (
        {key: sum(int(line[i]) for line in lines) for i, key in enumerate(("ok", "changed", "unreachable", "failed"))}
        if lines
        else {}
    )
    print(f"==> {name} {' '.join(args)}: rc={result.returncode} {recap} in {time.monotonic() - started:.0f} s")
    if check and result.returncode != 0:
        pytest.fail(f"ansible-playbook {name} failed ({result.returncode}):\n{output[-6000:]}")
    return result.returncode, output, recap


def unfolded(output):
    """A playbook's output with the yaml callback's line folds undone: one space between words."""
    return " ".join(output.split())


def ssh(command, user="deploy", check=True, port=2222, timeout=120):
    argv = [*SSH[:4], str(port), *SSH[5:], f"{user}@127.0.0.1", command]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        pytest.fail(f"ssh {user}: {command} failed ({result.returncode}): {result.stdout}{result.stderr}")
    return result


# Ports a neighbour on the sandbox's network tries; 9998 and 9999 are planted by plant_listeners().
PROBED_PORTS = [22, 80, 443, 2375, 2376, 5432, 5555, 6379, 8000, 8080, 9998, 9999]


def answering_ports():
    """The PROBED_PORTS of the VDS that accept a TCP connection from another container on its network."""
    # All at once: a dropped port costs the whole timeout, and most of them are dropped.
    probe = (
        "import socket\n"
        "from concurrent.futures import ThreadPoolExecutor\n"
        "def knock(port):\n"
        "    with socket.socket() as s:\n"
        "        s.settimeout(2)\n"
        "        return port, s.connect_ex(('kit-vds', port)) == 0\n"
        f"for port, answered in ThreadPoolExecutor({len(PROBED_PORTS)}).map(knock, {PROBED_PORTS}):\n"
        "    print(port, answered)\n"
    )
    images = dict(line.split("=", 1) for line in (KIT / "images.env").read_text().splitlines() if "=" in line)
    result = subprocess.run(
        ["docker", "run", "--rm", "--network", "kit-sandbox", images["PYTHON_IMAGE"], "python", "-c", probe],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return sorted(int(line.split()[0]) for line in result.stdout.splitlines() if line.endswith("True"))


def plant_listeners(restart="no"):
    """What a user might add on the server: a host service on 9999 and a container publishing 0.0.0.0:9998."""
    ssh(
        "set -e; sudo systemd-run --quiet --unit=kit-planted python3 -m http.server 9999"
        f"; docker run -d --quiet --name kit-planted --restart {restart} -p 0.0.0.0:9998:80"
        " $(docker inspect -f '{{.Config.Image}}' shop-proxy-1) >/dev/null"
    )
    both = "curl -fsS -o /dev/null 127.0.0.1:9999 && curl -fsS -o /dev/null 127.0.0.1:9998"
    wait_until(lambda: ssh(both, check=False).returncode == 0, 60, "the planted listeners to answer inside the VDS")


def remove_listeners():
    ssh("sudo systemctl stop kit-planted; docker rm -f kit-planted", check=False)


def snapshots(*tags, port=2222):
    """The restic snapshots of the project's backups on a VDS, those with all of ``tags``."""
    env = "set -a; . /etc/kit-backup/shop.env; RESTIC_PASSWORD_FILE=/etc/kit-backup/shop.password"
    tag = f"--tag {shlex.quote(','.join(tags))}" if tags else ""
    return json.loads(ssh(f"sudo sh -c '{env}; restic snapshots --json {tag}'", port=port).stdout)


def secret(name):
    return (KIT / "sandbox" / name).read_text().split()[0]


def admin_session():
    return testkit.admin_session(BASE_URL, "admin", secret("admin_password"))


CHANGELIST = f"{BASE_URL}/admin/imports/importsession/"


def launch_import(http, import_type):
    """Launch an import from the admin's form, as an admin would."""
    launch_url = f"{CHANGELIST}launch/"
    csrf = testkit.csrf_token(http, launch_url)
    answer = http.post(launch_url, data={"csrfmiddlewaretoken": csrf, "import_type": import_type},
                       headers={"Referer": launch_url}, allow_redirects=False, timeout=30)  # fmt: skip
    assert answer.status_code == 302, answer.text[:500]


def import_ids(http):
    """The import sessions the admin's list shows."""
    page = http.get(CHANGELIST, timeout=10).text
    return sorted({int(n) for n in re.findall(r'data-import-session="(\d+)"', page)})


def finished_import(http, session_id):
    """The session's status, once it is no longer active (else None)."""
    data = http.get(f"{CHANGELIST}status/", params={"ids": session_id}, timeout=10).json()["sessions"][0]
    return data if not data["active"] else None


def wait_for_import(http, session_id, timeout=120):
    return wait_until(lambda: finished_import(http, session_id), timeout, f"import #{session_id} to finish")


def container(service, project="shop", port=2222):
    """The name of a service's running container: a release replaces web and worker by new ones (shop-web-2, ...)."""
    labels = f"--filter label=com.docker.compose.project={project} --filter label=com.docker.compose.service={service}"
    names = ssh(f"docker ps {labels} --format '{{{{.Names}}}}'", port=port).stdout.split()
    assert len(names) == 1, f"{project}'s {service}: {names}"
    return names[0]
