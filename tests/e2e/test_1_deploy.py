"""site.yml against a fresh sandbox VDS, over real SSH: what a sysadmin would check."""

import re
import socket
import subprocess

import e2ekit
import requests
from e2ekit import CHANGELIST, KIT, SSH, admin_session, playbook, secret, ssh, unfolded, wait_until

SECRETS = ("secret_key", "postgres_password", "redis_password", "flower_password", "admin_password")


def test_a_rerun_puts_back_what_was_changed_by_hand(deployed, tmp_path):
    """Each role's modules see a hand edit and repair it; nginx serves its repaired configuration. The run
    is verbose, and shows no secret."""
    stray = tmp_path / "stray"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "stray", "-f", str(stray)], check=True)
    stray_key = stray.with_suffix(".pub").read_text().strip()
    ssh(
        "set -e; sudo chmod 0400 /etc/sudoers.d/kit-deploy"
        f"; echo '{stray_key}' >> ~/.ssh/authorized_keys"
        "; sudo timedatectl set-timezone Europe/Berlin"
        "; sudo rm /etc/apt/apt.conf.d/52kit-unattended-upgrades"
        "; sudo chown deploy /srv/shop/.env"
        "; sudo sed -i 's/^GUNICORN_WORKERS=.*/GUNICORN_WORKERS=5/' /srv/shop/.env"
        "; echo '# edited by hand' | sudo tee -a /srv/shop/compose.yml /srv/shop/nginx/default.conf >/dev/null"
        "; docker restart shop-proxy-1 >/dev/null"  # nginx now reads the edited file
    )
    # -v prints every task's result: community.docker's modules report each container with its command line.
    _, output, recap = playbook("site.yml", "-v")
    assert recap["changed"] >= 7 and recap["failed"] == 0, recap
    for name in (*SECRETS, "backup_password"):
        assert secret(name) not in output, f"{name} appears in the output of site.yml -v"
    assert ssh(
        "sudo stat -c '%a %U' /etc/sudoers.d/kit-deploy /srv/shop/.env /etc/apt/apt.conf.d/52kit-unattended-upgrades"
    ).stdout.split() == ["440", "root", "600", "root", "644", "root"]
    assert stray_key.split()[1] not in ssh("cat ~/.ssh/authorized_keys").stdout
    assert ssh("timedatectl show --property=Timezone --value").stdout.strip() == "UTC"
    served = ssh("docker exec shop-proxy-1 cat /etc/nginx/conf.d/default.conf").stdout
    assert served == (KIT.parent / "compose" / "nginx" / "default.conf").read_text()
    assert "edited by hand" not in ssh("sudo cat /srv/shop/compose.yml").stdout
    # The env file is rendered again and checked; its backup, which holds the secrets, is gone.
    assert "GUNICORN_WORKERS=2" in ssh("sudo cat /srv/shop/.env").stdout.splitlines()
    assert [name for name in ssh("sudo ls -a /srv/shop").stdout.split() if name.startswith(".env")] == [".env"]


def test_admin_import_flow_over_http(deployed):
    http = admin_session()
    page = http.get(CHANGELIST, timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)

    while len(e2ekit.import_ids(http)) < 2:
        e2ekit.launch_import(http, "catalogue")
        e2ekit.wait_for_import(http, e2ekit.import_ids(http)[-1])
    before = e2ekit.import_ids(http)
    received = ssh(
        f"docker logs {e2ekit.container('worker')} 2>&1 | grep -c 'Task imports.run_import\\[.*\\] received'"
    ).stdout

    page = http.post(CHANGELIST, data={"csrfmiddlewaretoken": token, "action": "run_import_action",
                                       "_selected_action": before[-2:]},
                     headers={"Referer": CHANGELIST}, timeout=30)  # fmt: skip
    assert page.status_code == 200 and 'id="launch-import-form"' in page.text
    e2ekit.launch_import(http, "full")
    [new] = sorted(set(e2ekit.import_ids(http)) - set(before))
    session = e2ekit.wait_for_import(http, new)
    assert (session["status"], session["task_state"]) == ("succeeded", "done")
    after = ssh(
        f"docker logs {e2ekit.container('worker')} 2>&1 | grep -c 'Task imports.run_import\\[.*\\] received'"
    ).stdout
    assert int(after) == int(received) + 1


