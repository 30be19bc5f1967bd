"""site.yml against a fresh sandbox VDS, over real SSH: what a sysadmin would check."""

import re
import subprocess

from e2ekit import BASE_URL, KIT, admin_session, playbook, ssh, wait_until

CHANGELIST = f"{BASE_URL}/admin/imports/importsession/"
PROBED_PORTS = [22, 80, 443, 2375, 2376, 5432, 5555, 6379, 8000, 8080]


# On a settled host, each of these module tasks is skipped by its role's
# read-only probe (files, ufw, dpkg, account, time zone, service): proof that
# each probe still matches what its module would leave.
SKIPPED_ON_A_RERUN = [
    "base : Install the baseline packages",
    "base : Set the time zone",
    "base : Switch the daily unattended upgrades on or off",
    "base : Set the reboot policy of unattended upgrades",
    "base : Create the deploy user",
    "base : Install the deploy user's SSH public keys (and only those)",
    "base : Let the deploy user use sudo without a password",
    "base : Allow the SSH port and the public TCP ports through ufw",
    "base : Deny incoming traffic by default",
    "base : Allow outgoing traffic by default",
    "base : Create the drop-in directory of ssh.socket",
    "base : Keep the current sshd drop-in for a rollback",
    "base : Write the sshd drop-in",
    "base : Write the ssh.socket drop-in with the SSH port",
    "base : Enable ufw",
    "docker : Install Docker and the docker modules' Python libraries from the distribution",
    "docker : Create /etc/docker",
    "docker : Write daemon.json with log rotation and live-restore",
    "docker : Create the drop-in directory",
    "docker : Write the daemon's environment drop-in",
    "docker : Enable and start docker",
    "docker : Add users to the docker group",
    "django_stack : Create the stack's directory",
    "django_stack : Write the env file",
    "django_stack : Copy the compose file as it is",
    "django_stack : Create the nginx configuration directory",
    "django_stack : Copy the nginx configuration as it is",
    "django_stack : Copy the image archives the server lacks",
]


def task_results(output):
    """{task or handler name: the result words of its lines (ok, changed, skipping, ...)}."""
    results = {}
    for block in re.split(r"^(?:TASK|RUNNING HANDLER) \[", output, flags=re.M)[1:]:
        name = block.split("]", 1)[0]
        results.setdefault(name, []).extend(re.findall(r"^(\w+): \[sandbox", block, flags=re.M))
    return results


def test_second_run_changes_nothing(deployed):
    _, output, recap = playbook("site.yml")
    assert recap == {"ok": recap["ok"], "changed": 0, "unreachable": 0, "failed": 0}
    results = task_results(output)
    ran = {name: results.get(name) for name in SKIPPED_ON_A_RERUN if set(results.get(name, [])) != {"skipping"}}
    assert ran == {}, "a probe no longer matches what its module leaves (or a task was renamed)"


def test_a_rerun_puts_back_what_was_changed_by_hand(deployed, tmp_path):
    """No probe skips a module that has something to do."""
    stray = tmp_path / "stray"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "stray", "-f", str(stray)], check=True)
    stray_key = stray.with_suffix(".pub").read_text().strip()
    ssh(
        "set -e; sudo chmod 0400 /etc/sudoers.d/kit-deploy"
        f"; echo '{stray_key}' >> ~/.ssh/authorized_keys"
        "; sudo timedatectl set-timezone Europe/Berlin"
        "; sudo rm /etc/apt/apt.conf.d/52kit-unattended-upgrades"
        "; sudo chown deploy /srv/shop/.env"
        "; echo '# edited by hand' | sudo tee -a /srv/shop/compose.yml /srv/shop/nginx/default.conf >/dev/null"
        "; docker restart shop-proxy-1 >/dev/null"  # nginx now reads the edited file
    )
    _, output, _ = playbook("site.yml")
    repaired = [
        "base : Let the deploy user use sudo without a password",
        "base : Install the deploy user's SSH public keys (and only those)",
        "base : Set the time zone",
        "base : Set the reboot policy of unattended upgrades",
        "django_stack : Write the env file",
        "django_stack : Copy the compose file as it is",
        "django_stack : Copy the nginx configuration as it is",
        "django_stack : Restart nginx to read its new configuration",
    ]
    results = task_results(output)
    assert {name: results.get(name) for name in repaired} == {name: ["changed"] for name in repaired}
    assert ssh(
        "sudo stat -c '%a %U' /etc/sudoers.d/kit-deploy /srv/shop/.env /etc/apt/apt.conf.d/52kit-unattended-upgrades"
    ).stdout.split() == ["440", "root", "600", "root", "644", "root"]
    assert stray_key.split()[1] not in ssh("cat ~/.ssh/authorized_keys").stdout
    assert ssh("timedatectl show --property=Timezone --value").stdout.strip() == "UTC"
    served = ssh("docker exec shop-proxy-1 cat /etc/nginx/conf.d/default.conf").stdout
    assert served == (KIT.parent / "compose" / "nginx" / "default.conf").read_text()
    assert "edited by hand" not in ssh("sudo cat /srv/shop/compose.yml").stdout


def test_root_login_is_closed_and_the_deploy_user_works(deployed):
    assert ssh("sudo -n true && id -nG", user="deploy").stdout.split().count("docker") == 1
    assert ssh("true", user="root", check=False).returncode != 0


