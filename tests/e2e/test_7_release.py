"""Releases on the sandbox over SSH, under a probe of 20 GETs a second: a new release rolls web and worker without a
failed request and leaves db, redis and nginx alone; a release whose web never starts is rolled back; one run at a
time (the deploy lock); and the deploy log, which records every run that changed the stack or failed.

Last in the suite: the stack runs the release made here afterwards."""

import json
import secrets
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from e2ekit import BASE_URL, SSH, Probe, playbook, ssh, wait_until

# A new release tag: a new app image, built from the same code (its RELEASE label and APP_RELEASE differ). A tag
# once built is never rebuilt: a new one each run, so that no image an earlier run built from older code is reused.
TAG = f"e2e-rollout-{secrets.token_hex(3)}"
RELEASE = ["-e", f"django_stack_release={TAG}"]
LOCK = "/run/lock/kit-shop-deploy"


def containers():
    """Each service's running container ids."""
    lines = ssh("docker ps --filter label=com.docker.compose.project=shop"
                " --format '{{.Label \"com.docker.compose.service\"}} {{.ID}}'").stdout.splitlines()  # fmt: skip
    found = {}
    for service, container_id in (line.split() for line in lines):
        found.setdefault(service, set()).add(container_id)
    return found


@contextmanager
def events():
    """Yields a list that gets (time, action, name, service) of the stack's containers' starts, kills and deaths
    while the block runs, in order. Streamed: a later `docker events --since` misses the first ones, since the daemon
    keeps only its last 256 events and each healthcheck's exec makes three."""
    command = (
        "docker events --since $(date +%s.%N) --filter label=com.docker.compose.project=shop"
        " --filter type=container --filter event=start --filter event=kill --filter event=die"
        " --format '{{.TimeNano}} {{.Action}} {{.Actor.Attributes.name}}"
        ' {{index .Actor.Attributes "com.docker.compose.service"}}\''
    )
    watcher = subprocess.Popen([*SSH, "deploy@127.0.0.1", command], stdout=subprocess.PIPE, text=True)
    timeline = []
    try:
        time.sleep(2)  # ssh logs in; --since covers what happens meanwhile
        yield timeline
        time.sleep(2)  # the last events reach the stream
    finally:
        watcher.terminate()
        lines = watcher.communicate(timeout=30)[0].splitlines()
    timeline.extend((int(t), action, name, service) for t, action, name, service in (line.split() for line in lines))


def most_running_at_once(timeline, service, running):
    """The most containers of ``service`` running at once, ``running`` at the timeline's start."""
    most = running
    for _, action, _, what in timeline:
        if what == service and action in ("start", "die"):
            running += 1 if action == "start" else -1
            most = max(most, running)
    return most


def last_deploy_record():
    return json.loads(ssh("sudo tail -n 1 /var/log/kit/shop-deploys.log").stdout)


def lock_exists():
    return ssh(f"sudo test -e {LOCK}", check=False).returncode == 0


@pytest.fixture(scope="module")
def released(deployed):
    """A new release deployed while the probe runs: (containers before, after, probe, events, output)."""
    before = containers()
    with events() as timeline, Probe(f"{BASE_URL}/admin/login/") as probe:
        _, output, _ = playbook("deploy.yml", *RELEASE)
    return before, containers(), probe, timeline, output


def test_a_release_fails_no_request(released, figure):
    _, _, probe, _, _ = released
    figure("a release under the probe: failed requests", f"{len(probe.failures)} of {probe.sent}")
    assert probe.sent >= 200, "the probe ran too briefly to prove anything"
    assert probe.failures == []


def test_a_release_replaces_web_worker_and_beat_and_leaves_db_redis_and_nginx_alone(released):
    before, after, _, _, output = released
    assert f"release {TAG} is up" in output
    assert not lock_exists()
    for service in ("db", "redis", "proxy"):
        assert after[service] == before[service], f"{service} was recreated"
    for service in ("web", "worker", "beat"):
        assert len(after[service]) == 1 and after[service].isdisjoint(before[service]), (service, before, after)
    assert last_deploy_record()["result"] == "ok"


def test_a_release_sends_the_server_only_the_layers_it_lacks(released):
    """The new image differs from the running one in its last layers only: the archive copied holds those."""
    size = int(ssh(f"sudo stat -c %s /srv/shop/images/shop-app-{TAG}.tar").stdout)
    assert size < 10e6, f"the release's archive is {size / 1e6:.1f} MB: the layers the server held were sent again"