def test_only_the_allowed_ports_answer_from_the_network(deployed):
    """ufw filters the host's ports, and the kit's DOCKER-USER rules the ports containers publish."""
    e2ekit.plant_listeners()
    try:
        assert e2ekit.answering_ports() == [22, 80]
        # live-restore keeps the containers up; Docker sets its chains up again and keeps DOCKER-USER.
        ssh("sudo systemctl restart docker && docker info >/dev/null")
        assert e2ekit.answering_ports() == [22, 80]
        # The control: without the kit's DOCKER-USER rules the planted container answers, so the probe can see it.
        ssh("sudo iptables -F DOCKER-USER")
        try:
            assert e2ekit.answering_ports() == [22, 80, 9998]
        finally:
            ssh("sudo ufw reload")
        assert e2ekit.answering_ports() == [22, 80]
    finally:
        e2ekit.remove_listeners()


def test_flower_runs_healthy_on_the_servers_loopback_and_answers_through_an_ssh_tunnel(deployed):
    """The sandbox's inventory enables Flower: the port test above finds 5555 closed to the network."""
    health = "docker inspect -f '{{.State.Health.Status}}' shop-flower-1"
    wait_until(lambda: ssh(health).stdout.strip() == "healthy", 90, "Flower's healthcheck")
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    tunnel = subprocess.Popen([*SSH, "-N", "-L", f"{port}:127.0.0.1:5555", "deploy@127.0.0.1"])
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_until(lambda: _status(url) == 401, 30, "Flower through the tunnel, refusing a request without its login")
        answer = requests.get(url, auth=("admin", secret("flower_password")), timeout=10)
        assert answer.status_code == 200 and "Flower" in answer.text
    finally:
        tunnel.terminate()
        tunnel.wait(timeout=10)
    # Switched off in the inventory, the next deploy removes it (compose alone would leave it running).
    playbook("deploy.yml", "-e", "django_stack_flower_enabled=false")
    assert ssh("docker ps -a --filter name=shop-flower --format '{{.Names}}'").stdout.strip() == ""


def _status(url):
    try:
        return requests.get(url, timeout=5).status_code
    except requests.ConnectionError:
        return None


def test_no_secret_is_in_the_output(deployed):
    # A verbose run's output: test_a_rerun_puts_back_what_was_changed_by_hand.
    for name in (*SECRETS, "backup_password"):
        assert secret(name) not in deployed, f"{name} appears in site.yml's output"


def test_no_secret_is_in_container_configuration_processes_or_logs(deployed):
    """Secrets reach the containers as files: docker inspect, `docker compose config`, the process list and
    the logs (containers' and the journal) hold none of them."""
    readers = {
        "docker inspect": ssh("docker inspect $(docker ps --all --quiet)").stdout,
        "docker compose config": ssh("sudo docker compose --project-directory /srv/shop config").stdout,
        "ps": ssh("sudo ps -eo user,args").stdout,
        "logs": ssh(
            "for c in $(docker ps --all --quiet); do docker logs $c 2>&1; done; sudo journalctl --no-pager --output=cat"
        ).stdout,
    }
    for name in SECRETS:
        value = secret(name)
        for reader, text in readers.items():
            assert value not in text, f"{name} appears in {reader}"
    # Each container reads its copy, mode 0400, owned by the uid it runs as.
    owners = {"web": "10001", "worker": "65534", "beat": "65534", "db": "0", "redis": "0"}
    for service, uid in owners.items():
        listing = ssh(f"docker exec {e2ekit.container(service)} sh -c 'stat -c \"%n %a %u\" /run/secrets/*'").stdout
        modes = {line.split()[0]: line.split()[1:] for line in listing.splitlines()}
        assert modes and all(mode == ["400", uid] for mode in modes.values()), (service, modes)


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
    returncode, output, _ = playbook("sandbox/sandbox.yml", "-e", f"sandbox_ssh_key={other_key}", check=False)
    said = unfolded(output)
    assert returncode != 0
    assert f"kit-vds existed already and does not accept the key {other_key}.pub" in said, output[-3000:]
    assert "make demo-down" in said
    assert "Permission denied" not in output
    playbook("sandbox/sandbox.yml")
    assert ssh("true").returncode == 0
