"""deploykit.release: what a deploy runs before the stack starts on new code."""

import json

import pytest
from django.contrib.auth import get_user_model

from deploykit import release as kit_release

pytestmark = pytest.mark.django_db(transaction=True)


def release(capsys):
    assert kit_release.main() == 0
    output = capsys.readouterr().out
    last = output.splitlines()[-1]
    assert last.startswith("release: "), output
    return json.loads(last.removeprefix("release: ")), output


@pytest.fixture
def static_root(tmp_path, settings):
    settings.STATIC_ROOT = tmp_path / "static"
    return settings.STATIC_ROOT


def test_release_collects_static_creates_the_superuser_then_changes_nothing(static_root, monkeypatch, capsys):
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "boss")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-password-1")
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "boss@example.com")

    first, output = release(capsys)
    assert first["migrations"] == 0  # the test database is migrated already
    assert first["static_files"] > 0
    assert (static_root / "admin" / "css" / "base.css").exists()
    assert first["superuser"] == "created"
    assert "No migrations to apply." in output
    boss = get_user_model().objects.get(username="boss")
    assert boss.is_superuser and boss.check_password("a-long-password-1")

    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "another-password-2")
    second, _ = release(capsys)
    schema = second.pop("schema")
    assert second == {"migrations": 0, "static_files": 0, "superuser": "exists", "applied": []}
    assert schema["imports"] == "0002_importsession_worker" and schema["catalog"] == "0001_initial", schema
    boss.refresh_from_db()
    assert boss.check_password("a-long-password-1")  # an existing user is left as it is


def test_release_without_a_username_creates_no_user(static_root, monkeypatch, capsys):
    monkeypatch.delenv("DJANGO_SUPERUSER_USERNAME", raising=False)
    summary, _ = release(capsys)
    assert summary["superuser"] == "skipped"
    assert not get_user_model().objects.exists()


def test_release_refuses_a_username_without_a_password(static_root, monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "boss")
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    with pytest.raises(SystemExit, match="DJANGO_SUPERUSER_PASSWORD is empty"):
        kit_release.main()
    assert not get_user_model().objects.filter(username="boss").exists()


def test_release_names_the_migrations_it_applies_and_the_schema_after(static_root, monkeypatch, capsys):
    from django.core.management import call_command

    monkeypatch.delenv("DJANGO_SUPERUSER_USERNAME", raising=False)
    call_command("migrate", "imports", "0001", verbosity=0)
    summary, output = release(capsys)
    assert summary["migrations"] == 1
    assert summary["applied"] == ["imports.0002_importsession_worker"], output
    assert summary["schema"]["imports"] == "0002_importsession_worker"
