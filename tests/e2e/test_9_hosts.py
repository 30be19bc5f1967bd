"""One stack across three sandbox VDSs on one private network (inventories/three-hosts): data, web and worker1.

Each is a fresh VDS reached over SSH like the suite's own; site.yml provisions all three and deploys them one
at a time. A fourth container on the same network stands for any other machine of the private network.
"""

import re
import secrets
import shlex
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
import testkit
from e2ekit import ROOT, Probe, container, playbook, secret, snapshots, ssh, unfolded, wait_until

INVENTORY = ("-i", "inventories/three-hosts")
NETWORK, SUBNET = "kit-hosts", "172.30.240.0/24"
# name: (ssh port, http port, private address), as inventories/three-hosts/hosts.yml has them.
HOSTS = {
    "data": (2240, 8091, "172.30.240.10"),
    "web": (2241, 8090, "172.30.240.11"),
    "worker1": (2242, 8092, "172.30.240.12"),
}
STRANGER = "172.30.240.13"
WEB_URL = "http://127.0.0.1:8090"
CHANGELIST = f"{WEB_URL}/admin/imports/importsession/"
# The rolled release's tag: new each run, as the controller keeps the images it built under their tags.
ROLLED = f"e2e-rolled-{secrets.token_hex(3)}"
BROKEN = f"e2e-broken-{secrets.token_hex(3)}"


def sandbox(name, state):
    ssh_port, http_port, address = HOSTS[name]
    playbook(
        "sandbox/sandbox.yml", "-e", f"sandbox_state={state}", "-e", f"sandbox_name=kit-{name}",
        "-e", f"sandbox_network={NETWORK}", "-e", f"sandbox_subnet={SUBNET}", "-e", f"sandbox_ipv4_address={address}",
        "-e", f"sandbox_ssh_port={ssh_port}", "-e", f"sandbox_http_port={http_port}",
        "-e", f"sandbox_docker_volume=kit-{name}-docker",
    )  # fmt: skip


def app(name, service):
    """The running container of a service on one of the hosts (a release replaces web and worker: shop-web-2, ...)."""
    return container(service, port=HOSTS[name][0])


def on(name, command, check=True):
    """A command on one of the three hosts, as the deploy user."""
    return ssh(command, port=HOSTS[name][0], check=check)


def psql(query):
    """A query's answer, from the data host's PostgreSQL."""
    return on("data", f"docker exec {app('data', 'db')} psql -U shop -At -c {shlex.quote(query)}").stdout.strip()


def services(name):
    """The compose services running on a host, and their health."""
    out = on(name, "docker ps --format '{{.Label \"com.docker.compose.service\"}} {{.Status}}'").stdout
    return {line.split()[0]: "(healthy)" in line for line in out.splitlines() if line.strip()}


def test_a_data_host_address_that_is_no_ip_is_refused_before_anything_runs():
    """Validation alone, before the sandboxes exist: no host is reached."""
    returncode, output, recap = playbook("deploy.yml", *INVENTORY, "-e", "django_stack_private_address=db.internal",
                                         check=False)  # fmt: skip
    said = unfolded(output)
    assert returncode != 0 and recap["changed"] == 0, said[-3000:]
    assert (
        "data is in the group data and other hosts use it, so they need the address to reach it on: set it to this"
        ' host\'s private IPv4 address, not "db.internal"' in said
    ), said[-3000:]
    assert 'data\'s is "db.internal", and web reaches PostgreSQL and Redis there' in said, said[-3000:]
    assert "PLAY [Deploy the stack]" not in output


@pytest.fixture(scope="module")
def stack():
    """site.yml over the three new sandboxes; the output of that first run."""
    with ThreadPoolExecutor(len(HOSTS)) as pool:
        list(pool.map(sandbox, HOSTS, ["absent"] * len(HOSTS)))
        # The first creates the network; the other two then join it at once.
        sandbox("data", "present")
        list(pool.map(sandbox, ["web", "worker1"], ["present"] * 2))
    _, output, recap = playbook("site.yml", *INVENTORY)
    assert recap["failed"] == 0 and recap["unreachable"] == 0, output[-3000:]
    yield output
    # All three at once; the last one out may not see the network empty.
    with ThreadPoolExecutor(len(HOSTS)) as pool:
        list(pool.map(sandbox, HOSTS, ["absent"] * len(HOSTS)))
    subprocess.run(["docker", "network", "rm", NETWORK], capture_output=True, check=False)


