"""Check a stack's env file before anything starts: ``python -m config.checkenv``.

The one checker of the env file (compose/env.example documents its every
variable). Run it in the app image with the env file as the environment:

    docker compose run --rm --no-deps config          # compose.yml's first service
    docker run --rm --env-file .env shop-app:TAG python -m config.checkenv

It checks what the settings do not see: the secrets that compose puts into
URLs, FLOWER_PASSWORD, and the variables compose reads itself (names, sizes,
ports, durations); then it imports the settings and config.gunicorn, which
refuse every bad app value (SECRET_KEY included) with the same kind of line.
Exits 1 with ``configuration error: NAME <problem>; <fix>`` on the first
problem; prints ``configuration ok`` otherwise.
"""

import ipaddress
import os
import re
import sys

from config import env

GENERATE = "set a random one in the env file (openssl rand -hex 24)"
PASSWORD_MINIMUM = 12
URL_SAFE = re.compile(r"^[A-Za-z0-9._~-]+$")
# Values compose uses as they are; an unset one takes compose.yml's default.
PG_NAME = (r"^[A-Za-z_][A-Za-z0-9_]{0,62}$", "must be a PostgreSQL name (letters, digits, _; it goes into a URL)")
FORMS = {
    "POSTGRES_USER": PG_NAME,
    "POSTGRES_DB": PG_NAME,
    "REDIS_MAXMEMORY": (r"(?i)^[0-9]+(b|kb?|mb?|gb?)?$", "must be a size such as 128mb or 1gb (0: no limit)"),
    "LOG_MAX_SIZE": (r"^[0-9]+[kmg]?$", "must be a size such as 10m (k, m or g)"),
    "WORKER_STOP_GRACE_PERIOD": (r"^([0-9]+(\.[0-9]+)?(h|m|s|ms))+$", "must be a duration such as 1800s or 30m"),
}


def check_password(name):
    value = env.raw(name, "")
    if not value:
        raise env.ConfigError(name, f"is not set; {GENERATE}")
    if env.is_placeholder(value):
        raise env.ConfigError(name, f"is a placeholder, not a secret; {GENERATE}")
    if len(value) < PASSWORD_MINIMUM:
        raise env.ConfigError(name, f"is shorter than {PASSWORD_MINIMUM} characters; {GENERATE}")
    if not URL_SAFE.match(value):
        raise env.ConfigError(name, f"may hold only letters, digits and . _ ~ - (it goes into a URL); {GENERATE}")


def check_compose_values():
    for name in ("POSTGRES_PASSWORD", "REDIS_PASSWORD"):
        check_password(name)
    if env.is_placeholder(env.raw("FLOWER_PASSWORD")):
        raise env.ConfigError("FLOWER_PASSWORD", "is a placeholder, not a secret; set a random one or leave it empty")
    for name, (pattern, expected) in FORMS.items():
        value = env.raw(name, "")
        if value and not re.match(pattern, value):
            raise env.ConfigError(name, f"{expected}, not {value!r}")
    for name in ("HTTP_PORT", "FLOWER_PORT"):
        env.integer(name, None, minimum=1, maximum=65535)
    env.integer("LOG_MAX_FILE", None, minimum=1)
    bind = env.raw("HTTP_BIND", "")
    try:
        if bind:
            ipaddress.ip_address(bind.strip("[]"))
    except ValueError:
        raise env.ConfigError("HTTP_BIND", f"must be an IP address such as 0.0.0.0, not {bind!r}") from None


def main():
    check_compose_values()
    # Compose builds these URLs from the passwords checked above; run on the env file
    # alone they are missing, and the settings check only their form.
    os.environ.setdefault("DATABASE_URL", "postgres://db:5432/shop")
    os.environ.setdefault("CELERY_BROKER_URL", "redis://redis:6379/0")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.conf import settings

    settings.SECRET_KEY  # noqa: B018 - loading the settings validates every variable
    import config.gunicorn  # noqa: F401 - validates GUNICORN_*

    print("configuration ok")


if __name__ == "__main__":
    sys.exit(main())
