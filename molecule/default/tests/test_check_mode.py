"""A dry run (``site.yml --check --diff``) on the converged VDS: it changes nothing, and a hand edit shows as a diff.

The playbook runs from the controller with molecule's own inventory, as the sysadmin would run it before applying.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[3]))
RECAP = re.compile(r"^\S+\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
EDITED = {"/srv/shop/compose.yml", "/etc/ssh/sshd_config.d/10-kit.conf"}
MARK = "# edited by hand (molecule check-mode test)"


def dry_run(*args):
    """site.yml --check --diff against molecule's inventory; returns (output, recap)."""
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE")
    assert inventory, "MOLECULE_INVENTORY_FILE is not set: run this through molecule verify"
    result = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(Path(inventory).parent),
         "playbooks/site.yml", "--check", "--diff", *args],
        cwd=PROJECT, capture_output=True, text=True, timeout=900,
        env={**os.environ, "ANSIBLE_CONFIG": str(PROJECT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"},
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    recap = dict(zip(("ok", "changed", "unreachable", "failed"), map(int, RECAP.search(output).groups()), strict=True))
    return output, recap


def test_a_dry_run_of_the_converged_host_changes_nothing():
    _, recap = dry_run()
    assert recap["changed"] == 0 and recap["failed"] == 0, recap


@pytest.mark.parametrize("tags", ["config", "release", "images,smoke", "firewall,ssh", "backup"])
def test_a_dry_run_of_one_tagged_part_changes_nothing(tags):
    """A tag leaves out the steps before it; what follows must not depend on them."""
    _, recap = dry_run("--tags", tags)
    assert recap["changed"] == 0 and recap["failed"] == 0, recap


@pytest.fixture
def edited_by_hand(host):
    """Append a comment to files the roles write; take it out again afterwards, so the host stays converged."""
    with host.sudo():
        for path in EDITED:
            host.check_output(f"echo '{MARK}' >> {path}")
    yield
    with host.sudo():
        for path in EDITED:
            host.check_output(f"sed -i '/^{MARK}$/d' {path}")


def test_a_dry_run_shows_a_hand_edit_as_a_diff_and_applies_nothing(host, edited_by_hand):
    output, recap = dry_run()
    assert recap["changed"] >= 2 and recap["failed"] == 0, recap
    for path in EDITED:
        assert f"--- before: {path}" in output, output[-6000:]
    assert output.count(f"-{MARK}") == 2, output[-6000:]
    with host.sudo():
        for path in EDITED:
            assert host.file(path).content_string.endswith(f"{MARK}\n"), f"{path} was changed by a dry run"
