"""make bench-deploy: how long the playbooks take against the sandbox VDS. Prints; asserts nothing.

1. a cold site.yml on a fresh sandbox (goal: <= 150 s);
2. a no-op re-run of site.yml (goal: <= 45 s, changed=0);
3. a no-op deploy.yml (goal: <= 15 s, changed=0);
4. deploy.yml of a one-line code change, committed as a new release
   (goal: <= 90 s).
After the figures, the ten slowest tasks of each run (ansible.posix.profile_tasks).
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
# profile_tasks' summary lines: "role : task name ---- 1.23s"
TASK_TIME = re.compile(r"^(.+?) -{2,} (\d+\.\d+)s$", re.M)
PROFILE = {"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks", "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "10"}


def run(clone, playbook, *args, profile=True):
    started = time.monotonic()
    result = subprocess.run(
        [str(BIN / "ansible-playbook"), playbook, *args],
        cwd=clone, capture_output=True, text=True,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1", **(PROFILE if profile else {})},
    )  # fmt: skip
    seconds = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"{playbook} failed:\n{(result.stdout + result.stderr)[-4000:]}")
    match = RECAP.search(result.stdout)
    summary = result.stdout[match.end() :] if match else ""
    slowest = [(name.strip(), float(secs)) for name, secs in TASK_TIME.findall(summary)][:10]
    return seconds, int(match.group(2)) if match else None, slowest


def sandbox(clone, *args):
    run(clone, "sandbox/sandbox.yml", *args, profile=False)


def main():
    clone = Path(tempfile.mkdtemp(prefix="kit-bench-deploy-")) / "kit"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    (clone / ".kit").symlink_to(ROOT / ".kit")
    rows = []
    try:
        print("==> a fresh sandbox VDS", flush=True)
        sandbox(clone, "-e", "sandbox_state=absent")
        sandbox(clone)
        print("==> cold site.yml", flush=True)
        rows.append(("cold site.yml on a fresh sandbox", *run(clone, "playbooks/site.yml"), "<= 150 s"))
        print("==> no-op site.yml", flush=True)
        rows.append(("no-op re-run of site.yml", *run(clone, "playbooks/site.yml"), "<= 45 s, changed=0"))
        print("==> no-op deploy.yml", flush=True)
        rows.append(("no-op deploy.yml", *run(clone, "playbooks/deploy.yml"), "<= 15 s, changed=0"))
        views = clone / "app" / "core" / "views.py"
        views.write_text(views.read_text() + f"# bench-deploy: a one-line change at {time.time():.0f}\n")
        subprocess.run(["git", "-C", str(clone), "commit", "--quiet", "-am", "bench: one-line change"], check=True,
                       env={**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@localhost",
                            "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@localhost"})  # fmt: skip
        print("==> deploy.yml of a one-line code change", flush=True)
        rows.append(("deploy.yml of a one-line change", *run(clone, "playbooks/deploy.yml"), "<= 90 s"))
    finally:
        sandbox(clone, "-e", "sandbox_state=absent")
    print()
    print(f"{'run':36} {'seconds':>8} {'changed':>8}   goal")
    for label, seconds, changed, _, goal in rows:
        print(f"{label:36} {seconds:8.1f} {changed!s:>8}   {goal}")
    for label, _, _, slowest, _ in rows:
        print(f"\nthe ten slowest tasks of the {label}:")
        for name, secs in slowest:
            print(f"  {secs:6.2f} s  {name}")


if __name__ == "__main__":
    main()
