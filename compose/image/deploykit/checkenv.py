"""Check a stack's env file before anything starts: ``python -m deploykit.checkenv``.

The kit's checker, run in the project's image with the env file as the
environment (compose.yml's ``config`` service; make dev and a deploy run it
first):

    docker compose run --rm --no-deps config

In two parts:

1. the kit's own variables: the secrets (read from their files by
   deploykit.secrets: each readable, none left in the environment, the
   passwords that go into URLs and SECRET_KEY), the values compose reads
   itself (names, sizes, ports, durations) and gunicorn's;
2. the project against the contract (docs/project-contract.md): its settings
   module loads (which checks the project's own variables, in its own way),
   its WSGI app and its Celery app import, its Celery app reads the broker and
   result URLs the kit gives, and STATIC_ROOT and MEDIA_ROOT are the kit's;
   then the project's own extra check, when KIT_CHECK_MODULE names one
   (run as ``python -m``; it refuses by exiting with a message).

Exits 1 with ``configuration error: NAME <problem>; <fix>`` on the first
problem; prints ``configuration ok`` otherwise.
"""

import importlib
import ipaddress
import os
import re
import runpy
import sys
import traceback
from urllib.parse import urlsplit, urlunsplit

from deploykit import env, secrets, sentry

GENERATE = "set a random one in its secret file (openssl rand -hex 24)"
PASSWORD_MINIMUM = 12
SECRET_KEY_MINIMUM = 32
URL_SAFE = re.compile(r"^[A-Za-z0-9._~-]+$")
# Values compose uses as they are; an unset one takes compose.yml's default.
PG_NAME = (r"^[A-Za-z_][A-Za-z0-9_]{0,62}$", "must be a PostgreSQL name (letters, digits, _; it goes into a URL)")
BOOLEAN = r"(?i)^(true|false|yes|no|on|off|1|0)$"
FORMS = {
    "POSTGRES_USER": PG_NAME,
    "POSTGRES_DB": PG_NAME,
    "REDIS_MAXMEMORY": (r"(?i)^[0-9]+(b|kb?|mb?|gb?)?$", "must be a size such as 128mb or 1gb (0: no limit)"),
    "LOG_MAX_SIZE": (r"^[0-9]+[kmg]?$", "must be a size such as 10m (k, m or g)"),
    "WORKER_STOP_GRACE_PERIOD": (r"^([0-9]+(\.[0-9]+)?(h|m|s|ms))+$", "must be a duration such as 1800s or 30m"),
    "SECURE_COOKIES": (BOOLEAN, "must be true or false"),
    "HSTS_INCLUDE_SUBDOMAINS": (BOOLEAN, "must be true or false"),
    "HSTS_PRELOAD": (BOOLEAN, "must be true or false"),
    "DB_SSL": (r"^(on|off)$", "must be on or off"),
    # One of each on a host, or none (another host of the stack runs it).
    "WEB_REPLICAS": (r"^[01]$", "must be 1 (this host runs web and nginx) or 0 (another host does)"),
    "WORKER_REPLICAS": (r"^[01]$", "must be 1 (this host runs a Celery worker) or 0 (another host does)"),
    "BEAT_REPLICAS": (r"^[01]$", "must be 1 (this host runs beat) or 0 (another host does)"),
}
# The connection URLs compose gives: their schemes, and the stack's own
# service (and profile) each one names by default.
URLS = {
    "DATABASE_URL": (("postgres", "postgresql"), "db", "database"),
    "CELERY_BROKER_URL": (("redis", "rediss"), "redis", "Redis"),
    "CELERY_RESULT_BACKEND": (("redis", "rediss"), "redis", "Redis"),
    "REDIS_URL": (("redis", "rediss"), "redis", "Redis"),
}
# The project's modules: the env file's names, and the inventory variables that set them.
MODULES = {
    "DJANGO_SETTINGS_MODULE": "django_stack_settings_module",
    "KIT_WSGI_APP": "django_stack_wsgi_app",
    "KIT_CELERY_APP": "django_stack_celery_app",
    "KIT_CHECK_MODULE": "django_stack_check_module",
}


def check_secret(name, minimum, url_safe):
    value = env.get(name)
    if not value:
        raise env.ConfigError(name, f"is not set; {GENERATE}")
    if env.is_placeholder(value):
        raise env.ConfigError(name, f"is a placeholder, not a secret; {GENERATE}")
    if len(value) < minimum:
        raise env.ConfigError(name, f"is shorter than {minimum} characters; {GENERATE}")
    if url_safe and not URL_SAFE.match(value):
        raise env.ConfigError(name, f"may hold only letters, digits and . _ ~ - (it goes into a URL); {GENERATE}")


