"""Helpers for the compose stack tests: the real `docker compose` CLI, env files, admin login.

A session fixture brings the stack up from nothing with a throw-away env file
(random secrets, the images that scripts/images.sh chose: official ones where a
registry answers, local stand-ins otherwise), runs the one-off jobs, and
takes it all down (volumes too) at the end. Tests reach it only through
127.0.0.1.
"""

import hashlib
import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
import testkit
from testkit import csrf_token, wait_until  # noqa: F401 - the suite imports them from here

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "compose" / "compose.yml"
IMAGES_ENV = ROOT / ".kit" / "images.env"
PROJECT = "kit-stack-test"
HTTP_PORT = int(os.environ.get("KIT_TEST_HTTP_PORT", "18080"))
FLOWER_PORT = HTTP_PORT + 1
BASE_URL = f"http://127.0.0.1:{HTTP_PORT}"
ADMIN_USER, ADMIN_PASSWORD = "admin", "stack-" + secrets.token_hex(8)


# The env file's connection URLs (compose.yml's defaults name the stack's own db and redis).
CONNECTION_URLS = ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "REDIS_URL")
# The values that are secret files, not lines of the env file (compose/secrets.sh writes them).
SECRET_NAMES = ("SECRET_KEY", "POSTGRES_PASSWORD", "REDIS_PASSWORD", "FLOWER_PASSWORD", "DJANGO_SUPERUSER_PASSWORD")


def read_env(path):
    """The env file's values, and the secrets write_env() put into files beside it."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
    for name in SECRET_NAMES:
        file = Path(values.get("SECRETS_DIR", "/nonexistent")) / "app" / name.lower()
        if file.exists():
            values[name] = file.read_text()
    return values


def write_env(path, values):
    """The env file without the secrets, which go into files under <env file>-secrets/, one copy per reading
    uid, mode 0400 (compose/secrets.sh, run as root: as the role writes them on a server). A secret that is
    None or missing from ``values`` gets no file."""
    directory = path.with_name(path.name + "-secrets")
    shutil.rmtree(directory, ignore_errors=True)
    given = {name: values[name] for name in SECRET_NAMES if values.get(name) is not None}
    subprocess.run(
        ["bash", str(ROOT / "compose" / "secrets.sh"), str(directory)],
        input="".join(f"{name}={value}\n" for name, value in given.items()), text=True, check=True, timeout=60,
    )  # fmt: skip
    plain = {name: value for name, value in values.items() if name not in SECRET_NAMES}
    plain.update(SECRETS_DIR=str(directory), SECRETS_REVISION=hashlib.sha256(repr(given).encode()).hexdigest()[:16])
    path.write_text("".join(f"{name}={value}\n" for name, value in plain.items()))
    path.chmod(0o600)


def stack_env(**overrides):
    """An env file's values: env.example, test secrets, the chosen images."""
    if not IMAGES_ENV.exists():
        pytest.fail(f"{IMAGES_ENV} is missing: run `make images` (scripts/images.sh) first")
    values = read_env(ROOT / "compose" / "env.example")
    values.update(
        SECRET_KEY=secrets.token_urlsafe(50),
        POSTGRES_PASSWORD=secrets.token_hex(16),
        REDIS_PASSWORD=secrets.token_hex(16),
        FLOWER_PASSWORD=secrets.token_hex(8),
        APP_TAG="stack-test",
        APP_BUILD_CONTEXT=str(ROOT / "app"),
        HTTP_BIND="127.0.0.1",
        HTTP_PORT=str(HTTP_PORT),
        HTTPS_PORT=str(HTTP_PORT + 2),
        FLOWER_PORT=str(FLOWER_PORT),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        CSRF_TRUSTED_ORIGINS=f"http://127.0.0.1:{HTTP_PORT}",
        CELERY_WORKER_CONCURRENCY="2",
        WORKER_STOP_GRACE_PERIOD="20s",
        DJANGO_SUPERUSER_USERNAME=ADMIN_USER,
        DJANGO_SUPERUSER_PASSWORD=ADMIN_PASSWORD,
        IMPORT_DATA_DIR="/srv/exchange",  # the exchange volume: see fill_exchange
    )
    values.update(read_env(IMAGES_ENV))
    values.update(overrides)
    return values


