"""``python -m deploykit.checkenv``, run as the stack runs it: the env file is the whole environment.

The shop is the project under check; the contract's refusals use its modules."""

import os
import re
import secrets
import subprocess
import sys

import pytest

from tests.conftest import APP_DIR, KIT_DIR

ENV_EXAMPLE = APP_DIR.parent / "compose" / "env.example"
VAULT_EXAMPLE = APP_DIR.parent / "inventories" / "production" / "group_vars" / "all" / "vault.yml.example"
SECRETS = ("SECRET_KEY", "POSTGRES_PASSWORD", "REDIS_PASSWORD", "FLOWER_PASSWORD")


def read_env_file(path):
    lines = (line.strip() for line in path.read_text().splitlines())
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def good_env():
    """env.example with the secrets filled in, as dev.sh and the Ansible role write it."""
    return {
        **read_env_file(ENV_EXAMPLE),
        "SECRET_KEY": secrets.token_urlsafe(50),
        "POSTGRES_PASSWORD": secrets.token_hex(24),
        "REDIS_PASSWORD": secrets.token_hex(24),
    }


def checkenv(values, pythonpath=()):
    return subprocess.run(
        [sys.executable, "-m", "deploykit.checkenv"],
        cwd=APP_DIR,
        env={
            "PATH": os.environ["PATH"],
            "PYTHONPATH": os.pathsep.join([str(KIT_DIR), *map(str, pythonpath)]),
            **{k: v for k, v in values.items() if v is not None},
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def refused(overrides, expected, pythonpath=()):
    result = checkenv({**good_env(), **overrides}, pythonpath)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"configuration error: {expected}"), lines[0]
    return lines[0]


def placeholders():
    """The values of our examples, and their like."""
    vault = re.findall(r"^vault_\w+: (\S+)$", VAULT_EXAMPLE.read_text(), re.M)
    assert len(vault) == 5, vault  # the secret key, postgres, redis, flower, backup
    return [*vault, "change-me", "changeme", "CHANGE_ME", "django-insecure-" + "x" * 40, "your-secret-here-0123456"]


def test_env_example_with_secrets_filled_in_passes():
    result = checkenv(good_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "configuration ok"


def test_env_example_as_shipped_is_refused():
    assert checkenv(read_env_file(ENV_EXAMPLE)).returncode == 1


def test_a_set_flower_password_passes():
    assert checkenv({**good_env(), "FLOWER_PASSWORD": secrets.token_hex(12)}).returncode == 0
    with_flower = {**good_env(), "FLOWER_PASSWORD": secrets.token_hex(12), "COMPOSE_PROFILES": "monitoring"}
    assert checkenv(with_flower).returncode == 0


def test_the_urls_of_a_managed_database_and_redis_pass_without_db_and_redis():
    managed = {
        "COMPOSE_PROFILES": "",
        "DATABASE_URL": "postgres://shop@db.example.net:5432/shop?sslmode=require",
        **{
            name: f"rediss://cache.example.net:6380/{number}?ssl_cert_reqs=required"
            for number, name in enumerate(("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "REDIS_URL"))
        },
    }
    result = checkenv({**good_env(), **managed})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "configuration ok"


def test_a_sentry_dsn_passes_and_is_refused_without_sentry_sdk(tmp_path):
    with_sentry = {**good_env(), "SENTRY_DSN": "https://0123abcd@glitchtip.example.com:8443/errors/42"}
    assert checkenv(with_sentry).returncode == 0
    # A project whose requirements lack sentry-sdk: a package of that name that does not import.
    (tmp_path / "sentry_sdk").mkdir()
    (tmp_path / "sentry_sdk" / "__init__.py").write_text("raise ImportError('No module named sentry_sdk')\n")
    refused(
        with_sentry,
        "SENTRY_DSN is set, but sentry-sdk is not installed: add sentry-sdk to the project's requirements",
        pythonpath=[tmp_path],
    )


@pytest.mark.parametrize("name", SECRETS)
@pytest.mark.parametrize("value", placeholders())
def test_placeholder_secret_is_refused(name, value):
    line = refused({name: value}, f"{name} is a placeholder, not a secret; set ")
    assert value not in line


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"POSTGRES_PASSWORD": None}, "POSTGRES_PASSWORD is not set; set a random one in its secret file"),
        ({"REDIS_PASSWORD": ""}, "REDIS_PASSWORD is not set; set a random one"),
        ({"POSTGRES_PASSWORD": "a1b2c3d4e5f"}, "POSTGRES_PASSWORD is shorter than 12 characters; set a random one"),
        ({"REDIS_PASSWORD": "p@ss/word:1234"}, "REDIS_PASSWORD may hold only letters, digits and . _ ~ -"),
        ({"SECRET_KEY": None}, "SECRET_KEY is not set; set a random one"),
        ({"SECRET_KEY": "k" * 31}, "SECRET_KEY is shorter than 32 characters; set a random one"),
        ({"POSTGRES_USER": "shop@prod"}, "POSTGRES_USER must be a PostgreSQL name"),
        ({"POSTGRES_DB": "shop-db"}, "POSTGRES_DB must be a PostgreSQL name"),
        ({"REDIS_MAXMEMORY": "lots"}, "REDIS_MAXMEMORY must be a size such as 128mb"),
        ({"LOG_MAX_SIZE": "10 MB"}, "LOG_MAX_SIZE must be a size such as 10m"),
        ({"LOG_MAX_FILE": "0"}, "LOG_MAX_FILE must be at least 1, not 0"),
        ({"WORKER_STOP_GRACE_PERIOD": "half an hour"}, "WORKER_STOP_GRACE_PERIOD must be a duration"),
        ({"HTTP_PORT": "70000"}, "HTTP_PORT must be at most 65535, not 70000"),
        ({"HTTPS_PORT": "https"}, "HTTPS_PORT must be a whole number, not 'https'"),
        ({"HSTS_SECONDS": "a year"}, "HSTS_SECONDS must be a whole number, not 'a year'"),
        ({"SECURE_COOKIES": "always"}, "SECURE_COOKIES must be true or false, not 'always'"),
        ({"HSTS_PRELOAD": "please"}, "HSTS_PRELOAD must be true or false, not 'please'"),
        ({"FLOWER_PORT": "flower"}, "FLOWER_PORT must be a whole number, not 'flower'"),
        (
            {"COMPOSE_PROFILES": "tools, monitoring", "FLOWER_PASSWORD": ""},
            "FLOWER_PASSWORD is not set, and COMPOSE_PROFILES starts Flower (monitoring), which needs it; set a random",
        ),
        ({"HTTP_BIND": "localhost"}, "HTTP_BIND must be an IP address such as 0.0.0.0"),
        ({"DB_BIND": "data.internal"}, "DB_BIND must be an IP address such as 0.0.0.0, not 'data.internal'"),
        ({"REDIS_PUBLISHED_PORT": "redis"}, "REDIS_PUBLISHED_PORT must be a whole number, not 'redis'"),
        ({"DB_SSL": "yes"}, "DB_SSL must be on or off, not 'yes'"),
        ({"BEAT_REPLICAS": "2"}, "BEAT_REPLICAS must be 1 (this host runs beat) or 0 (another host does), not '2'"),
        ({"WEB_REPLICAS": "two"}, "WEB_REPLICAS must be 1 (this host runs web and nginx) or 0"),
        # Compose gives the URLs: the stack's own db and redis unless the env file names others.
        (
            {"COMPOSE_PROFILES": "redis", "DATABASE_URL": "postgres://shop@db:5432/shop"},
            "DATABASE_URL names the stack's own db service, which COMPOSE_PROFILES (redis) does not start; "
            "add db to COMPOSE_PROFILES, or set DATABASE_URL to your database's URL",
        ),
        (
            {"COMPOSE_PROFILES": "", "CELERY_BROKER_URL": "redis://redis:6379/0"},
            "CELERY_BROKER_URL names the stack's own redis service, which COMPOSE_PROFILES (empty) does not start",
        ),
        (
            {"DATABASE_URL": "mysql://shop@db.example.net:3306/shop"},
            "DATABASE_URL must be a postgres:// URL with a host, not 'mysql://shop:***@db.example.net:3306/shop'",
        ),
        (
            {"COMPOSE_PROFILES": "db", "CELERY_RESULT_BACKEND": "rediss://cache.example.net:6380/1"},
            "CELERY_RESULT_BACKEND is a rediss:// URL without ssl_cert_reqs, which Celery's Redis result backend",
        ),
        ({"SENTRY_DSN": "sentry.example.com/42"}, "SENTRY_DSN must be a DSN such as https://<key>@<host>/<project id>"),
        (
            {"SENTRY_DSN": "https://0123abcd@o1.ingest.sentry.io/42", "SENTRY_TRACES_SAMPLE_RATE": "10%"},
            "SENTRY_TRACES_SAMPLE_RATE must be a number from 0 to 1, not '10%'",
        ),
        # The shop's own rules come from importing its settings; gunicorn's from the kit's.
        ({"DEBUG": "maybe"}, "DEBUG must be true or false"),
        ({"TIME_ZONE": "Mars/Olympus"}, "TIME_ZONE 'Mars/Olympus' is not a known time zone"),
        ({"GUNICORN_WORKERS": "many"}, "GUNICORN_WORKERS must be a whole number"),
    ],
)
def test_bad_value_is_refused_with_the_variable_and_the_fix(overrides, expected):
    refused(overrides, expected)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"DJANGO_SETTINGS_MODULE": "config.setings"},
            "DJANGO_SETTINGS_MODULE 'config.setings': loading the settings fails with ModuleNotFoundError: "
            "No module named 'config.setings'; set the inventory's django_stack_settings_module",
        ),
        (
            {"KIT_WSGI_APP": "config.wsgi:app"},
            "KIT_WSGI_APP 'config.wsgi:app': importing the WSGI app fails with AttributeError",
        ),
        ({"KIT_WSGI_APP": ""}, "KIT_WSGI_APP is not set; set the inventory's django_stack_wsgi_app"),
        (
            {"KIT_CELERY_APP": "imports"},
            "KIT_CELERY_APP 'imports': loading the Celery app fails with",
        ),
    ],
)
def test_a_project_that_breaks_the_contract_is_refused_naming_the_variable(overrides, expected):
    line = refused(overrides, expected)
    assert "django_stack_" in line


