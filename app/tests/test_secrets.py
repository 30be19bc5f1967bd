"""deploykit.secrets: the secret files Compose mounts become variables of the process, never of the container.

In the image, the kit's sitecustomize loads them at every Python start; here KIT_SECRETS_DIR points a
real interpreter (with the kit's directory on PYTHONPATH, as in the image) at a directory of files."""

import os
import secrets as random
import subprocess
import sys

import pytest

from deploykit import secrets
from tests.conftest import APP_DIR, KIT_DIR
from tests.test_checkenv import good_env


@pytest.fixture(autouse=True)
def no_problems_carried_over():
    secrets.PROBLEMS.clear()
    yield
    secrets.PROBLEMS.clear()


def write(directory, **values):
    directory.mkdir(exist_ok=True)
    for name, value in values.items():
        (directory / name).write_text(value)
    return directory


def test_each_file_becomes_its_variable_and_the_passwords_go_into_the_urls(tmp_path):
    folder = write(tmp_path / "run", secret_key="k" * 40 + "\n", postgres_password="p/ss:w@rd",
                   redis_password="r3dis", flower_password="fl0wer")  # fmt: skip
    environ = {
        "DATABASE_URL": "postgres://shop@db:5432/shop",
        "CELERY_BROKER_URL": "redis://redis:6379/0",
        "REDIS_URL": "redis://redis:6379/2",
        "CELERY_RESULT_BACKEND": "redis://:given@elsewhere:6379/1",  # a URL with its own password stays
    }
    assert secrets.load(environ, folder) == []
    assert environ["SECRET_KEY"] == "k" * 40  # the file's final newline is not part of the secret
    assert environ["DATABASE_URL"] == "postgres://shop:p%2Fss%3Aw%40rd@db:5432/shop"
    assert environ["CELERY_BROKER_URL"] == "redis://:r3dis@redis:6379/0"
    assert environ["REDIS_URL"] == "redis://:r3dis@redis:6379/2"
    assert environ["CELERY_RESULT_BACKEND"] == "redis://:given@elsewhere:6379/1"
    assert environ["FLOWER_BASIC_AUTH"] == "admin:fl0wer"


def test_a_process_started_by_a_loaded_one_loads_again_without_complaint(tmp_path):
    """A child Python (the dev worker's, a subprocess) inherits the variables; they are not the env file's."""
    folder = write(tmp_path / "run", secret_key="k" * 40)
    parent = {}
    assert secrets.load(parent, folder) == []
    assert parent["KIT_SECRETS_LOADED"] == "SECRET_KEY"
    child = dict(parent)
    assert secrets.load(child, folder) == []
    # A value the container's environment holds as well is a problem, named (never shown).
    assert [name for name, _ in secrets.load({"SECRET_KEY": "from-the-env-file"}, folder)] == ["SECRET_KEY"]


def test_no_directory_changes_nothing(tmp_path):
    environ = {"DATABASE_URL": "postgres://shop@db:5432/shop"}
    assert secrets.load(environ, tmp_path / "missing") == []
    assert environ == {"DATABASE_URL": "postgres://shop@db:5432/shop"}


def checkenv_with_files(tmp_path, environ, **files):
    """python -m deploykit.checkenv as the config service runs it: the secrets only as files."""
    folder = write(tmp_path / "run", **files)
    return subprocess.run(
        [sys.executable, "-m", "deploykit.checkenv"],
        cwd=APP_DIR,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(KIT_DIR), "KIT_SECRETS_DIR": str(folder), **environ},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def file_secrets():
    return {"secret_key": random.token_urlsafe(50), "postgres_password": random.token_hex(24),
            "redis_password": random.token_hex(24)}  # fmt: skip


def env_without_secrets():
    return {name: value for name, value in good_env().items() if name not in ("SECRET_KEY", "POSTGRES_PASSWORD",
                                                                               "REDIS_PASSWORD")}  # fmt: skip


def test_the_checker_passes_secrets_given_only_as_files(tmp_path):
    result = checkenv_with_files(tmp_path, env_without_secrets(), **file_secrets())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "configuration ok"


def test_a_secret_left_in_the_env_file_is_refused(tmp_path):
    environ = {**env_without_secrets(), "SECRET_KEY": random.token_urlsafe(50)}
    result = checkenv_with_files(tmp_path, environ, **file_secrets())
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(
            "configuration error: SECRET_KEY is set in the container's environment (the env file?) as well as in "
        )
    ), result.stderr
    assert environ["SECRET_KEY"] not in result.stderr


def test_a_secret_file_that_cannot_be_read_is_refused(tmp_path):
    folder = write(tmp_path / "run", **file_secrets())
    (folder / "redis_password").unlink()
    (folder / "redis_password").mkdir()  # unreadable as a file, even for root
    result = checkenv_with_files(tmp_path, env_without_secrets())
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(f"configuration error: REDIS_PASSWORD cannot be read from {folder}/redis_password")
    ), result.stderr