class Compose:
    """`docker compose` for one project and env file."""

    def __init__(self, project, env_file):
        self.project = project
        self.env_file = env_file

    def command(self, *args):
        return [
            "docker", "compose", "--project-name", self.project, "--file", str(COMPOSE_FILE),
            "--env-file", str(self.env_file), *args,
        ]  # fmt: skip

    def run(self, *args, check=True, timeout=600, capture=True):
        # compose takes a variable from its own environment before the env file's: the app suite's
        # connection URLs (pyproject.toml's pytest env) must not reach the stack.
        environ = {name: value for name, value in os.environ.items() if name not in CONNECTION_URLS}
        result = subprocess.run(
            self.command(*args),
            env={**environ, "ENV_FILE": str(self.env_file)},
            capture_output=capture,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            pytest.fail(
                f"docker compose {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
        return result

    def build(self, capture=True):
        """The project's image, as compose/build.sh builds it (the kit's runtime, then the project)."""
        result = subprocess.run(
            ["bash", str(COMPOSE_FILE.parent / "build.sh"), str(self.env_file)],
            capture_output=capture, text=True, timeout=1800,
        )  # fmt: skip
        if result.returncode != 0:
            pytest.fail(f"compose/build.sh failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")

    def release(self):
        """The deploy's one-off step: migrate, collectstatic, the superuser (deploykit.release)."""
        return self.run("run", "--rm", "--no-TTY", "web", "python", "-m", "deploykit.release", timeout=300)

    def manage(self, *args, timeout=300):
        return self.run("run", "--rm", "--no-TTY", "web", "python", "manage.py", *args, timeout=timeout)

    def exec(self, service, *args, check=True):
        return self.run("exec", "-T", service, *args, check=check)

    def logs(self, service):
        """The service's container log as Docker stored it. (`docker compose logs`
        adds terminal escape codes of its own, so it cannot show colour leaks.)"""
        container = self.run("ps", "--all", "--quiet", service).stdout.split()
        if not container:
            return ""
        result = subprocess.run(["docker", "logs", container[0]], capture_output=True, text=True, timeout=60)
        return result.stdout + result.stderr

    def ps(self, *args, profile=None):
        profiles = ("--profile", profile) if profile else ()
        out = self.run(*profiles, "ps", "--all", "--format", "json", *args).stdout.strip()
        if not out:
            return []
        if out.startswith("["):  # older Compose prints one array
            return json.loads(out)
        return [json.loads(line) for line in out.splitlines()]

    def containers(self):
        """{service: state} of this project's containers, straight from Docker (works
        even when the env file is too broken for `docker compose` to read)."""
        result = subprocess.run(
            ["docker", "ps", "--all", "--filter", f"label=com.docker.compose.project={self.project}",
             "--format", '{{.Label "com.docker.compose.service"}} {{.State}}'],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        return dict(line.split(" ", 1) for line in result.stdout.splitlines())

    def purge(self):
        """Remove the project's containers, networks and volumes without `docker compose`."""
        label = f"label=com.docker.compose.project={self.project}"
        for kind, listing in (("container", ["ps", "--all"]), ("network", ["network", "ls"]),
                              ("volume", ["volume", "ls"])):  # fmt: skip
            ids = subprocess.run(
                ["docker", *listing, "--quiet", "--filter", label], capture_output=True, text=True, check=True
            ).stdout.split()
            if ids:
                subprocess.run(["docker", kind, "rm", "--force", *ids], capture_output=True, check=False)

    def down(self):
        # Every profile's containers: a --profile replaces COMPOSE_PROFILES, and "*" names them all.
        self.run("--profile", "*", "down", "--volumes", "--remove-orphans", "--timeout", "20", check=False)


def fill_exchange(compose, products=None, seed=1):
    """Write the stack's exchange volume (IMPORT_DATA_DIR): the shipped 12-product
    sample, or ``products`` generated products (their ids follow ``seed``)."""
    env = read_env(compose.env_file)
    image = f"{env.get('APP_IMAGE') or 'shop-app'}:{env['APP_TAG']}"
    code = (
        "import shutil; from pathlib import Path; from imports.sample import write_exchange; out = Path('/out'); "
        + (
            f"write_exchange(out, {int(products)}, {int(seed)})"
            if products
            else "[shutil.copy(f, out / f.name) for f in Path('imports/sample_data').glob('*.xml')]"
        )
    )
    subprocess.run(
        ["docker", "run", "--rm", "--user", "0", "--volume", f"{compose.project}_exchange:/out",
         "--entrypoint", "python", image, "-c", code],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip


def shell(compose, code):
    """Run Python in a one-off web container with Django set up; returns stdout."""
    return compose.manage("shell", "-c", code).stdout.strip()


def admin_session():
    """A requests session logged into the stack's admin through nginx."""
    return testkit.admin_session(BASE_URL, ADMIN_USER, ADMIN_PASSWORD)