def test_settings_that_ignore_the_kits_static_root_are_refused(tmp_path):
    (tmp_path / "fixed_static.py").write_text('from config.settings import *  # noqa\nSTATIC_ROOT = "/app/static"\n')
    refused(
        {"DJANGO_SETTINGS_MODULE": "fixed_static", "STATIC_ROOT": "/srv/static"},
        "DJANGO_SETTINGS_MODULE sets STATIC_ROOT to '/app/static', not the kit's '/srv/static'",
        pythonpath=[tmp_path],
    )


HTTPS_ENV = {"SECURE_COOKIES": "true", "HSTS_SECONDS": "31536000"}


def test_the_shop_follows_the_kits_https_settings():
    result = checkenv({**good_env(), **HTTPS_ENV})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("SESSION_COOKIE_SECURE = False", "leaves SESSION_COOKIE_SECURE off while SECURE_COOKIES is true"),
        ("CSRF_COOKIE_SECURE = False", "leaves CSRF_COOKIE_SECURE off while SECURE_COOKIES is true"),
        ("SECURE_PROXY_SSL_HEADER = None", "does not set SECURE_PROXY_SSL_HEADER"),
        ("SECURE_HSTS_SECONDS = 3600", "sets SECURE_HSTS_SECONDS to 3600, not HSTS_SECONDS's 31536000"),
    ],
)
def test_settings_that_ignore_the_kits_https_are_refused(tmp_path, setting, expected):
    (tmp_path / "plain_http.py").write_text(f"from config.settings import *  # noqa\n{setting}\n")
    refused(
        {**HTTPS_ENV, "DJANGO_SETTINGS_MODULE": "plain_http"},
        f"DJANGO_SETTINGS_MODULE {expected}",
        pythonpath=[tmp_path],
    )