def test_each_host_runs_its_groups_services_healthy(stack):
    assert services("data") == {"db": True, "redis": True}
    assert services("web") == {"web": True, "proxy": True, "flower": True}
    assert services("worker1") == {"worker": True, "beat": True}
    # The first run migrated once, from web; the data host and worker1 ran no release step.
    assert len(re.findall(r"TASK \[django_stack : Run the migrations", stack)) == 3  # one per host: two skipped
    assert re.search(r"(?s)Run the migrations[^\n]*\n(changed|ok): \[web\]", stack), stack[-3000:]


def launch(http):
    """A full import launched from the admin on web, as an admin would; returns its session's id."""
    url = f"{CHANGELIST}launch/"
    csrf = testkit.csrf_token(http, url)
    answer = http.post(url, data={"csrfmiddlewaretoken": csrf, "import_type": "full"},
                       headers={"Referer": url}, allow_redirects=False, timeout=30)  # fmt: skip
    assert answer.status_code == 302, answer.text[:500]
    page = http.get(CHANGELIST, timeout=10).text
    return max(int(n) for n in re.findall(r'data-import-session="(\d+)"', page))


def session(http, session_id):
    return http.get(f"{CHANGELIST}status/", params={"ids": session_id}, timeout=10).json()["sessions"][0]


def closed(http, session_id, timeout=180):
    return wait_until(lambda: (s := session(http, session_id))["active"] is False and s, timeout, "the import to end")


@pytest.fixture(scope="module")
def admin(stack):
    """The admin's session on web, with a large exchange on worker1, where the import reads it
    (inventories/three-hosts/group_vars/workers.yml: IMPORT_DATA_DIR)."""
    image = on("worker1", f"docker inspect -f '{{{{.Config.Image}}}}' {app('worker1', 'worker')}").stdout.strip()
    # Large enough to be killed mid-way: some seconds of work for the sandbox's worker.
    write = (
        "from pathlib import Path; from imports.sample import write_exchange; write_exchange(Path('/out'), 60000, 7)"
    )
    on("worker1", f"docker run --rm --user 0 -v shop_exchange:/out {image} python -c {shlex.quote(write)}")
    return testkit.admin_session(WEB_URL, "admin", secret("admin_password"))


def test_an_import_launched_on_web_runs_on_worker1(admin):
    session_id = launch(admin)
    assert closed(admin, session_id)["status"] == "succeeded"
    # The worker that ran it, as the session recorded it: worker1's (its container's host name).
    hostname = on("worker1", f"docker inspect -f '{{{{.Config.Hostname}}}}' {app('worker1', 'worker')}").stdout.strip()
    code = f"from imports.models import ImportSession; print(ImportSession.objects.get(pk={session_id}).worker)"
    recorded = on(
        "web", f"docker exec {app('web', 'web')} python -c {shlex.quote('import django; django.setup(); ' + code)}"
    )
    assert recorded.stdout.strip() == f"worker@{hostname}"


