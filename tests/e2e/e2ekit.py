"""Helpers for the end-to-end tests: the sandbox VDS, ansible-playbook, ssh, HTTP."""

import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import testkit
from testkit import wait_until  # noqa: F401 - the suite imports it from here

ROOT = Path(__file__).resolve().parents[2]
KIT = ROOT / ".kit"
BIN = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin"
BASE_URL = "http://127.0.0.1:8080"
SSH = [
    "ssh", "-i", str(KIT / "ssh" / "id_ed25519"), "-p", "2222", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
    "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
]  # fmt: skip
RECAP = re.compile(r"^sandbox\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


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
    match = RECAP.search(output)
    recap = (
        dict(zip(("ok", "changed", "unreachable", "failed"), map(int, match.groups()), strict=True)) if match else {}
    )
    print(f"==> {name} {' '.join(args)}: rc={result.returncode} {recap} in {time.monotonic() - started:.0f} s")
    if check and result.returncode != 0:
        pytest.fail(f"ansible-playbook {name} failed ({result.returncode}):\n{output[-6000:]}")
    return result.returncode, output, recap


def ssh(command, user="deploy", check=True):
    result = subprocess.run([*SSH, f"{user}@127.0.0.1", command], capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        pytest.fail(f"ssh {user}: {command} failed ({result.returncode}): {result.stdout}{result.stderr}")
    return result


def secret(name):
    return (KIT / "sandbox" / name).read_text().split()[0]


def admin_session():
    return testkit.admin_session(BASE_URL, "admin", secret("admin_password"))
