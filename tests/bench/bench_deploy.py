"""make bench-deploy: how long the playbooks take against the sandbox VDS. Prints; asserts nothing.

1. a cold site.yml on a fresh sandbox (goal: <= 150 s);
2. a no-op re-run of site.yml (goal: <= 45 s, changed=0);
3. a no-op deploy.yml (goal: <= 15 s, changed=0);
4. deploy.yml of a one-line code change, committed as a new release, while a
   probe sends 20 GETs a second to /admin/login/ (goals: 0 failed requests,
   <= 30 s, <= 5 MB sent to the server);
5. the same for a release with one new migration.
For each run: the seconds, the tasks changed, the probe's failed requests, and
the bytes the sandbox received (its network interface's counter: the image
archives, and the modules Ansible sends for each task, which a no-op run shows
alone), and of those the image archives' bytes. After the
figures, the ten slowest tasks of each run (ansible.posix.profile_tasks).
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: testkit
from testkit import Probe

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
RECAP = re.compile(r"^sandbox\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
# The image archives' copy task's labels: "... layers held, 0.4 MB sent)"
IMAGE_SENT = re.compile(r"layers held, (\d+\.\d) MB sent\)")
# profile_tasks' summary lines: "role : task name ---- 1.23s"
TASK_TIME = re.compile(r"^(.+?) -{2,} (\d+\.\d+)s$", re.M)
PROFILE = {"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks", "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "10"}
PROBED = "http://127.0.0.1:8080/admin/login/"
# A migration that both releases run on (it adds a table): the "one new migration" release.
MIGRATION = """from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]
    operations = [migrations.RunSQL("CREATE TABLE bench_marker (id integer)", "DROP TABLE bench_marker")]
"""


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
    images = f"{sum(float(mb) for mb in IMAGE_SENT.findall(result.stdout)):.1f} MB"
    return seconds, int(match.group(2)) if match else None, slowest, images


def sandbox(clone, *args):
    run(clone, "sandbox/sandbox.yml", *args, profile=False)


def received_bytes():
    """What the sandbox VDS has received on its network interface so far."""
    return int(subprocess.run(["docker", "exec", "kit-vds", "cat", "/sys/class/net/eth0/statistics/rx_bytes"],
                              capture_output=True, text=True, check=True).stdout)  # fmt: skip


def measured(clone, playbook):
    """run(), with the bytes the sandbox received meanwhile."""
    before = received_bytes()
    *figures, images = run(clone, playbook)
    return *figures, "", f"{(received_bytes() - before) / 1e6:.1f} MB", images


def release(clone, label, change):
    """Commit ``change`` (a path and its new text) as a new release and deploy it under the probe."""
    path, text = change
    path.write_text(text)
    subprocess.run(["git", "-C", str(clone), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(clone), "commit", "--quiet", "-m", f"bench: {label}"], check=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@localhost",
                        "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@localhost"})  # fmt: skip
    print(f"==> deploy.yml of {label}", flush=True)
    before = received_bytes()
    with Probe(PROBED) as probe:
        seconds, changed, slowest, images = run(clone, "playbooks/deploy.yml")
    sent = f"{(received_bytes() - before) / 1e6:.1f} MB"
    return seconds, changed, slowest, f"{len(probe.failures)} of {probe.sent}", sent, images


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
        rows.append(("cold site.yml on a fresh sandbox", *measured(clone, "playbooks/site.yml"), "<= 150 s"))
        print("==> no-op site.yml", flush=True)
        rows.append(("no-op re-run of site.yml", *measured(clone, "playbooks/site.yml"), "<= 45 s, changed=0"))
        print("==> no-op deploy.yml", flush=True)
        rows.append(("no-op deploy.yml", *measured(clone, "playbooks/deploy.yml"), "<= 15 s, changed=0"))
        code = clone / "app" / "core" / "tasks.py"
        change = (code, code.read_text() + f"# bench-deploy: a one-line change at {time.time():.0f}\n")
        rows.append(("deploy.yml of a one-line change", *release(clone, "a one-line change", change),
                     "0 failed, <= 30 s, <= 5 MB"))  # fmt: skip
        migration = (clone / "app" / "catalog" / "migrations" / "0002_bench_marker.py", MIGRATION)
        rows.append(("deploy.yml with one new migration", *release(clone, "one new migration", migration),
                     "0 failed"))  # fmt: skip
    finally:
        sandbox(clone, "-e", "sandbox_state=absent")
    print()
    print(f"{'run':36} {'seconds':>8} {'changed':>8} {'failed requests':>16} {'received':>9} {'images':>9}   goal")
    for label, seconds, changed, _, failed, sent, images, goal in rows:
        print(f"{label:36} {seconds:8.1f} {changed!s:>8} {failed:>16} {sent:>9} {images:>9}   {goal}")
    for label, _, _, slowest, *_ in rows:
        print(f"\nthe ten slowest tasks of the {label}:")
        for name, secs in slowest:
            print(f"  {secs:6.2f} s  {name}")


if __name__ == "__main__":
    main()
