"""kit-local/vds:13, the sandbox VDS: boots systemd, takes root by key only, keeps its identity across a reboot."""

import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from imagekit import docker, image, name, out, published, run, start, stop
from testkit import wait_until

ROOT = Path(__file__).resolve().parents[2]
# How a systemd container runs on this host, as sandbox/sandbox.yml runs the
# sandbox: not --privileged (the host lacks CAP_SYS_RESOURCE, so docker fails
# with "unable to apply caps") but every other capability; no seccomp or
# apparmor profile; every device; the host's cgroup tree, writable; /run on tmpfs.
CAPABILITIES = ["--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE"]
VDS_RUN = [
    *CAPABILITIES, "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
    "--device-cgroup-rule", "a *:* rwm", "--cgroupns", "host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "--tmpfs", "/run", "--tmpfs", "/run/lock",
]  # fmt: skip
SSH_OPTIONS = [
    "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
    "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5",
]  # fmt: skip
# sshd -T: root by key only, no password or keyboard-interactive login.
KEYS_ONLY = {
    "permitrootlogin": "without-password",
    "passwordauthentication": "no",
    "kbdinteractiveauthentication": "no",
}
IDENTITY = "cat /etc/machine-id; ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub"


class Vds:
    def __init__(self, container, key):
        self.container, self.key = container, key

    def ssh(self, command, *options):
        """ssh root@127.0.0.1 with the key (unless options say otherwise), on the port published now."""
        host, port = published(self.container, 22).rsplit(":", 1)
        return subprocess.run(
            ["ssh", *SSH_OPTIONS, "-i", str(self.key), "-p", port, *options, f"root@{host}", command],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip

    def state(self):
        """What systemctl is-system-running says inside."""
        return docker("exec", self.container, "systemctl", "is-system-running", check=False).stdout.strip()

    def booted(self):
        return self.state() in ("running", "degraded")


@pytest.fixture(scope="module")
def vds(tmp_path_factory):
    """A VDS with a throw-away operator key copied in, as a provider does."""
    started = time.monotonic()
    machine = Vds(start(name("vds"), "--hostname", "vds", *VDS_RUN, "-p", "127.0.0.1::22", image("vds")), None)
    wait_until(machine.booted, 60, "systemd running or degraded")
    print(f"systemd up in {time.monotonic() - started:.1f} s: {machine.state()}")
    machine.key = tmp_path_factory.mktemp("vds") / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kit-test", "-f", machine.key], check=True)
    docker("exec", machine.container, "install", "-d", "-m", "0700", "/root/.ssh")
    docker("cp", f"{machine.key}.pub", f"{machine.container}:/root/.ssh/authorized_keys")
    docker("exec", machine.container, "chown", "root:root", "/root/.ssh/authorized_keys")
    docker("exec", machine.container, "chmod", "0600", "/root/.ssh/authorized_keys")
    wait_until(lambda: machine.ssh("true").returncode == 0, 30, "ssh")
    return machine


def test_the_image_carries_no_host_key_machine_id_or_authorized_key():
    script = "ls /etc/ssh/ssh_host_* /etc/machine-id /root/.ssh/authorized_keys 2>/dev/null || true"
    assert run("--rm", image("vds"), "sh", "-c", script).stdout == ""


def test_systemd_boots(vds):
    assert vds.booted(), vds.state()
    failed = out("exec", vds.container, "systemctl", "--failed", "--plain", "--no-legend")
    print(f"systemd {vds.state()}; failed units: {failed or 'none'}")


def test_network_online_target_is_reached_at_once(vds):
    """What docker.service (and many servers) wait for must not wait here: the engine configured the network."""
    docker("exec", vds.container, "timeout", "10", "systemctl", "start", "network-online.target", timeout=20)


def test_root_logs_in_over_ssh_with_the_key(vds):
    answer = vds.ssh("systemctl is-system-running; python3 --version; sudo -n true && echo sudo; hostname")
    assert answer.returncode == 0, answer.stderr
    state, python, sudo, hostname = answer.stdout.split("\n")[:4]
    assert state in ("running", "degraded"), answer.stdout
    assert python.startswith("Python 3.") and sudo == "sudo" and hostname == "vds", answer.stdout


def test_no_login_without_the_key(vds):
    assert vds.ssh("true", "-o", "PubkeyAuthentication=no").returncode != 0


def test_sshd_takes_keys_only(vds):
    settings = dict(line.split(" ", 1) for line in out("exec", vds.container, "sshd", "-T").splitlines())
    assert {key: settings[key] for key in KEYS_ONLY} == KEYS_ONLY


def test_a_restart_is_a_reboot_of_the_same_machine(vds):
    """Machine id and host key, made at first boot, stay; ssh and systemd come back by themselves."""
    before = out("exec", vds.container, "sh", "-c", IDENTITY)
    assert re.fullmatch(r"[0-9a-f]{32}\n256 SHA256:\S+ \S+ \(ED25519\)", before), before
    started = time.monotonic()
    docker("restart", vds.container, timeout=60)
    wait_until(lambda: vds.ssh("true").returncode == 0, 60, "ssh after docker restart")
    print(f"ssh answers again {time.monotonic() - started:.1f} s after docker restart")
    wait_until(vds.booted, 60, "systemd after docker restart")
    assert out("exec", vds.container, "sh", "-c", IDENTITY) == before


def test_docker_stop_halts_systemd_cleanly(vds):
    """SIGRTMIN+3 (STOPSIGNAL): systemd halts; its final reboot(2) in a PID namespace ends the container
    as if by SIGINT, so 130 is a clean halt (a systemd that hung would be killed after 10 s: 137)."""
    stop(vds.container, exit_code=130)


def test_molecule_platforms_get_the_same_capabilities():
    """Molecule's docker driver passes no cap_drop, so its platform lists the capabilities: the same set."""
    config = yaml.safe_load((ROOT / ".config" / "molecule" / "config.yml").read_text())
    listed = [arg for cap in config["platforms"][0]["capabilities"] for arg in ("--cap-add", cap)]
    show = ("grep", "CapBnd", "/proc/self/status")
    assert run("--rm", *listed, image("vds"), *show).stdout == run("--rm", *CAPABILITIES, image("vds"), *show).stdout
