"""Backups on the sandbox over SSH: the timer, a round trip through a destroyed database,
the restore drill catching a damaged repository, a backup before migrations, a restore's
refusals, and a restore into a second, fresh sandbox."""

import json
import shlex
import subprocess
import time

import pytest
from e2ekit import (
    admin_session,
    container,
    import_ids,
    launch_import,
    playbook,
    snapshots,
    ssh,
    unfolded,
    wait_for_import,
    wait_until,
)

SECOND = ["-e", "ansible_port=2223"]
SECOND_SANDBOX = [
    "-e", "sandbox_name=kit-vds2", "-e", "sandbox_ssh_port=2223", "-e", "sandbox_http_port=8081",
    "-e", "sandbox_network=kit-sandbox2", "-e", "sandbox_docker_volume=kit-vds2-docker",
]  # fmt: skip
KIT_BACKUP = "sudo kit-backup --config /etc/kit-backup/shop.env"
# Each user table's row count and a digest of its rows, in one query.
FINGERPRINT_SQL = (
    "SELECT relname, (xpath('/row/f/text()', query_to_xml(format("
    "'SELECT count(*) || '':'' || coalesce(md5(string_agg(t::text, ''|'' ORDER BY t::text)), '''') AS f FROM %I t',"
    " relname), false, true, '')))[1]::text FROM pg_stat_user_tables ORDER BY 1"
)
# What the round trip backed up: restored again into the second sandbox.
ROUND_TRIP = {}


def psql(sql, port=2222):
    return ssh(f"docker exec shop-db-1 psql -U shop -At -F ' ' -c {shlex.quote(sql)}", port=port).stdout


def fingerprint(port=2222):
    # Logins write django_session; the admin's status polls write nothing.
    rows = dict(line.split(" ", 1) for line in psql(FINGERPRINT_SQL, port).splitlines())
    rows.pop("django_session", None)
    return rows


def media_digest(port=2222):
    listing = "cd /srv/media && find . -type f | sort | xargs sha256sum && ls -lnR"
    return ssh(f"docker exec {container('web', port=port)} sh -c {shlex.quote(listing)}", port=port).stdout


def status(port=2222):
    return json.loads(ssh(f"{KIT_BACKUP} status", port=port).stdout)


def started_at(service="web", port=2222):
    name = container(service, port=port)
    return ssh(f"docker inspect -f '{{{{.State.Running}}}} {{{{.State.StartedAt}}}}' {name}", port=port).stdout


def test_the_timer_is_due_and_a_scheduled_run_succeeds(deployed):
    # Installed and enabled: molecule's default scenario checks it; here, that it is due and that its run works.
    assert "shop-backup.service" in ssh("systemctl list-timers --no-pager shop-backup.timer").stdout
    before = len(snapshots())
    ssh("sudo systemctl start shop-backup.service", timeout=600)  # what the timer starts
    assert ssh("systemctl show -p Result --value shop-backup.service").stdout.strip() == "success"
    assert status()["last_backup"]["ok"] is True
    assert len(snapshots()) == before + 1

    # A failed run is loud: the unit fails, and the status says why.
    ssh("docker stop shop-db-1")
    try:
        assert ssh("sudo systemctl start shop-backup.service", check=False).returncode != 0
        assert ssh("systemctl is-failed shop-backup.service", check=False).stdout.strip() == "failed"
        last = status()["last_backup"]
        assert last["ok"] is False and "db container is not running" in last["error"], last
    finally:
        ssh("docker start shop-db-1 && sudo systemctl reset-failed shop-backup.service")
    healthy = f"docker inspect -f '{{{{.State.Health.Status}}}}' shop-db-1 {container('web')}"
    wait_until(lambda: ssh(healthy).stdout.split() == ["healthy", "healthy"], 120, "db and web healthy again")