def check_kit_values():
    if secrets.PROBLEMS:
        raise env.ConfigError(*secrets.PROBLEMS[0])
    check_secret("SECRET_KEY", SECRET_KEY_MINIMUM, url_safe=False)
    for name in ("POSTGRES_PASSWORD", "REDIS_PASSWORD"):
        check_secret(name, PASSWORD_MINIMUM, url_safe=True)
    if env.is_placeholder(env.get("FLOWER_PASSWORD")):
        raise env.ConfigError("FLOWER_PASSWORD", "is a placeholder, not a secret; set a random one or leave it empty")
    profiles = {name.strip() for name in env.get("COMPOSE_PROFILES").split(",")} - {""}
    if "monitoring" in profiles and not env.get("FLOWER_PASSWORD"):
        needs = "is not set, and COMPOSE_PROFILES starts Flower (monitoring), which needs it"
        raise env.ConfigError("FLOWER_PASSWORD", f"{needs}; {GENERATE}")
    check_urls(profiles)
    for name, (pattern, expected) in FORMS.items():
        value = env.get(name)
        if value and not re.match(pattern, value):
            raise env.ConfigError(name, f"{expected}, not {value!r}")
    for name in ("HTTP_PORT", "HTTPS_PORT", "FLOWER_PORT", "DB_PUBLISHED_PORT", "REDIS_PUBLISHED_PORT"):
        env.number(name, None, maximum=65535)
    env.number("HSTS_SECONDS", None, minimum=0)
    env.number("LOG_MAX_FILE", None)
    for name in ("HTTP_BIND", "DB_BIND", "REDIS_BIND"):
        bind = env.get(name)
        try:
            if bind:
                ipaddress.ip_address(bind.strip("[]"))
        except ValueError:
            raise env.ConfigError(name, f"must be an IP address such as 0.0.0.0, not {bind!r}") from None
    for origin in filter(None, (item.strip() for item in env.get("CSRF_TRUSTED_ORIGINS").split(","))):
        if not re.match(r"^https?://", origin):
            raise env.ConfigError("CSRF_TRUSTED_ORIGINS", f"entry {origin!r} must start with http:// or https://")
    import deploykit.gunicorn  # noqa: F401 - validates GUNICORN_*

    if sentry.settings():
        sentry.integrations()


def shown(url):
    """``url`` as a message may show it: the password (deploykit.secrets put it in) replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)))


def check_urls(profiles):
    """The connection URLs compose gives (absent when the env file is all there is): each one a URL of its kind,
    and one that names the stack's own db or redis only when COMPOSE_PROFILES starts it."""
    for name, (schemes, service, what) in URLS.items():
        value = env.get(name)
        if not value:
            continue
        parts = urlsplit(value)
        if parts.scheme not in schemes or not parts.hostname:
            raise env.ConfigError(name, f"must be a {schemes[0]}:// URL with a host, not {shown(value)!r}")
        if parts.hostname == service and service not in profiles:
            raise env.ConfigError(
                name,
                f"names the stack's own {service} service, which COMPOSE_PROFILES "
                f"({','.join(sorted(profiles)) or 'empty'}) does not start; add {service} to COMPOSE_PROFILES, "
                f"or set {name} to your {what}'s URL",
            )
        if parts.scheme == "rediss" and name == "CELERY_RESULT_BACKEND" and "ssl_cert_reqs=" not in parts.query:
            raise env.ConfigError(
                name,
                "is a rediss:// URL without ssl_cert_reqs, which Celery's Redis result backend refuses; "
                "add ?ssl_cert_reqs=required",
            )


def project_error(name, problem):
    """A contract failure: the env file's name, the problem, and the inventory variable to fix."""
    return env.ConfigError(name, f"{problem}; set the inventory's {MODULES[name]} (env file: {name})")


def loading(name, what, load):
    """Run ``load``; a project's own ``configuration error`` passes as it is, any other failure names ``name``."""
    try:
        return load()
    except SystemExit:
        raise
    except Exception as exc:
        last = traceback.extract_tb(exc.__traceback__)[-1]
        where = (
            f" (at {last.filename.removeprefix('/app/')}:{last.lineno})" if last.filename.startswith("/app/") else ""
        )
        raise project_error(name, f"{env.get(name)!r}: {what} fails with {type(exc).__name__}: {exc}{where}") from None