def reaches(where, port):
    """Whether a TCP connection from ``where`` (a host's name, or the stranger) to the data host's port opens."""
    probe = f"timeout 5 bash -c '</dev/tcp/{HOSTS['data'][2]}/{port}' && echo open || echo closed"
    if where == "stranger":
        result = subprocess.run(
            ["docker", "run", "--rm", "--network", NETWORK, "--ip", STRANGER, "kit-local/vds:13", "sh", "-c", probe],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        return result.stdout.strip() == "open"
    return on(where, probe).stdout.strip() == "open"


@pytest.mark.parametrize("port", [5432, 6379])
def test_the_data_host_answers_only_the_app_hosts(stack, port):
    assert reaches("web", port) and reaches("worker1", port)
    assert not reaches("stranger", port)


def test_web_reaches_postgresql_over_tls_signed_in_with_scram(stack):
    # The server's own view of web's connection: TLS, and the password hashed for SCRAM.
    code = (
        "import django; django.setup(); from django.db import connection; cursor = connection.cursor(); "
        "cursor.execute('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()'); print(cursor.fetchone()[0]); "
        "cursor.execute('SHOW password_encryption'); print(cursor.fetchone()[0])"
    )
    answer = on("web", f"docker exec {app('web', 'web')} python -c {shlex.quote(code)}").stdout.split()
    assert answer == ["True", "scram-sha-256"], answer
    rules = psql("SELECT type, auth_method FROM pg_hba_file_rules ORDER BY rule_number").split()
    assert rules == ["local|trust", "hostssl|scram-sha-256"], rules
    # And the server's own rule, whatever a client asks: web's credentials without TLS are refused.
    plain = (
        "import django, psycopg\ndjango.setup()\nfrom django.db import connection\n"
        "params = {**connection.get_connection_params(), 'sslmode': 'disable', 'channel_binding': 'disable'}\n"
        "try:\n    psycopg.connect(**params)\nexcept psycopg.OperationalError as error:\n    print(error)\n"
        "else:\n    print('let in')\n"
    )
    said = on("web", f"docker exec {app('web', 'web')} python -c {shlex.quote(plain)}").stdout
    assert "no pg_hba.conf entry" in said and "no encryption" in said, said


def release_source(tmp_path):
    """A copy of the app with an empty migration of imports, 0003_rolled, added after 0002."""
    source = tmp_path / "app"
    subprocess.run(["cp", "-a", str(ROOT / "app"), str(source)], check=True)
    (source / "imports" / "migrations" / "0003_rolled.py").write_text(
        "from django.db import migrations\n\n\nclass Migration(migrations.Migration):\n"
        "    dependencies = [('imports', '0002_importsession_worker')]\n    operations = []\n"
    )
    return source


def applied():
    """The migrations of imports that the database records."""
    return set(psql("SELECT name FROM django_migrations WHERE app = 'imports'").split())


def test_a_release_rolls_across_the_three_hosts_with_no_failed_request(stack, tmp_path):
    # A release with a migration to apply: web migrates, after a backup that kit-backup takes on the data host.
    source = release_source(tmp_path)
    with Probe(f"{WEB_URL}/readyz") as probe:
        _, output, recap = playbook(
            "deploy.yml", *INVENTORY, "-e", f"django_stack_app_src={source}", "-e", f"django_stack_release={ROLLED}"
        )
    assert recap["failed"] == 0, output[-3000:]
    assert probe.sent > 100 and probe.failures == [], probe.failures[:10]
    assert re.search(r"(?s)Back up before the migrations[^\n]*\n\w+: \[web -> data\b", output), output[-6000:]
    [taken] = snapshots("pre-deploy", f"release={ROLLED}", port=HOSTS["data"][0])
    assert f"backup before the migrations: {taken['short_id']}" in output, output[-3000:]
    # One host at a time, in the inventory's order.
    started = re.findall(
        r"TASK \[django_stack : Start the stack and wait until it is healthy\][^\n]*\n\w+: \[(\w+)\]", output
    )
    assert started == ["data", "web", "worker1"], started
    for name in HOSTS:
        assert f"APP_TAG={ROLLED}" in on(name, "sudo grep ^APP_TAG= /srv/shop/.env").stdout
    assert services("web") == {"web": True, "proxy": True, "flower": True}
    assert services("worker1") == {"worker": True, "beat": True}


def test_a_host_that_fails_stops_the_rollout_and_rollback_brings_the_hosts_before_it_back(stack):
    """A release whose web never starts (gunicorn refuses its arguments): web's own rollout puts its release back,
    and the rollout stops there, before worker1, which goes on as it was. The data host before web runs the new
    release; rollback.yml brings it back to the rolled release, which web and worker1 run still (for them, a
    start that changes nothing)."""
    broken = '{"django_stack_env": {"GUNICORN_CMD_ARGS": "--workers=many"}}'
    envs = "sudo sha256sum /srv/shop/.env"
    worker1_env = on("worker1", envs).stdout
    with Probe(f"{WEB_URL}/readyz") as probe:
        returncode, output, _ = playbook(
            "deploy.yml", *INVENTORY, "-e", broken, "-e", f"django_stack_release={BROKEN}", check=False
        )
    said = " ".join(output.split())
    assert returncode != 0
    assert "did not become healthy: web." in said, output[-3000:]
    assert probe.sent >= 100 and probe.failures == [], probe.failures[:10]
    deploy_play = output.split("PLAY [Deploy the stack]", 1)[1]
    assert not re.search(r"^(ok|changed|failed|fatal): \[worker1\]", deploy_play, re.M), "the rollout reached worker1"
    assert on("worker1", envs).stdout == worker1_env
    assert services("web") == {"web": True, "proxy": True, "flower": True}
    assert f"APP_TAG={BROKEN}" in on("data", "sudo cat /srv/shop/.env").stdout

    web_env = on("web", envs).stdout
    with Probe(f"{WEB_URL}/readyz") as probe:
        _, output, recap = playbook("rollback.yml", *INVENTORY)
    assert recap["failed"] == 0, output[-3000:]
    assert probe.failures == [], probe.failures[:10]
    for name in HOSTS:
        env = on(name, "sudo cat /srv/shop/.env").stdout
        assert f"APP_TAG={ROLLED}" in env and "GUNICORN_CMD_ARGS" not in env, (name, env)
    assert (on("web", envs).stdout, on("worker1", envs).stdout) == (web_env, worker1_env)
    assert "0003_rolled" in applied()


def test_a_rollback_goes_back_across_the_three_hosts_schema_included(stack):
    """rollback.yml again, on the rolled release: every host back to the first release, one host at a time, the
    rolled release's migration undone once, the data kept, and no failed request. manage.yml then runs its
    command once, on web."""
    assert "0003_rolled" in applied()
    first = re.search(r"release (\S+) is up", stack)[1]  # site.yml's, in the fixture
    products = psql("SELECT count(*) FROM catalog_product")
    with Probe(f"{WEB_URL}/readyz") as probe:
        _, output, recap = playbook("rollback.yml", *INVENTORY)
    assert recap["failed"] == 0, output[-3000:]
    assert int(products) > 0 and psql("SELECT count(*) FROM catalog_product") == products, "the data did not survive"
    assert probe.sent > 50 and probe.failures == [], probe.failures[:10]
    tags = {name: on(name, "sudo grep ^APP_TAG= /srv/shop/.env").stdout.strip() for name in HOSTS}
    assert set(tags.values()) == {f"APP_TAG={first}"}, tags
    assert "0003_rolled" not in applied(), applied()
    undone = re.findall(r"TASK \[django_stack : Undo the migrations the release did not have\][^\n]*\n(\w+): ", output)
    assert undone.count("changed") == 1, undone
    assert services("web") == {"web": True, "proxy": True, "flower": True}

    _, output, _ = playbook("manage.yml", *INVENTORY, "-e", "manage_command=check")
    assert re.findall(r"TASK \[Run manage.py check\][^\n]*\n\w+: \[(\w+)\]", output) == ["web"], output[-3000:]


def test_worker1_killed_mid_import_frees_the_session_and_the_next_import_runs(admin):
    """As on one host (tests/stack/test_stack_faults.py): the session fails naming the worker, the import lock
    is free, and the next import runs once Docker has restarted the worker."""
    session_id = launch(admin)
    wait_until(lambda: (s := session(admin, session_id))["task_state"] == "progress" and s["progress"]["current"] > 0,
               60, "the import to run", interval=0.2)  # fmt: skip
    pid = on("worker1", f"docker inspect -f '{{{{.State.Pid}}}}' {app('worker1', 'worker')}").stdout.strip()
    on("worker1", f"sudo kill -9 {pid}")  # as a crash would; Docker's restart policy brings it back
    failed = closed(admin, session_id)
    assert failed["status"] == "failed" and "the worker running it" in failed["error"], failed
    wait_until(lambda: services("worker1").get("worker"), 120, "worker1's worker healthy again")
    assert closed(admin, launch(admin))["status"] == "succeeded"


def test_status_reads_each_host_for_its_part(stack):
    """status.yml passes on all three: each host is judged on its own services, Celery asked where the app runs,
    the backups where the database is."""
    returncode, output, _ = playbook("status.yml", *INVENTORY, check=False)
    assert returncode == 0, output[-4000:]
    assert output.count("problems: none") == 3, output[-4000:]
    assert re.search(r"workers: worker@\S+ \(\d+ active", output), output[-4000:]