def test_a_round_trip_through_a_destroyed_database_gives_back_equal_data(deployed, figure):
    # Data made through the app: an import launched from the admin, a user, a media file.
    http = admin_session()
    launch_import(http, "full")
    session = wait_for_import(http, import_ids(http)[-1])
    assert session["status"] == "succeeded", session
    # And the 20,000-product sample, imported in a one-off container, for the figures.
    load = (
        "python manage.py generate_exchange /tmp/x --products 20000 --seed 7 >/dev/null && python manage.py shell -c "
        "\"from pathlib import Path; from imports.importer import Importer; Importer(Path('/tmp/x'), 'full').run()\""
    )
    compose = "sudo docker compose --project-directory /srv/shop -p shop"
    ssh(f"{compose} run --rm --no-deps web sh -c {shlex.quote(load)}", timeout=600)
    user = "from django.contrib.auth.models import User; User.objects.create_user('restored', password='x-12345678')"
    ssh(f"docker exec {container('web')} python manage.py shell -c {shlex.quote(user)}")
    probe = "mkdir -p /srv/media/uploads && head -c 300000 /dev/urandom > /srv/media/uploads/probe.bin"
    ssh(f"docker exec {container('web')} sh -c {shlex.quote(probe)}")
    assert int(psql("SELECT count(*) FROM catalog_product")) >= 20000
    before, media = fingerprint(), media_digest()

    playbook("backup.yml")
    first = status()["last_backup"]
    playbook("backup.yml")  # nothing changed: restic deduplicates
    second = status()["last_backup"]
    ROUND_TRIP.update(snapshot=first["short_id"], fingerprint=before, media=media)
    figure("backup of the 20,000-product sample", f"{first['seconds']} s, dump {first['dump_bytes'] / 2**20:.1f} MiB, "
           f"{first['bytes_added'] / 2**20:.2f} MiB added to the repository")  # fmt: skip
    figure("a second backup, nothing changed", f"{second['seconds']} s, {second['bytes_added'] / 2**10:.1f} KiB added")

    ssh("sudo sh -c 'cd /srv/shop && docker compose down && docker volume rm shop_db-data shop_media'")
    assert "shop_db-data" not in ssh("docker volume ls -q").stdout
    started = time.monotonic()
    confirm = ["-e", "backup_restore_confirm=yes", "-e", f"backup_restore_snapshot={first['short_id']}"]
    playbook("restore.yml", *confirm)
    took = time.monotonic() - started
    restore = json.loads(ssh("sudo cat /var/lib/kit-backup/shop/last-restore.json").stdout)
    figure("restore of it into a destroyed database", f"{restore['seconds']} s (restore.yml in all: {took:.0f} s)")

    assert fingerprint() == before
    assert media_digest() == media
    admin_session()  # the stack serves again, with the restored users


def test_the_drill_passes_then_catches_a_damaged_pack(deployed):
    # A write after the snapshot: the drill tells it from a wrong restore.
    ssh(f"docker exec {container('web')} python manage.py shell -c "
        "\"from django.contrib.auth.models import User; User.objects.create_user('after-the-snapshot')\"")  # fmt: skip
    _, output, _ = playbook("backup-verify.yml")
    assert "last drill: passed" in output
    tables = json.loads(ssh("sudo cat /var/lib/kit-backup/shop/last-verify.json").stdout)["tables"]
    assert tables["public.auth_user"]["verdict"] == "changed since", tables["public.auth_user"]
    assert tables["public.catalog_product"]["verdict"] == "equal"

    # The largest pack holds the bulk of the dump; 16 bytes every 32 KiB reach each of its blobs.
    pack = ssh("sudo sh -c 'ls -S /srv/shop/backups/data/*/* | head -1'").stdout.strip()
    damage = (
        f"cp -p {pack} /root/pack.orig && size=$(stat -c %s {pack}) && offset=0"
        f" && while [ $offset -lt $size ]; do dd if=/dev/urandom of={pack} bs=1 count=16 seek=$offset conv=notrunc"
        " status=none; offset=$((offset + 32768)); done"
    )
    ssh(f"sudo sh -c {shlex.quote(damage)}", timeout=300)
    try:
        code, output, _ = playbook("backup-verify.yml", check=False)
        assert code != 0
        assert "shop-backup-verify.service failed" in output
        last = status()["last_verify"]
        assert last["ok"] is False and last["error"], last
        assert ssh("systemctl is-failed shop-backup-verify.service", check=False).stdout.strip() == "failed"
    finally:
        ssh(f"sudo cp -p /root/pack.orig {pack} && sudo systemctl reset-failed shop-backup-verify.service")


def test_the_drill_of_a_dump_file_passes_then_names_pg_restore_on_a_cut_one(deployed):
    """backup_drill_dump: a pg_dump -Fc file on the server (a managed database's export) drilled instead of a
    snapshot; here one of the stack's own database, whose every table it must hold."""
    dump = "sudo sh -c 'docker exec shop-db-1 pg_dump -U shop -d shop -Fc > /root/drill.dump'"
    ssh(f"{dump} && sudo sh -c 'head -c 40000 /root/drill.dump > /root/cut.dump'")
    try:
        _, output, _ = playbook("backup-verify.yml", "-e", "backup_drill_dump=/root/drill.dump")
        assert "last drill: passed" in output and "dump /root/drill.dump" in output, output[-3000:]
        tables = json.loads(ssh("sudo cat /var/lib/kit-backup/shop/last-verify.json").stdout)["tables"]
        assert tables["public.catalog_product"]["restored"] == int(psql("SELECT count(*) FROM catalog_product"))

        code, output, _ = playbook("backup-verify.yml", "-e", "backup_drill_dump=/root/cut.dump", check=False)
        said = unfolded(output)
        assert code != 0 and "kit-backup verify: pg_restore failed" in said, said[-3000:]
        assert status()["last_verify"]["ok"] is False
    finally:
        ssh("sudo rm -f /root/drill.dump /root/cut.dump")


