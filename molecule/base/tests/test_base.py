"""The base role alone: deploy user and key, sshd hardening that keeps the operator in, ufw, upgrades, time zone.

testinfra itself logs in as the deploy user with the operator's key; the SSH checks below also try, from the
controller, what must be refused.
"""

import subprocess
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def variables(host):
    """The scenario's inventory values (molecule/base/molecule.yml), as written there."""
    return host.ansible.get_variables()


def ssh(variables, user, *options, command="id -un"):
    """Log in from the controller over 127.0.0.1 as the operator would; returns the completed process."""
    return subprocess.run(
        ["ssh", "-p", str(variables["ansible_port"]), "-i", variables["ansible_ssh_private_key_file"],
         "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", *options, f"{user}@127.0.0.1", command],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_the_operator_logs_in_as_the_deploy_user_and_becomes_root(variables):
    login = ssh(variables, "deploy", command="id -un; sudo -n id -u")
    assert login.returncode == 0, login.stderr
    assert login.stdout.split() == ["deploy", "0"]


def test_root_cannot_log_in_any_more(variables):
    login = ssh(variables, "root")
    assert login.returncode == 255 and "Permission denied" in login.stderr, login.stderr


def test_sshd_offers_no_password_or_keyboard_interactive_login(variables):
    login = ssh(variables, "deploy", "-o", "PubkeyAuthentication=no",
                "-o", "PreferredAuthentications=password,keyboard-interactive")  # fmt: skip
    # The server names the methods it still accepts: the key alone.
    assert login.returncode == 255 and "Permission denied (publickey)" in login.stderr, login.stderr


def test_sshd_runs_with_the_hardened_settings(host):
    with host.sudo():
        effective = set(host.check_output("/usr/sbin/sshd -T").splitlines())
    assert {
        "permitrootlogin no",
        "passwordauthentication no",
        "kbdinteractiveauthentication no",
        "pubkeyauthentication yes",
        "permitemptypasswords no",
        "x11forwarding no",
        "maxauthtries 3",
        "port 22",
    } <= effective
    assert host.service("ssh").is_running


def test_the_deploy_user_has_exactly_the_operators_key_and_sudo(host, variables):
    user = host.user("deploy")
    assert user.exists and user.shell == "/bin/bash" and user.home == "/home/deploy"
    operator_key = Path(variables["ansible_ssh_private_key_file"] + ".pub").read_text().split()[:2]
    with host.sudo():
        authorized = host.file("/home/deploy/.ssh/authorized_keys")
        assert (authorized.user, authorized.mode) == ("deploy", 0o600)
        keys = [line.split()[:2] for line in authorized.content_string.splitlines() if line.strip()]
        sudoers = host.file("/etc/sudoers.d/kit-deploy")
        assert (sudoers.user, sudoers.mode) == ("root", 0o440)
    assert keys == [operator_key]
    # No password: the account is reached by key only.
    with host.sudo():
        assert host.check_output("passwd --status deploy").split()[1] in ("L", "NP")


def test_ufw_denies_everything_but_ssh_and_the_public_ports(host, variables):
    with host.sudo():
        status = host.check_output("ufw status verbose")
    assert "Status: active" in status
    assert "Default: deny (incoming), allow (outgoing)" in status
    # "22/tcp ALLOW IN Anywhere", and the same with "(v6)": the port is the first word either way.
    allowed = {line.split()[0] for line in status.splitlines() if "ALLOW IN" in line}
    assert allowed == {f"{port}/tcp" for port in variables["base_ufw_allowed_tcp_ports"]}, status
    assert host.service("ufw").is_enabled


def test_unattended_upgrades_are_on_with_the_reboot_policy(host, variables):
    assert host.package("unattended-upgrades").is_installed
    # What apt will actually use, after every file under apt.conf.d is read.
    effective = dict(
        line.rstrip(";").split(" ", 1) for line in host.check_output("apt-config dump").splitlines() if " " in line
    )
    assert effective["APT::Periodic::Update-Package-Lists"] == '"1"'
    assert effective["APT::Periodic::Unattended-Upgrade"] == '"1"'
    assert effective["Unattended-Upgrade::Automatic-Reboot"] == '"true"'
    assert (
        effective["Unattended-Upgrade::Automatic-Reboot-Time"]
        == f'"{variables["base_unattended_upgrades_reboot_time"]}"'
    )


def test_the_time_zone_is_the_configured_one(host, variables):
    assert host.check_output("timedatectl show --property=Timezone --value") == variables["base_timezone"]
    assert host.file("/etc/localtime").linked_to == f"/usr/share/zoneinfo/{variables['base_timezone']}"


def test_the_extra_packages_are_installed(host, variables):
    for package in variables["base_extra_packages"]:
        assert host.package(package).is_installed, package
