"""deploykit.schema: the migrations a rollback undoes, and undoing them."""

import json

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder

from deploykit import release as kit_release
from deploykit import schema as kit_schema

pytestmark = pytest.mark.django_db(transaction=True)


def run(capsys, *argv):
    code = kit_schema.main(list(argv))
    captured = capsys.readouterr()
    return code, json.loads(captured.out.removeprefix("schema: ")) if code == 0 else captured.err


def applied(app):
    return sorted(name for label, name in MigrationRecorder(connection).applied_migrations() if label == app)


def test_a_recorded_schema_one_migration_back_undoes_that_one(capsys):
    recorded = {**kit_release.schema(), "imports": "0001_initial"}
    code, result = run(capsys, json.dumps(recorded))
    assert code == 0 and result == {"undo": ["imports.0002_importsession_worker"], "irreversible": []}
    assert applied("imports") == ["0001_initial", "0002_importsession_worker"]  # a plan alone changes nothing

    try:
        code, result = run(capsys, "--apply", json.dumps(recorded))
        assert code == 0 and result["undo"] == ["imports.0002_importsession_worker"]
        assert applied("imports") == ["0001_initial"]
        assert run(capsys, json.dumps(recorded)) == (0, {"undo": [], "irreversible": []})
    finally:
        call_command("migrate", verbosity=0)


def test_an_app_the_release_did_not_have_is_undone_to_zero(capsys):
    recorded = kit_release.schema()
    del recorded["imports"]
    code, result = run(capsys, json.dumps(recorded))
    assert code == 0 and result["undo"] == ["imports.0002_importsession_worker", "imports.0001_initial"], result


def test_a_recorded_migration_this_code_does_not_know_is_refused(capsys):
    code, error = run(capsys, json.dumps({**kit_release.schema(), "catalog": "0009_gone"}))
    assert code == 1 and "does not know the recorded migrations catalog.0009_gone" in error


def test_a_migration_with_an_operation_django_cannot_reverse_is_named_and_not_undone(capsys, monkeypatch):
    from django.db.migrations.operations import AddField

    monkeypatch.setattr(AddField, "reversible", False)  # imports.0002 adds a field: as if it had no reverse
    recorded = {**kit_release.schema(), "imports": "0001_initial"}
    code, result = run(capsys, "--apply", json.dumps(recorded))
    assert code == 0 and result["irreversible"] == ["imports.0002_importsession_worker"], result
    assert applied("imports") == ["0001_initial", "0002_importsession_worker"]  # refused: nothing undone


def test_an_empty_record_is_refused_and_undoes_nothing(capsys):
    """A record with no migration is a release step that did not run (a host that only serves data): read as
    it stands, it would undo every app to zero."""
    code, error = run(capsys, "--apply", "{}")
    assert code == 1 and "names no migration" in error
    assert applied("imports") == ["0001_initial", "0002_importsession_worker"]
