"""The base role alone: deploy user and key, sshd hardening that keeps the operator in, ufw, upgrades, time zone.

testinfra itself logs in as the deploy user with the operator's key; the SSH checks below also try, from the
controller, what must be refused.
"""

import os
import subprocess
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def variables(host):
    """The scenario's inventory values (molecule/base/molecule.yml), as written there."""
    return host.ansible.get_variables()


def ssh(variables, user, *options, command="id -un"):
    """Log in from the controller over 127.0.0.1 as the operator would; returns the completed process.
    ssh keeps the first value it gets for an option, so the options given here win over the defaults below."""
    return subprocess.run(
        ["ssh", *options, "-p", str(variables["ansible_port"]), "-i", variables["ansible_ssh_private_key_file"],
         "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", f"{user}@127.0.0.1",
         *([command] if command else [])],
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


# The role's preference list, less the names this release's OpenSSH does not know: none on Debian 13 (OpenSSH
# 10.0); Debian 12's 9.2 lacks ML-KEM (OpenSSH 9.9), and only that.
KEX_13 = (
    "kexalgorithms mlkem768x25519-sha256,sntrup761x25519-sha512,sntrup761x25519-sha512@openssh.com,"
    "curve25519-sha256,curve25519-sha256@libssh.org,diffie-hellman-group16-sha512,"
    "diffie-hellman-group18-sha512,diffie-hellman-group-exchange-sha256"
)
KEX_ALGORITHMS = {"13": KEX_13, "12": KEX_13.replace("mlkem768x25519-sha256,", "", 1)}


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
        "logingracetime 30",
        "allowagentforwarding no",
        "allowtcpforwarding no",
        "allowstreamlocalforwarding no",
        "permittunnel no",
        KEX_ALGORITHMS[host.system_info.release.split(".")[0]],
        "ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com,"
        "aes256-ctr,aes192-ctr,aes128-ctr",
        "macs hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com,umac-128-etm@openssh.com",
    } <= effective
    assert host.service("ssh").is_running


# An AEAD cipher (chacha20, GCM) carries its own MAC: the MAC lists are compared only with a cipher that needs one.
@pytest.mark.parametrize(
    "options",
    [["KexAlgorithms=diffie-hellman-group14-sha1"], ["Ciphers=aes128-cbc"], ["Ciphers=aes128-ctr", "MACs=hmac-sha1"]],
)
def test_sshd_refuses_a_client_that_offers_only_a_weak_algorithm(variables, options):
    # ssh reports a failed negotiation at level INFO.
    login = ssh(variables, "deploy", "-o", "LogLevel=INFO", *(word for option in options for word in ("-o", option)))
    assert login.returncode == 255 and "no matching" in login.stderr, login.stderr


def test_sshd_forwards_no_port(variables):
    """ssh -W (what -L and ProxyJump ask for) is refused by the server, not by the client."""
    login = ssh(variables, "deploy", "-o", "LogLevel=INFO", "-W", "127.0.0.1:22", command=None)
    assert login.returncode == 255 and "administratively prohibited" in login.stderr, login.stderr


# Run in a neighbour container on the VDS's Docker network: a few logins as an unknown user, then logins as
# deploy (without its key) until they are no longer answered with "Permission denied". A login whose TCP
# connection was open when the ban came would wait on TCP's retransmissions for minutes: timeout ends it.
PROBER = r"""
try() { timeout 10 ssh -o BatchMode=yes -o ConnectTimeout=3 -o StrictHostKeyChecking=no \
            -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR "$1@$VDS" true 2>&1 | tail -n 1; }
echo "me: $(hostname -I | cut -d' ' -f1)"
for i in 1 2 3 4 5 6; do echo "attempt: $(try nosuchuser)"; done
for i in $(seq 30); do
  answer=$(try deploy)
  case "$answer" in ""|*"Permission denied"*) sleep 1 ;; *) echo "after: $answer"; exit 0 ;; esac
done
echo "after: still answered"
"""


def test_fail2ban_bans_an_address_that_keeps_failing_to_log_in(host):
    vds = host.check_output("hostname -I").split()[0]
    with host.sudo():
        assert host.service("fail2ban").is_enabled and host.service("fail2ban").is_running
        # base_fail2ban_ignore_gateway: the controller's logins come through the gateway's port forward.
        gateway = host.check_output("ip -4 route show default").split()[2]
        assert gateway in host.check_output("fail2ban-client get sshd ignoreip")
    image = os.environ.get("KIT_VDS_IMAGE", "kit-local/vds:13")
    prober = subprocess.run(["docker", "run", "--rm", "-e", f"VDS={vds}", image, "sh", "-c", PROBER],
                            capture_output=True, text=True, timeout=420, check=True)  # fmt: skip
    lines = dict(line.split(": ", 1) for line in prober.stdout.splitlines() if ": " in line)
    try:
        # base_fail2ban_maxretry (5) failures reached sshd; the ban may cut the sixth short.
        assert prober.stdout.count("attempt: nosuchuser@") >= 5, prober.stdout
        with host.sudo():
            assert lines["me"] in host.check_output("fail2ban-client get sshd banned"), prober.stdout
        # The ban is in the firewall: sshd no longer answers that address at all.
        assert "Connection refused" in lines["after"] or "timed out" in lines["after"], prober.stdout
    finally:
        with host.sudo():
            host.run(f"fail2ban-client set sshd unbanip {lines.get('me', '')}")


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