def test_admin_import_flow_over_http(deployed):
    http = admin_session()
    page = http.get(CHANGELIST, timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)

    def launch(import_type):
        launch_url = f"{CHANGELIST}launch/"
        form = http.get(launch_url, timeout=10).text
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
        answer = http.post(launch_url, data={"csrfmiddlewaretoken": csrf, "import_type": import_type},
                           headers={"Referer": launch_url}, allow_redirects=False, timeout=30)  # fmt: skip
        assert answer.status_code == 302, answer.text[:500]

    def ids():
        return sorted(
            {int(n) for n in re.findall(r'data-import-session="(\d+)"', http.get(CHANGELIST, timeout=10).text)}
        )

    def finished(session_id):
        data = http.get(f"{CHANGELIST}status/", params={"ids": session_id}, timeout=10).json()["sessions"][0]
        return data if not data["active"] else None

    while len(ids()) < 2:
        launch("catalogue")
        wait_until(lambda: finished(ids()[-1]), 120, "a catalogue import to finish")
    before = ids()
    received = ssh("docker logs shop-worker-1 2>&1 | grep -c 'Task imports.run_import\\[.*\\] received'").stdout

    page = http.post(CHANGELIST, data={"csrfmiddlewaretoken": token, "action": "run_import_action",
                                       "_selected_action": before[-2:]},
                     headers={"Referer": CHANGELIST}, timeout=30)  # fmt: skip
    assert page.status_code == 200 and 'id="launch-import-form"' in page.text
    launch("full")
    [new] = sorted(set(ids()) - set(before))
    session = wait_until(lambda: finished(new), 120, f"import #{new} to finish")
    assert (session["status"], session["task_state"]) == ("succeeded", "done")
    after = ssh("docker logs shop-worker-1 2>&1 | grep -c 'Task imports.run_import\\[.*\\] received'").stdout
    assert int(after) == int(received) + 1


def test_worker_and_beat_run_as_nobody_and_web_not_as_root(deployed):
    for service in ("worker", "beat"):
        assert ssh(f"docker exec shop-{service}-1 id -u").stdout.strip() == "65534"
        assert ssh(f"docker exec shop-{service}-1 id -g").stdout.strip() == "65534"
    assert ssh("docker exec shop-web-1 id -u").stdout.strip() not in ("", "0")


def test_only_ssh_and_http_answer_from_the_network(deployed):
    probe = (
        "import socket\n"
        f"for port in {PROBED_PORTS}:\n"
        "    s = socket.socket(); s.settimeout(2)\n"
        "    print(port, s.connect_ex(('kit-vds', port)) == 0); s.close()\n"
    )
    images = dict(line.split("=", 1) for line in (KIT / "images.env").read_text().splitlines() if "=" in line)
    result = subprocess.run(
        ["docker", "run", "--rm", "--network", "kit-sandbox", images["PYTHON_IMAGE"], "python", "-c", probe],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    open_ports = sorted(int(line.split()[0]) for line in result.stdout.splitlines() if line.endswith("True"))
    assert open_ports == [22, 80], result.stdout


def test_env_file_is_private_and_no_secret_is_in_the_output(deployed):
    assert ssh("sudo stat -c '%a %U:%G' /srv/shop/.env").stdout.strip() == "600 root:root"
    # -v prints every task's result: community.docker's modules report each container with its command line.
    _, rerun, _ = playbook("deploy.yml", "-v")
    for name in ("secret_key", "postgres_password", "redis_password", "flower_password", "admin_password"):
        value = (KIT / "sandbox" / name).read_text().split()[0]
        assert value not in deployed, f"{name} appears in site.yml's output"
        assert value not in rerun, f"{name} appears in the output of deploy.yml -v"


def test_a_deploy_removes_the_image_archives_of_earlier_releases(deployed):
    shipped = ssh("sudo ls /srv/shop/images").stdout.split()
    ssh("sudo touch /srv/shop/images/shop-app-0123456789ab.tar /srv/shop/images/notes.txt")
    on_controller = sorted(path.name for path in (KIT / "images").iterdir())
    (KIT / "images" / "shop-app-0123456789ab.tar").write_bytes(b"an earlier release")
    _, _, recap = playbook("deploy.yml")
    assert recap["changed"] >= 2
    assert sorted(ssh("sudo ls /srv/shop/images").stdout.split()) == sorted([*shipped, "notes.txt"])
    assert len([name for name in shipped if name.endswith(".tar")]) == 4, shipped
    assert sorted(path.name for path in (KIT / "images").iterdir()) == on_controller
    assert on_controller == sorted(name for name in shipped if name.endswith(".tar"))


def test_the_sandbox_refuses_a_key_it_was_not_handed(deployed, tmp_path):
    """kit-vds keeps the key it was handed first: another key is named, with the fix, before any SSH."""
    other_key = tmp_path.resolve() / "id_ed25519"
    returncode, output, _ = playbook("sandbox.yml", "-e", f"sandbox_ssh_key={other_key}", check=False)
    said = " ".join(output.split())  # the yaml callback wraps long messages
    assert returncode != 0
    assert f"kit-vds existed already and does not accept the key {other_key}.pub" in said, output[-3000:]
    assert "make demo-down" in said
    assert "Permission denied" not in output
    playbook("sandbox.yml")
    assert ssh("true").returncode == 0