def test_a_deploy_with_migrations_to_apply_backs_up_first(deployed):
    # The database one migration behind the release, and a stopped container so that the deploy has work to do.
    playbook("manage.yml", "-e", "manage_command='migrate imports 0001'")
    ssh("docker stop shop-beat-1")
    pre_deploy = len(snapshots("kit", "pre-deploy"))
    _, output, _ = playbook("deploy.yml")
    [taken] = snapshots("kit", "pre-deploy")[pre_deploy:]
    assert f"backup before the migrations: {taken['short_id']}" in output
    assert any(tag.startswith("release=") for tag in taken["tags"]), taken
    record = json.loads(ssh("sudo tail -n 1 /var/log/kit/shop-deploys.log").stdout)
    assert record["backup"] == taken["short_id"] and record["steps"]["migrations"] >= 1, record
    assert record["migrations"] == ["imports.0002_importsession_worker"], record
    ssh(f"docker exec {container('web')} python manage.py migrate --check")

    # Nothing to migrate: no backup.
    ssh("docker stop shop-beat-1")
    _, output, _ = playbook("deploy.yml")
    assert "backup before the migrations: none" in output
    assert len(snapshots("kit", "pre-deploy")) == pre_deploy + 1


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ([], "Run it again with -e backup_restore_confirm=yes"),
        (["-e", "backup_restore_snapshot=deadbeef"], "no snapshot 'deadbeef' in the repository"),
        (["-e", "backup_password=not-the-password-1"], "the restic password does not open the repository"),
        (["-e", "backup_repository=/srv/no-such-repository"], "no restic repository at /srv/no-such-repository"),
    ],
    ids=["no-confirmation", "unknown-snapshot", "wrong-password", "missing-repository"],
)
def test_a_restore_refuses_bad_input_before_stopping_anything(deployed, override, message):
    confirm = [] if not override else ["-e", "backup_restore_confirm=yes"]
    running = started_at()
    code, output, _ = playbook("restore.yml", *confirm, *override, check=False)
    assert code != 0
    assert message in unfolded(output).replace("'' ", "' ").replace("''", "'"), output[-3000:]
    assert started_at() == running and running.startswith("true")


def test_a_restore_into_a_second_fresh_sandbox(deployed, tmp_path):
    assert ROUND_TRIP, "the round-trip test makes the snapshot this one restores"
    playbook("sandbox/sandbox.yml", *SECOND_SANDBOX, "-e", "sandbox_state=absent")
    try:
        playbook("sandbox/sandbox.yml", *SECOND_SANDBOX)
        playbook("site.yml", *SECOND)
        # The first server's repository, as an off-site copy would hold it.
        copy = tmp_path / "backups.tar"
        with copy.open("wb") as out:
            subprocess.run(
                ["docker", "exec", "kit-vds", "tar", "-C", "/srv/shop", "-cf", "-", "backups"], stdout=out, check=True
            )
        with copy.open("rb") as source:
            subprocess.run(
                ["docker", "exec", "-i", "kit-vds2", "tar", "-C", "/srv", "-xf", "-"], stdin=source, check=True
            )
        playbook("restore.yml", *SECOND, "-e", "backup_repository=/srv/backups", "-e", "backup_restore_confirm=yes",
                 "-e", f"backup_restore_snapshot={ROUND_TRIP['snapshot']}")  # fmt: skip
        assert fingerprint(port=2223) == ROUND_TRIP["fingerprint"]
        assert media_digest(port=2223) == ROUND_TRIP["media"]
    finally:
        playbook("sandbox/sandbox.yml", *SECOND_SANDBOX, "-e", "sandbox_state=absent", check=False)


def test_with_a_managed_database_the_backups_leave_it_to_the_provider_and_say_so(deployed):
    """The backup role with django_stack_database_url: the snapshot holds the media, the status says whose
    backups apply, and the drill asks for a dump. The stack's own database serves on; the role then goes back."""
    managed = ["-e", "django_stack_database_url=postgres://shop@db.example.net:5432/shop"]
    try:
        playbook("site.yml", "--tags", "backup", *managed)
        assert "MANAGED_DATABASE=db.example.net" in ssh("sudo cat /etc/kit-backup/shop.env").stdout
        assert ssh("systemctl is-enabled shop-backup-verify.timer", check=False).stdout.strip() == "disabled"
        _, output, _ = playbook("backup.yml", *managed)
        said = unfolded(output)
        # (Not the apostrophes: the yaml callback may double them.)
        assert "database: managed (db.example.net), the provider" in said, said[-3000:]
        assert "backups apply to it; the backups here hold the media" in said, said[-3000:]
        newest = max(snapshots("kit"), key=lambda snapshot: snapshot["time"])
        listing = ssh(f"sudo sh -c 'set -a; . /etc/kit-backup/shop.env; restic ls {newest['id']}'").stdout
        assert "/manifest.json" in listing and "/db.dump" not in listing, listing[-2000:]

        code, output, _ = playbook("backup-verify.yml", *managed, check=False)
        said = unfolded(output)
        assert code != 0 and "the database is managed (db.example.net)" in said, said[-3000:]
        assert "the drill needs a dump of it: kit-backup verify --dump FILE" in said, said[-3000:]
    finally:
        playbook("site.yml", "--tags", "backup")
    assert "MANAGED_DATABASE=\n" in ssh("sudo cat /etc/kit-backup/shop.env").stdout
    assert ssh("systemctl is-enabled shop-backup-verify.timer").stdout.strip() == "enabled"
