"""Bad environment values stop start-up with one line naming the variable."""

import os
import subprocess
import sys

import pytest
from django.conf import settings

from tests.conftest import APP_DIR

GOOD = {
    "DATABASE_URL": "postgres://kit:kit@127.0.0.1:5432/kit",
    "CELERY_BROKER_URL": "redis://:pw@127.0.0.1:6380/0",
    "SECRET_KEY": "a-real-looking-secret-key-with-enough-length-0123456789",
    "DEBUG": "false",
}
VARIABLES = {
    *GOOD,
    "CELERY_RESULT_BACKEND",
    "REDIS_URL",
    "TIME_ZONE",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "CELERY_TASK_TIME_LIMIT",
    "CELERY_TASK_SOFT_TIME_LIMIT",
    "IMPORT_LOCK_TTL",
    "IMPORT_QUEUE_TIMEOUT",
    "LOG_LEVEL",
    "DB_CONN_MAX_AGE",
}


def start(**overrides):
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    env.update(GOOD)
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=APP_DIR, env=env, capture_output=True, text=True, timeout=60
    )


def test_good_environment_starts():
    result = start()
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"SECRET_KEY": None}, "configuration error: SECRET_KEY is not set while DEBUG is off; set a long random"),
        ({"SECRET_KEY": "change-me"}, "configuration error: SECRET_KEY is a placeholder, not a secret; set a long"),
        ({"SECRET_KEY": "django-insecure-abcdefghijklmnopqrstuvwxyz012345"}, "configuration error: SECRET_KEY is a pl"),
        ({"SECRET_KEY": "short-key"}, "configuration error: SECRET_KEY is shorter than 32 characters; set a long"),
        ({"DEBUG": "maybe"}, "configuration error: DEBUG must be true or false"),
        ({"DATABASE_URL": None}, "configuration error: DATABASE_URL is not set"),
        (
            {"DATABASE_URL": "mysql://u:p@h/db"},
            "configuration error: DATABASE_URL must be a URL starting with postgres://",
        ),
        (
            {"CELERY_BROKER_URL": "amqp://guest@h//"},
            "configuration error: CELERY_BROKER_URL must be a URL starting with redis://",
        ),
        ({"TIME_ZONE": "Mars/Olympus"}, "configuration error: TIME_ZONE 'Mars/Olympus' is not a known time zone"),
        (
            {"CSRF_TRUSTED_ORIGINS": "shop.example.com"},
            "configuration error: CSRF_TRUSTED_ORIGINS entry 'shop.example.com'",
        ),
        (
            {"CELERY_TASK_TIME_LIMIT": "half an hour"},
            "configuration error: CELERY_TASK_TIME_LIMIT must be a whole number",
        ),
        (
            {"CELERY_TASK_SOFT_TIME_LIMIT": "1800"},
            "configuration error: CELERY_TASK_SOFT_TIME_LIMIT (1800) must be below",
        ),
        (
            {"CELERY_TASK_TIME_LIMIT": "30"},
            "configuration error: CELERY_TASK_SOFT_TIME_LIMIT is not set, and its default, CELERY_TASK_TIME_LIMIT (30)",
        ),
        ({"IMPORT_LOCK_TTL": "5"}, "configuration error: IMPORT_LOCK_TTL must be at least 10, not 5"),
        (
            {"IMPORT_LOCK_TTL": "120", "IMPORT_QUEUE_TIMEOUT": "60"},
            "configuration error: IMPORT_QUEUE_TIMEOUT must be at least 120, not 60",
        ),
        ({"LOG_LEVEL": "LOUD"}, "configuration error: LOG_LEVEL must be DEBUG, INFO"),
        ({"DB_CONN_MAX_AGE": "-1"}, "configuration error: DB_CONN_MAX_AGE must be at least 0"),
    ],
)
def test_bad_value_stops_start_up_with_one_line(overrides, expected):
    result = start(**overrides)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(expected), lines[0]


def test_debug_on_runs_without_a_secret_key():
    result = start(DEBUG="true", SECRET_KEY=None)
    assert result.returncode == 0, result.stderr


def test_debug_on_still_refuses_a_placeholder_secret_key():
    result = start(DEBUG="true", SECRET_KEY="replace-with-50-random-characters-from-python-secrets-token-urlsafe")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "configuration error: SECRET_KEY is a placeholder, not a secret; set a long random one "
        "(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')"
    )


def test_celery_settings_the_brief_asks_for():
    assert settings.CELERY_ACCEPT_CONTENT == ["json"]
    assert settings.CELERY_TASK_SERIALIZER == settings.CELERY_RESULT_SERIALIZER == "json"
    assert settings.CELERY_TIMEZONE == settings.TIME_ZONE
    assert settings.CELERY_TASK_TRACK_STARTED is True
    assert settings.CELERY_TASK_TIME_LIMIT == 1800
    assert settings.CELERY_TASK_SOFT_TIME_LIMIT < settings.CELERY_TASK_TIME_LIMIT
    assert settings.CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP is True
    assert settings.CELERY_WORKER_HIJACK_ROOT_LOGGER is False
    assert settings.CELERY_WORKER_LOG_COLOR is False
    assert settings.CELERY_WORKER_PREFETCH_MULTIPLIER == 1
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] > settings.CELERY_TASK_TIME_LIMIT
    # A dead worker's lock expires in a minute; the sweep looks every minute.
    assert settings.IMPORT_LOCK_TTL == 60
    assert settings.CELERY_BEAT_SCHEDULE["sweep-stale-imports"]["schedule"] == 60.0
    assert settings.CELERY_TASK_REJECT_ON_WORKER_LOST is False
    assert settings.CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS is False


def test_visibility_timeout_follows_the_limits():
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from django.conf import settings as s; print(s.CELERY_BROKER_TRANSPORT_OPTIONS['visibility_timeout'])",
        ],
        cwd=APP_DIR,
        env={
            **os.environ,
            **GOOD,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "CELERY_TASK_TIME_LIMIT": "7200",
            "CELERY_TASK_SOFT_TIME_LIMIT": "7000",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) > 7200