def test_a_celery_app_that_ignores_the_broker_url_is_refused(tmp_path):
    (tmp_path / "other_celery.py").write_text(
        'from celery import Celery\napp = Celery("x", broker="redis://elsewhere/0")\n'
    )
    refused(
        {"KIT_CELERY_APP": "other_celery"},
        "KIT_CELERY_APP the Celery app's broker_url is not CELERY_BROKER_URL's value: set it from CELERY_BROKER_URL",
        pythonpath=[tmp_path],
    )


def test_the_projects_own_check_runs_after_the_kits(tmp_path):
    (tmp_path / "shop_check.py").write_text(
        "import os, sys\n"
        "if os.environ.get('SHOP_BANNER', '') == 'bad':\n"
        "    sys.exit('configuration error: SHOP_BANNER must not be bad; set it in the env file')\n"
    )
    passed = checkenv({**good_env(), "KIT_CHECK_MODULE": "shop_check"}, [tmp_path])
    assert passed.returncode == 0, passed.stderr
    assert passed.stdout.strip() == "configuration ok"
    refused({"KIT_CHECK_MODULE": "shop_check", "SHOP_BANNER": "bad"}, "SHOP_BANNER must not be bad", [tmp_path])
    refused(
        {"KIT_CHECK_MODULE": "shop_chek"}, "KIT_CHECK_MODULE 'shop_chek': the project's own check fails", [tmp_path]
    )