def test_the_new_worker_starts_before_the_old_one_stops_and_beat_is_never_twice(released):
    before, after, _, timeline, _ = released
    assert most_running_at_once(timeline, "beat", len(before["beat"])) == 1, timeline
    [old_worker], [new_worker] = before["worker"], after["worker"]
    assert ssh(f"docker ps -aq --filter id={old_worker}").stdout == "", "the old worker is still there"
    new_name = ssh(f"docker inspect -f '{{{{.Name}}}}' {new_worker}").stdout.strip().lstrip("/")
    old_name = next(name for _, action, name, service in timeline if service == "worker" and action == "kill")
    started = next(t for t, action, name, _ in timeline if action == "start" and name == new_name)
    stopped = next(t for t, action, name, _ in timeline if action == "kill" and name == old_name)
    assert started < stopped, "the old worker was told to stop before the new one started"


def test_a_release_whose_web_never_starts_is_rolled_back_with_no_failed_request(released, figure):
    """The broken release: gunicorn refuses its arguments and exits at every start."""
    broken = '{"django_stack_env": {"GUNICORN_CMD_ARGS": "--workers=many"}}'
    before = containers()
    env_before = ssh("sudo sha256sum /srv/shop/.env").stdout
    with Probe(f"{BASE_URL}/admin/login/") as probe:
        rc, output, _ = playbook("deploy.yml", *RELEASE, "-e", broken, check=False)
    figure("a broken release rolled back under the probe: failed requests", f"{len(probe.failures)} of {probe.sent}")
    output = " ".join(output.split())
    assert rc != 0
    assert f"Release {TAG} did not become healthy: web." in output, output[-3000:]
    assert "invalid int value: 'many'" in output  # the failing container's own log lines
    assert probe.sent >= 100 and probe.failures == []
    assert containers() == before
    assert ssh("sudo sha256sum /srv/shop/.env").stdout == env_before  # the running release's env file, put back
    assert [name for name in ssh("sudo ls -a /srv/shop").stdout.split() if name.startswith(".env")] == [".env"]
    assert not lock_exists(), "a failed run kept the deploy lock"
    record = last_deploy_record()
    assert record["result"] == "failed" and record["failed_services"] == ["web"], record
    assert record["release"] == record["previous"] == TAG, record


def test_a_second_deploy_while_one_runs_is_refused_naming_the_first(released):
    change = ["-e", '{"django_stack_env": {"KIT_LOCK_TEST": "1"}}']  # a rollout: the first run lasts a while
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(playbook, "deploy.yml", *RELEASE, *change, check=False)
        held = f"sudo cat {LOCK}/holder.json"
        wait_until(lambda: ssh(held, check=False).returncode == 0 or first.done(), 300, "the first deploy's lock")
        assert not first.done(), first.result()[1][-3000:]
        holder = json.loads(ssh(held).stdout)
        rc, output, recap = playbook("deploy.yml", *RELEASE, check=False)
        first_rc, first_output, _ = first.result()
    output = " ".join(output.split())
    assert rc != 0 and recap["changed"] == 0, output[-3000:]
    assert f"Another deploy or rollback of shop runs on sandbox: {holder['by']['user']}@" in output, output[-3000:]
    assert f"since {holder['started']}, release {TAG}. Nothing was changed." in output
    assert "-e django_stack_deploy_lock_break=true" in output
    assert first_rc == 0, first_output[-3000:]
    assert not lock_exists()


def test_a_lock_left_by_a_killed_run_holds_until_broken_with_one_variable(released):
    killed = '{"started": "2026-01-01T00:00:00Z", "by": {"user": "gone", "host": "laptop"}, "release": "old"}'
    ssh(f"sudo mkdir -m 0700 {LOCK} && echo '{killed}' | sudo tee {LOCK}/holder.json >/dev/null")
    rc, output, _ = playbook("deploy.yml", *RELEASE, check=False)
    assert rc != 0 and "since 2026-01-01T00:00:00Z, release old" in " ".join(output.split())
    assert lock_exists()
    _, _, recap = playbook("deploy.yml", *RELEASE, "-e", "django_stack_deploy_lock_break=true")
    assert recap["failed"] == 0 and not lock_exists()


def test_the_deploy_log_records_each_run_and_releases_yml_shows_them(released):
    lines = [json.loads(line) for line in ssh("sudo cat /var/log/kit/shop-deploys.log").stdout.splitlines()]
    release = next(run for run in lines if run["release"] == TAG and run["result"] == "ok")
    assert release["previous"] not in (None, TAG), release
    assert release["by"]["user"] and release["by"]["host"] and "git" in release["by"], release
    assert release["started"] <= release["ended"] and 0 < int(release["seconds"]) < 900, release
    assert release["migrations"] == [] and release["schema"]["imports"] == "0002_importsession_worker", release
    assert [run["result"] for run in lines].count("failed") >= 1
    _, output, recap = playbook("releases.yml")
    assert recap["changed"] == 0
    table = " ".join(output.split())  # the yaml callback folds the long rows
    assert f"deploy ok {TAG} {release['previous']} " in table, table[-3000:]
    assert f"deploy failed {TAG} {TAG} " in table, table[-3000:]
