"""molecule/conftest.py: a testinfra run that collects no host fails instead of passing on zero tests.

Runs pytest the way molecule's verify step does (--connection=ansible --ansible-inventory=DIR), without
containers: an empty inventory, then one local host as the control.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

MOLECULE = Path(__file__).resolve().parents[2] / "molecule"
SCENARIO_TESTS = sorted(MOLECULE.glob("*/tests/test_*.py"))


def verify(inventory_dir, *tests, cwd=MOLECULE):
    """pytest as molecule's testinfra verifier runs it; returns (returncode, output)."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--connection=ansible", f"--ansible-inventory={inventory_dir}",
         *map(str, tests)],
        cwd=cwd, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
    )  # fmt: skip
    return result.returncode, result.stdout + result.stderr


def inventory(tmp_path, hosts):
    directory = tmp_path / "inventory"
    directory.mkdir()
    (directory / "hosts.yml").write_text(f"all:\n  hosts: {hosts}\n")
    return directory


def test_every_scenario_has_testinfra_files():
    assert {path.parts[-3] for path in SCENARIO_TESTS} == {"default", "docker", "base", "bad-input"}


def test_scenario_files_fail_when_the_inventory_has_no_host(tmp_path):
    returncode, output = verify(inventory(tmp_path, "{}"), *SCENARIO_TESTS)
    assert returncode != 0, output
    assert "no host was collected" in output, output
    # Each file is named: by the guard, or by testinfra's own collection error for the first one it reads.
    for path in SCENARIO_TESTS:
        assert str(path.relative_to(MOLECULE)) in output, f"{path} not named:\n{output}"


def test_the_guard_lets_a_run_with_a_host_through(tmp_path):
    # The same conftest and settings beside a probe file, against the machine running the tests.
    for name in ("conftest.py", "pytest.ini"):
        shutil.copy(MOLECULE / name, tmp_path / name)
    (tmp_path / "test_probe.py").write_text("def test_probe(host):\n    assert host.run('true').rc == 0\n")
    hosts = "{probe: {ansible_connection: local}}"
    returncode, output = verify(inventory(tmp_path, hosts), tmp_path / "test_probe.py", cwd=tmp_path)
    assert returncode == 0, output
    assert "1 passed" in output, output
