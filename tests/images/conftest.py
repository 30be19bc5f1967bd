"""A Docker engine and this run's own bridge network for the image tests; everything labelled is removed after."""

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: testkit
from imagekit import LABEL, NETWORK, docker, remove_everything


@pytest.fixture(scope="session", autouse=True)
def engine():
    # No engine is a failure, not a skip: these tests exist to run against one.
    if shutil.which("docker") is None:
        pytest.fail("no docker client on PATH: run `make docker`")
    if docker("info", check=False, timeout=30).returncode != 0:
        pytest.fail("no Docker engine answers: run `make docker`")
    docker("network", "create", "--label", LABEL, NETWORK)
    yield
    remove_everything()
