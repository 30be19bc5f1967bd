"""rollback.yml on the sandbox over SSH: back to the previous release with its schema, under the probe; refusals
before any change (a release not kept, an image gone, a migration Django cannot undo); and the way past the last
one, keeping the schema.

After test_7_release.py: the stack runs its release, which these tests leave and come back to."""

import json
import re
import secrets
import shutil

import pytest
from e2ekit import BASE_URL, ROOT, Probe, playbook, ssh

TABLE_MIGRATION = """from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]
    operations = [migrations.RunSQL("CREATE TABLE e2e_marker (id integer)", "DROP TABLE e2e_marker")]
"""
# New tags each run (a tag once built is never rebuilt): no image of an earlier run is reused.
MIGRATION_TAG = f"e2e-migration-{secrets.token_hex(3)}"
IRREVERSIBLE_TAG = f"e2e-irreversible-{secrets.token_hex(3)}"
# RunPython without reverse_code: Django cannot undo it.
IRREVERSIBLE_MIGRATION = """from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]
    operations = [migrations.RunPython(migrations.RunPython.noop)]
"""


def release_from(tmp_path, name, migration, text):
    """The shop's code with one more migration, deployed as release ``name``: the deploy.yml arguments."""
    source = tmp_path / name
    shutil.copytree(ROOT / "app", source, ignore=shutil.ignore_patterns("__pycache__", "tests"))
    (source / "catalog" / "migrations" / f"{migration}.py").write_text(text)
    return ["-e", f"django_stack_app_src={source}", "-e", f"django_stack_release={name}"]


def psql(sql):
    return ssh(f'docker exec shop-db-1 psql -U shop -At -c "{sql}"').stdout.strip()


def catalog_migrations():
    return psql("SELECT name FROM django_migrations WHERE app = 'catalog' ORDER BY id").split()


def running_release():
    return ssh("sudo grep ^APP_TAG= /srv/shop/.env").stdout.strip().removeprefix("APP_TAG=")


def deploy_log():
    return [json.loads(line) for line in ssh("sudo cat /var/log/kit/shop-deploys.log").stdout.splitlines()]


def refused(*args):
    """rollback.yml with ``args``: its flattened output, after checking that it failed and changed nothing."""
    rc, output, recap = playbook("rollback.yml", *args, check=False)
    assert rc != 0 and recap["changed"] == 0, output[-3000:]
    return " ".join(output.split())


@pytest.fixture(scope="module")
def migrated(deployed, tmp_path_factory):
    """A release with one new migration (a table) deployed on top of the running one."""
    before = running_release()
    playbook("deploy.yml", *release_from(tmp_path_factory.mktemp("src"), MIGRATION_TAG, "0002_e2e_marker",
                                         TABLE_MIGRATION))  # fmt: skip
    assert psql("SELECT to_regclass('e2e_marker')") == "e2e_marker"
    assert "0002_e2e_marker" in catalog_migrations()
    return before


def test_rollback_goes_back_to_the_previous_release_schema_included(migrated, figure):
    with Probe(f"{BASE_URL}/admin/login/") as probe:
        _, output, _ = playbook("rollback.yml")
    figure("a rollback under the probe: failed requests", f"{len(probe.failures)} of {probe.sent}")
    assert probe.sent >= 100 and probe.failures == []
    assert running_release() == migrated
    assert f"release {migrated} is up" in output
    assert psql("SELECT to_regclass('e2e_marker')") == ""
    assert "0002_e2e_marker" not in catalog_migrations()
    record = deploy_log()[-1]
    assert (record["kind"], record["result"], record["release"], record["previous"]) == (
        "rollback", "ok", migrated, MIGRATION_TAG), record  # fmt: skip
    assert record["undone"] == ["catalog.0002_e2e_marker"], record
    _, output, _ = playbook("releases.yml")
    table = " ".join(output.split())  # the yaml callback folds the long rows
    assert re.search(rf"rollback ok {migrated} {MIGRATION_TAG} .*?\(catalog\.0002_e2e_marker\)", table), table[-3000:]


def test_a_rollback_whose_release_never_starts_puts_the_running_release_files_back(migrated):
    """The release rolled back to (site.yml's, whose image the next test removes) is broken on the server, in its
    kept env file: the rollout fails, and the running release's compose, env and nginx files are on disk again."""
    first = deploy_log()[0]["release"]
    files = "/srv/shop/.env /srv/shop/compose.yml /srv/shop/nginx/default.conf /srv/shop/nginx/app.locations"
    before = ssh(f"sudo sha256sum {files}").stdout
    ssh(f"echo GUNICORN_CMD_ARGS=--workers=many | sudo tee -a /srv/shop/releases/{first}/.env")
    rc, output, _ = playbook("rollback.yml", "-e", f"release={first}", check=False)
    assert rc != 0
    assert f"Release {first} did not become healthy: web." in " ".join(output.split()), output[-3000:]
    assert running_release() == migrated
    assert ssh(f"sudo sha256sum {files}").stdout == before


def test_rollback_refuses_a_release_that_is_not_kept_or_whose_image_is_gone(migrated):
    output = refused("-e", "release=no-such-release")
    assert "Release no-such-release cannot be rolled back to: it is not among the kept releases." in output
    assert f"Releases to roll back to (-e release=<tag>): {MIGRATION_TAG}, " in output, output[-2000:]

    first = deploy_log()[0]["release"]  # site.yml's, kept, no longer running
    assert first not in (migrated, MIGRATION_TAG)
    ssh(f"docker rmi shop-app:{first}")
    output = refused("-e", f"release={first}")
    assert f"Release {first} cannot be rolled back to: its image is not on the server" in output
    assert "never builds an old release from the current code" in output
    assert running_release() == migrated


def test_rollback_refuses_a_migration_django_cannot_undo_unless_told_to_keep_the_schema(migrated, tmp_path):
    playbook("deploy.yml", *release_from(tmp_path, IRREVERSIBLE_TAG, "0002_e2e_irreversible", IRREVERSIBLE_MIGRATION))
    output = refused()
    assert (
        "Django cannot undo catalog.0002_e2e_irreversible (an operation with no reverse). Nothing was changed."
        in output
    )
    assert "-e rollback_keep_schema=true" in output
    assert running_release() == IRREVERSIBLE_TAG

    playbook("rollback.yml", "-e", "rollback_keep_schema=true")
    assert running_release() == migrated
    assert "0002_e2e_irreversible" in catalog_migrations()  # the schema kept as it was
    assert deploy_log()[-1]["undone"] == []