def check_project():
    for name in ("DJANGO_SETTINGS_MODULE", "KIT_WSGI_APP", "KIT_CELERY_APP"):
        if not env.get(name):
            raise project_error(name, "is not set")
    os.environ["DJANGO_SETTINGS_MODULE"] = env.get("DJANGO_SETTINGS_MODULE")

    import django
    from django.conf import settings

    loading("DJANGO_SETTINGS_MODULE", "loading the settings", django.setup)
    for name in ("STATIC_ROOT", "MEDIA_ROOT"):
        wanted, found = env.get(name), str(getattr(settings, name, "") or "")
        if wanted and found.rstrip("/") != wanted.rstrip("/"):
            raise project_error(
                "DJANGO_SETTINGS_MODULE",
                f"sets {name} to {found!r}, not the kit's {wanted!r}: read it from the environment ({name})",
            )

    check_https(settings)

    # The kit's modules load the project's at import, as gunicorn and celery do.
    kit = loading("KIT_WSGI_APP", "importing the WSGI app", lambda: importlib.import_module("deploykit.wsgi"))
    if not callable(kit.application.app):
        raise project_error("KIT_WSGI_APP", f"{env.get('KIT_WSGI_APP')!r} is not a WSGI callable")

    app = loading(
        "KIT_CELERY_APP", "loading the Celery app", lambda: importlib.import_module("deploykit.celeryapp").app
    )
    for setting, name in (("broker_url", "CELERY_BROKER_URL"), ("result_backend", "CELERY_RESULT_BACKEND")):
        wanted, found = env.get(name), loading("KIT_CELERY_APP", f"reading {setting}", lambda s=setting: app.conf[s])
        if wanted and found != wanted:
            raise project_error(
                "KIT_CELERY_APP",
                f"the Celery app's {setting} is not {name}'s value: set it from {name} "
                "(CELERY_ settings, with config_from_object('django.conf:settings', namespace='CELERY'))",
            )

    check = env.get("KIT_CHECK_MODULE")
    if check:
        loading("KIT_CHECK_MODULE", "the project's own check", lambda: run_check(check))


def check_https(settings):
    """Behind the kit's HTTPS the project's settings follow the env file: nginx says
    https in X-Forwarded-Proto, cookies are secure, HSTS is the one the role asked for."""
    if env.get("SECURE_COOKIES").lower() in ("true", "yes", "on", "1"):
        for setting in ("SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE"):
            if getattr(settings, setting, False) is not True:
                raise project_error(
                    "DJANGO_SETTINGS_MODULE",
                    f"leaves {setting} off while SECURE_COOKIES is true: set it from SECURE_COOKIES",
                )
        if tuple(getattr(settings, "SECURE_PROXY_SSL_HEADER", None) or ()) != ("HTTP_X_FORWARDED_PROTO", "https"):
            raise project_error(
                "DJANGO_SETTINGS_MODULE",
                "does not set SECURE_PROXY_SSL_HEADER = ('HTTP_X_FORWARDED_PROTO', 'https'): "
                "behind nginx, Django cannot tell an HTTPS request without it",
            )
    wanted = env.number("HSTS_SECONDS", 0, minimum=0)
    found = getattr(settings, "SECURE_HSTS_SECONDS", 0)
    if wanted and found != wanted:
        raise project_error(
            "DJANGO_SETTINGS_MODULE",
            f"sets SECURE_HSTS_SECONDS to {found!r}, not HSTS_SECONDS's {wanted}: read it from the environment",
        )


def run_check(module):
    """The project's check, as ``python -m module``: exiting 0 passes, any other exit refuses."""
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise


def main():
    check_kit_values()
    # Compose gives these URLs (deploykit.secrets adds the passwords checked
    # above); on the env file alone (docker run --env-file) they are missing:
    # the settings see stand-ins.
    os.environ.setdefault("DATABASE_URL", "postgres://db:5432/app")
    os.environ.setdefault("CELERY_BROKER_URL", "redis://redis:6379/0")
    os.environ.setdefault("CELERY_RESULT_BACKEND", "redis://redis:6379/1")
    os.environ.setdefault("REDIS_URL", "redis://redis:6379/2")
    check_project()
    print("configuration ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
