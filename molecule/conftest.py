"""Shared by the testinfra files of every scenario (molecule/*/tests/test_*.py).

testinfra runs each test once per host of molecule's inventory. With no host, pytest would mark every test
"skipped: got empty parameter set" and the verify step would pass having checked nothing. Here a test file
from which no host was collected stops the run instead, naming the file.
"""

import pytest
import testinfra.host


def pytest_collection_finish(session):
    hosts_by_file = {}
    for item in session.items:
        params = getattr(item, "callspec", None) and item.callspec.params
        host = params.get("_testinfra_host") if params else None
        hosts_by_file.setdefault(item.path, set())
        if isinstance(host, testinfra.host.Host):
            hosts_by_file[item.path].add(host.backend.get_pytest_id())
    empty = sorted(str(path) for path, hosts in hosts_by_file.items() if not hosts)
    if not hosts_by_file or empty:
        inventory = session.config.getoption("ansible_inventory", None)
        raise pytest.UsageError(
            f"no host was collected for {', '.join(empty) or 'any test file'} "
            f"(inventory: {inventory or 'none given'}): a verify that checks no host must not pass. "
            "Is the scenario created (molecule create), and does its platform belong to the group the tests use?"
        )
