"""The compose stack, from nothing, for the tests in this directory (see stackkit.py)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: testkit
import testkit
from stackkit import PROJECT, Compose, fill_exchange, stack_env, write_env


@pytest.fixture(scope="session")
def stack_env_file(tmp_path_factory):
    env_file = tmp_path_factory.mktemp("stack") / "stack.env"
    write_env(env_file, stack_env())
    return env_file


@pytest.fixture(scope="session")
def app_image(stack_env_file):
    """Build the app image (every test here runs it), before any test needs it."""
    print("\n==> building the app image", flush=True)
    Compose(PROJECT, stack_env_file).build(capture=False)


@pytest.fixture(scope="session")
def stack(app_image, stack_env_file):
    compose = Compose(PROJECT, stack_env_file)
    compose.down()  # from nothing
    compose.run("run", "--rm", "--no-deps", "config")  # the env file's checker, as a deploy runs it first
    print("==> docker compose up --wait", flush=True)
    compose.run("up", "--detach", "--wait", "--wait-timeout", "300", timeout=600)
    compose.release()
    fill_exchange(compose)
    yield compose
    compose.down()


# Measured figures: printed as they come, and again at the run's end.
figure = pytest.fixture(testkit.figure)


def pytest_terminal_summary(terminalreporter):
    testkit.report_figures(terminalreporter, "the stack suite")
