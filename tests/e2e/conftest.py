"""A fresh sandbox VDS with site.yml applied over SSH, shared by the tests here."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: testkit
import testkit
from e2ekit import playbook


@pytest.fixture(scope="session")
def deployed():
    """The output of a first site.yml run against a new sandbox."""
    playbook("sandbox/sandbox.yml", "-e", "sandbox_state=absent")
    playbook("sandbox/sandbox.yml")
    _, output, recap = playbook("site.yml")
    assert recap["failed"] == 0 and recap["unreachable"] == 0
    return output


# Measured figures: printed as they come, and again at the run's end.
figure = pytest.fixture(testkit.figure)


def pytest_terminal_summary(terminalreporter):
    testkit.report_figures(terminalreporter, "the end-to-end suite")
