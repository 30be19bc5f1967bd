"""A missing or wrong value in the env file or the secret files: compose refuses it, or the checker
(the config service) does."""

import pytest
from stackkit import Compose, stack_env, write_env

PROJECT = "kit-badenv-test"


@pytest.fixture
def compose_with(tmp_path, app_image):
    created = []

    def make(**overrides):
        env_file = tmp_path / "bad.env"
        values = stack_env(**overrides)
        for name, value in overrides.items():
            if value is None:
                values.pop(name)
        write_env(env_file, values)
        compose = Compose(PROJECT, env_file)
        created.append(compose)
        return compose

    yield make
    for compose in created:
        compose.purge()


@pytest.mark.parametrize("name", ["POSTGRES_PASSWORD", "REDIS_PASSWORD"])
def test_missing_secret_file_is_refused_before_anything_is_created(compose_with, name):
    """The checker runs first (make dev, a deploy): Docker refuses its container, naming the missing file."""
    compose = compose_with(**{name: None})
    result = compose.run("run", "--rm", "--no-deps", "config", check=False, timeout=300)
    assert result.returncode != 0
    missing = f"{compose.env_file}-secrets/app/{name.lower()}"
    assert f"bind source path does not exist: {missing}" in result.stderr, result.stderr
    assert compose.containers() == {}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"SECRET_KEY": ""}, "configuration error: SECRET_KEY is not set"),
        ({"SECRET_KEY": "change-me"}, "configuration error: SECRET_KEY is a placeholder"),
        ({"DEBUG": "maybe"}, "configuration error: DEBUG must be true or false"),
        ({"POSTGRES_PASSWORD": "change-me"}, "configuration error: POSTGRES_PASSWORD is a placeholder"),
        (
            {"REDIS_PASSWORD": "replace-with-openssl-rand-hex-24"},  # the vault example's
            "configuration error: REDIS_PASSWORD is a placeholder",
        ),
        ({"REDIS_PASSWORD": "p@ss/word:1234"}, "configuration error: REDIS_PASSWORD may hold only letters"),
        ({"GUNICORN_WORKERS": "many"}, "configuration error: GUNICORN_WORKERS must be a whole number"),
        ({"POSTGRES_USER": "shop@prod"}, "configuration error: POSTGRES_USER must be a PostgreSQL name"),
        ({"REDIS_MAXMEMORY": "lots"}, "configuration error: REDIS_MAXMEMORY must be a size such as 128mb"),
    ],
)
def test_wrong_value_is_refused_by_the_checker_with_the_variable_named(compose_with, overrides, message):
    """`docker compose run --rm config` (python -m deploykit.checkenv), as make dev and a deploy run it first."""
    compose = compose_with(**overrides)
    result = compose.run("run", "--rm", "--no-deps", "config", check=False, timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(message), result.stderr
    assert compose.containers() == {}


def test_good_env_file_passes_the_checker(compose_with):
    result = compose_with().run("run", "--rm", "--no-deps", "config", timeout=300)
    assert result.stdout.strip().splitlines()[-1] == "configuration ok"
