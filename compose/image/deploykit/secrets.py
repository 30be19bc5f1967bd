"""The stack's secrets, from files to the process: ``deploykit.secrets.load()``.

Compose mounts each secret as a file under /run/secrets (compose.yml's
``secrets:``), never as an environment variable: whatever reads a container's
configuration (``docker inspect``, ``docker compose config``, monitoring
agents, support bundles) would see those. The kit's ``sitecustomize`` calls
``load()`` at the start of every Python process in the image (gunicorn, the
Celery worker and beat, one-off jobs, ``docker compose exec web python -m
django shell``, the healthchecks), so the project's code reads plain
variables as the contract says:

- each file becomes the variable of its name in upper case
  (``secret_key`` → ``SECRET_KEY``, ``postgres_password`` → ``POSTGRES_PASSWORD``);
- the passwords go into the connection URLs that compose gives without one
  (``DATABASE_URL``, ``CELERY_BROKER_URL``, ``CELERY_RESULT_BACKEND``,
  ``REDIS_URL``); a URL that already holds a password is left as it is;
- ``FLOWER_PASSWORD`` also becomes Flower's ``FLOWER_BASIC_AUTH``.

The variables live in that process (and the processes it starts) only. A file
that cannot be read is reported on stderr, naming the file, the owner it
needs and the fix; its variable stays unset. ``PROBLEMS`` keeps those, and
the names that were in the environment already (an env file that still holds
a secret puts it into the container's configuration): the env check
(deploykit.checkenv) refuses both.
"""

import os
import sys
from urllib.parse import quote, urlsplit, urlunsplit

# os rather than pathlib: this runs at every Python start in the image, the
# healthchecks' every few seconds included, and pathlib's import alone costs
# about 11 ms there.
DIRECTORY = "/run/secrets"
# What the loads of this process found wrong: (variable, problem) pairs.
PROBLEMS = []
# The names (never the values) loaded from files, for the processes this one
# starts: they inherit the variables, which did not come from the container.
LOADED = "KIT_SECRETS_LOADED"
# The connection URLs compose gives without a password, and the secret each one takes.
URL_PASSWORDS = {
    "DATABASE_URL": "POSTGRES_PASSWORD",
    "CELERY_BROKER_URL": "REDIS_PASSWORD",
    "CELERY_RESULT_BACKEND": "REDIS_PASSWORD",
    "REDIS_URL": "REDIS_PASSWORD",
}


def with_password(url, password):
    """The URL with ``password`` in it, unless it has one already (or is no URL)."""
    parts = urlsplit(url)
    if not parts.hostname or parts.password is not None:
        return url
    user = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:{quote(password, safe='')}@{host}"))


def load(environ=None, directory=None):
    """Export the secret files of ``directory`` into ``environ``; returns the problems, also written to stderr."""
    environ = os.environ if environ is None else environ
    folder = os.fspath(directory or environ.get("KIT_SECRETS_DIR") or DIRECTORY)
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError:  # no such directory: not in the stack's containers
        entries = []
    problems = []
    loaded = set(filter(None, environ.get(LOADED, "").split(",")))
    for entry in entries:
        name = entry.name.upper()
        try:
            with open(entry.path, encoding="utf-8") as file:
                value = file.read().rstrip("\r\n")
        except OSError as error:
            try:
                info = os.stat(entry.path)
                owner = f"uid {info.st_uid}, mode {info.st_mode & 0o777:04o}"
            except OSError:
                owner = "missing"
            problems.append((
                name,
                f"cannot be read from {entry.path} ({owner}) as uid {os.getuid()}: {error.strerror}; the secret files "
                "are written once per uid that reads them, mode 0400 (the django_stack role; compose/secrets.sh)",
            ))  # fmt: skip
            continue
        if name in environ and name not in loaded:
            problems.append((
                name,
                f"is set in the container's environment (the env file?) as well as in {entry.path}: a secret belongs "
                "only in its file, or docker inspect shows it; remove it from the env file",
            ))  # fmt: skip
        environ[name] = value
        loaded.add(name)
    if loaded:
        environ[LOADED] = ",".join(sorted(loaded))
    for url, secret in URL_PASSWORDS.items():
        if environ.get(url) and environ.get(secret):
            environ[url] = with_password(environ[url], environ[secret])
    if environ.get("FLOWER_PASSWORD"):
        environ["FLOWER_BASIC_AUTH"] = f"{environ.get('FLOWER_USER') or 'admin'}:{environ['FLOWER_PASSWORD']}"
    for name, problem in problems:
        print(f"secrets: {name} {problem}", file=sys.stderr)
    PROBLEMS.extend(problems)
    return problems
