"""Check a stack's environment before anything starts: ``python -m config.checkenv``.

Imports the settings (which refuse any bad value with one line naming the
variable) and checks the compose-level variables that the settings do not
see: the database and Redis passwords and the database's user and name, which
compose puts into URLs, and Redis's memory limit, which it puts on
redis-server's command line. Exits 1
with ``configuration error: NAME ...`` on the first problem; prints
``configuration ok`` otherwise. The compose stack runs it as its first
service, so no container starts half-configured.
"""

import os
import re
import sys

PLACEHOLDERS = {"change-me", "changeme", "password", "secret", "postgres", "redis"}
URL_SAFE = re.compile(r"^[A-Za-z0-9._~-]+$")
# Values compose uses as they are; an unset one takes compose.yml's default.
PG_NAME = (r"^[A-Za-z_][A-Za-z0-9_]{0,62}$", "must be a PostgreSQL name (letters, digits, _; it goes into a URL)")
FORMS = {
    "POSTGRES_USER": PG_NAME,
    "POSTGRES_DB": PG_NAME,
    "REDIS_MAXMEMORY": (r"(?i)^[0-9]+(b|kb?|mb?|gb?)?$", "must be a size such as 128mb or 1gb (0: no limit)"),
}


def check_password(name, minimum=12):
    value = os.environ.get(name, "")
    if not value:
        raise SystemExit(f"configuration error: {name} is not set; set it in the env file")
    if value.lower() in PLACEHOLDERS or value.lower().startswith("change-me"):
        raise SystemExit(f"configuration error: {name} is a placeholder; set a random one (openssl rand -hex 24)")
    if len(value) < minimum:
        raise SystemExit(f"configuration error: {name} is shorter than {minimum} characters")
    if not URL_SAFE.match(value):
        raise SystemExit(
            f"configuration error: {name} may hold only letters, digits and . _ ~ - (it goes into a URL); "
            "use openssl rand -hex 24"
        )


def check_form(name, pattern, expected):
    value = os.environ.get(name, "")
    if value and not re.match(pattern, value):
        raise SystemExit(f"configuration error: {name} {expected}, not {value!r}")


def main():
    for name in ("POSTGRES_PASSWORD", "REDIS_PASSWORD"):
        if name in os.environ:  # the stack passes them; plain manage.py users need not
            check_password(name)
    for name, (pattern, expected) in FORMS.items():
        check_form(name, pattern, expected)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.conf import settings

    settings.SECRET_KEY  # noqa: B018 - loading the settings validates every variable
    import config.gunicorn  # noqa: F401 - validates GUNICORN_*

    print("configuration ok")


if __name__ == "__main__":
    sys.exit(main())
