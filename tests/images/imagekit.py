"""Helpers for the image tests: docker, labelled and on this run's own network.

Everything a test makes (container, volume, network, image) carries the label
kit.test-images=<run> and is removed by the session fixture in conftest.py.
Ports are published on 127.0.0.1 only.
"""

import secrets
import subprocess
import time

import pytest

RUN = secrets.token_hex(4)
LABEL = f"kit.test-images={RUN}"
NETWORK = f"kit-test-images-{RUN}"
TAGS = {
    "python": "kit-local/python:3.13-slim",
    "postgres": "kit-local/postgres:17",
    "redis": "kit-local/redis:8",
    "nginx": "kit-local/nginx:1",
    "vds": "kit-local/vds:13",
}
# The servers run locked down the way the compose file runs them: a read-only
# root, every capability dropped but those needed to hand data directories to
# the service user and switch to it, no privilege gain.
HARDENED = [
    "--read-only", "--cap-drop", "ALL", "--cap-add", "CHOWN", "--cap-add", "SETUID", "--cap-add", "SETGID",
    "--security-opt", "no-new-privileges:true",
]  # fmt: skip


def docker(*args, check=True, timeout=120, stdin=None, env=None):
    """Run the docker CLI; with check, a failure (or a timeout) fails the test."""
    try:
        result = subprocess.run(
            ["docker", *args], input=stdin, capture_output=True, text=True, timeout=timeout, env=env
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"docker {' '.join(args)}: no answer within {timeout} s")
    if check and result.returncode != 0:
        pytest.fail(f"docker {' '.join(args)} failed ({result.returncode}): {result.stdout}{result.stderr}")
    return result


def out(*args, **kwargs):
    """docker's stdout, stripped."""
    return docker(*args, **kwargs).stdout.strip()


def name(what):
    """A container or volume name of this run."""
    return f"kit-test-{what}-{RUN}"


def image(key):
    """The tag of a kit-local image; a missing image fails the test (it is built, never pulled)."""
    tag = TAGS[key]
    if docker("image", "inspect", tag, check=False).returncode != 0:
        pytest.fail(f"{tag} is missing: run `make images sandbox-image` (scripts/images/build.sh)")
    return tag


def run(*args, **kwargs):
    """docker run, labelled, on this run's network."""
    return docker("run", "--label", LABEL, "--network", NETWORK, *args, **kwargs)


def start(container, *args):
    run("-d", "--name", container, *args)
    return container


def published(container, port):
    """host:port on 127.0.0.1 published to the container's port (it may change with a restart)."""
    return out("port", container, f"{port}/tcp").splitlines()[0]


def stop(container, exit_code=0):
    """docker stop must end the container cleanly (exit_code) well before docker's
    10 s grace period would turn into SIGKILL."""
    started = time.monotonic()
    docker("stop", container, timeout=30)
    seconds = time.monotonic() - started
    code = out("inspect", "-f", "{{.State.ExitCode}}", container)
    assert code == str(exit_code), f"{container} exited with {code} on docker stop, not {exit_code}"
    assert seconds < 9, f"{container} took {seconds:.1f} s to stop"


def remove_everything():
    """Remove what this run labelled: containers (with their anonymous volumes), volumes, images, the network."""
    for listing, remove in (
        (["ps", "-aq"], ["rm", "-f", "-v"]),
        (["volume", "ls", "-q"], ["volume", "rm", "-f"]),
        (["image", "ls", "-q"], ["rmi", "-f"]),
    ):
        ids = out(*listing, "--filter", f"label={LABEL}", check=False).split()
        if ids:
            docker(*remove, *ids, check=False, timeout=300)
    docker("network", "rm", NETWORK, check=False)
