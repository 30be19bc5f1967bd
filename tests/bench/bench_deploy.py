"""make bench-deploy: how long the playbooks take against the sandbox VDS. Prints; asserts nothing.

1. a cold site.yml on a fresh sandbox (goal: <= 6 min);
2. a no-op re-run of site.yml (goal: <= 30 s, changed=0);
3. deploy.yml of a one-line code change, committed as a new release
   (goal: <= 90 s).
Runs from a throw-away clone of this repository (sharing .kit/ and .venv),
so the code change never touches your working tree. Removes the sandbox at
the end.
"""

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
RECAP = re.compile(r"^sandbox\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def run(clone, playbook, *args):
    started = time.monotonic()
    result = subprocess.run(
        [str(BIN / "ansible-playbook"), f"playbooks/{playbook}", *args],
        cwd=clone, capture_output=True, text=True, env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
    )  # fmt: skip
    seconds = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"{playbook} failed:\n{(result.stdout + result.stderr)[-4000:]}")
    match = RECAP.search(result.stdout)
    return seconds, int(match.group(2)) if match else None


def main():
    clone = Path(tempfile.mkdtemp(prefix="kit-bench-deploy-")) / "kit"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    (clone / ".kit").symlink_to(ROOT / ".kit")
    rows = []
    try:
        print("==> a fresh sandbox VDS", flush=True)
        run(clone, "sandbox.yml", "-e", "sandbox_state=absent")
        run(clone, "sandbox.yml")
        print("==> cold site.yml", flush=True)
        rows.append(("cold site.yml on a fresh sandbox", *run(clone, "site.yml"), "<= 360 s"))
        print("==> no-op site.yml", flush=True)
        rows.append(("no-op re-run of site.yml", *run(clone, "site.yml"), "<= 30 s, changed=0"))
        views = clone / "app" / "core" / "views.py"
        views.write_text(views.read_text() + f"# bench-deploy: a one-line change at {time.time():.0f}\n")
        subprocess.run(["git", "-C", str(clone), "commit", "--quiet", "-am", "bench: one-line change"], check=True,
                       env={**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@localhost",
                            "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@localhost"})  # fmt: skip
        print("==> deploy.yml of a one-line code change", flush=True)
        rows.append(("deploy.yml of a one-line change", *run(clone, "deploy.yml"), "<= 90 s"))
    finally:
        run(clone, "sandbox.yml", "-e", "sandbox_state=absent")
    print()
    print(f"{'run':36} {'seconds':>8} {'changed':>8}   goal")
    for label, seconds, changed, goal in rows:
        print(f"{label:36} {seconds:8.1f} {changed!s:>8}   {goal}")


if __name__ == "__main__":
    main()
