"""make bench-stack: figures for the compose stack, side by side. Prints; asserts nothing.

- requests/s and p99 latency of a Django page (the admin login) through
  nginx + gunicorn, and through `manage.py runserver` in the same image;
- 1,000 short tasks end to end: tasks/s and enqueue-to-finish latency (the
  shipped demo task core.example_async_task, so no bench code is in the image);
- the stack's memory at idle, summed over its containers (goal <= 400 MiB);
- the app image's size (goal <= 250 MB).
Uses its own compose project (kit-bench) on 127.0.0.1:18090/18091 and removes
it at the end. Needs wrk (make bench-stack installs it).
"""

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: testkit
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stack"))  # stackkit
from stackkit import Compose, stack_env, write_env

HTTP_PORT, RUNSERVER_PORT = 18090, 18091
PAGE = "/admin/login/"
# Run by `manage.py shell -c` in a one-off web container: sends N trivial tasks at
# once, waits for every result, prints key=value lines. Latency is from send to
# the result's date_done (the worker's clock: same host, same clock).
TASKS = """
import statistics, time
from core.tasks import example_async_task
n = {tasks}
started = time.time()
sent = [(time.time(), example_async_task.delay("bench", 0)) for _ in range(n)]
for _, result in sent:
    result.get(timeout=300)
finished = time.time()
latencies = sorted((result.date_done.timestamp() - at) * 1000 for at, result in sent)
print(f"tasks_per_second={{n / (finished - started):.1f}}")
print(f"latency_median_ms={{statistics.median(latencies):.1f}}")
print(f"latency_p95_ms={{latencies[int(n * 0.95)]:.1f}}")
"""
CGROUP = Path("/sys/fs/cgroup")
# What gunicorn chose in the web container (compose/image/deploykit/gunicorn.py).
WORKERS = "import deploykit.gunicorn as g; print(f'{g.workers} {g.worker_class} workers x {g.threads} threads')"


def say(text):
    print(f"==> {text}", flush=True)


def wrk(url, seconds=15, connections=32):
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    value, unit = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
    p99_ms = float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, p99_ms, int(errors.group(1)) if errors else 0


def container_memory(pid):
    """The memory use of the container whose main process is ``pid``, as `docker stats`
    counts it: usage less inactive page cache.

    Read from the container's cgroup, because `docker stats` reports 0 B on
    hosts where the daemon cannot find the cgroup mount (seen on the CI host)."""
    paths = {}  # controller -> cgroup path, from the lines "id:controllers:path"
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        paths.update({controller: path.lstrip("/") for controller in controllers.split(",")})
    if "memory" in paths:  # cgroup v1
        directory, usage_file, inactive_key = (
            CGROUP / "memory" / paths["memory"],
            "memory.usage_in_bytes",
            "total_inactive_file",
        )
    else:  # cgroup v2: one unified hierarchy, the line "0::/path"
        directory, usage_file, inactive_key = CGROUP / paths[""], "memory.current", "inactive_file"
    try:
        usage = int((directory / usage_file).read_text())
        stat = dict(line.split() for line in (directory / "memory.stat").read_text().splitlines())
    except OSError as exc:
        sys.exit(f"cannot read the memory of the container of pid {pid} from its cgroup {directory}: {exc}")
    return usage - min(int(stat.get(inactive_key, 0)), usage)


def wait_http(url, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if subprocess.run(["curl", "-fsS", "-o", "/dev/null", url], capture_output=True).returncode == 0:
            return
        time.sleep(1)
    sys.exit(f"{url} did not answer within {timeout} s")


def main():
    env_file = Path(tempfile.mkdtemp(prefix="kit-bench-")) / "bench.env"
    values = stack_env(
        HTTP_PORT=str(HTTP_PORT),
        HTTPS_PORT=str(HTTP_PORT + 6),
        FLOWER_PORT=str(HTTP_PORT + 5),
        APP_TAG="bench",
        LOG_LEVEL="WARNING",
    )
    values["CSRF_TRUSTED_ORIGINS"] = f"http://127.0.0.1:{HTTP_PORT}"
    write_env(env_file, values)
    stack = Compose("kit-bench", env_file)
    stack.down()
    try:
        say("building the app image and starting the stack")
        stack.build()
        stack.run("up", "--detach", "--wait", "--wait-timeout", "300", timeout=600)
        stack.release()

        image = f"{stack_env()['APP_IMAGE']}:bench"
        image_mb = int(subprocess.check_output(["docker", "image", "inspect", "-f", "{{.Size}}", image])) / 1e6

        say("letting the stack settle for 20 s, then reading its memory")
        time.sleep(20)
        ids = subprocess.check_output(
            ["docker", "ps", "-q", "--filter", "label=com.docker.compose.project=kit-bench"], text=True
        ).split()
        inspected = subprocess.check_output(["docker", "inspect", "-f", "{{.Name}} {{.State.Pid}}", *ids], text=True)
        memory = {
            name.strip("/").removeprefix("kit-bench-").removesuffix("-1"): container_memory(pid)
            for name, pid in (line.split() for line in inspected.splitlines())
        }
        if len(memory) < 6 or not all(memory.values()):
            sys.exit(f"the memory read is implausible (a container at 0 B, or one missing): {memory}")

        say(f"load on {PAGE} through nginx + gunicorn (wrk, 15 s, 32 connections)")
        wait_http(f"http://127.0.0.1:{HTTP_PORT}{PAGE}")
        gunicorn = wrk(f"http://127.0.0.1:{HTTP_PORT}{PAGE}")
        workers = stack.run("exec", "-T", "web", "python", "-c", WORKERS).stdout.strip()
        say("the same page from manage.py runserver in the same image")
        stack.run("run", "--detach", "--name", "kit-bench-runserver", "--publish", f"127.0.0.1:{RUNSERVER_PORT}:8000",
                  "web", "python", "manage.py", "runserver", "0.0.0.0:8000", "--noreload")  # fmt: skip
        wait_http(f"http://127.0.0.1:{RUNSERVER_PORT}{PAGE}")
        runserver = wrk(f"http://127.0.0.1:{RUNSERVER_PORT}{PAGE}")
        subprocess.run(["docker", "rm", "-f", "kit-bench-runserver"], capture_output=True, check=False)

        say("1,000 short tasks through Redis and the worker")
        out = stack.manage("shell", "-c", TASKS.format(tasks=1000)).stdout
        tasks = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    finally:
        subprocess.run(["docker", "rm", "-f", "kit-bench-runserver"], capture_output=True, check=False)
        stack.down()

    print()
    print(f"{'page ' + PAGE:40} {'requests/s':>11} {'p99 ms':>8} {'errors':>7}")
    for label, (rps, p99, errors) in (("nginx + gunicorn", gunicorn), ("manage.py runserver", runserver)):
        print(f"{label:40} {rps:11,.0f} {p99:8.1f} {errors:7}")
    print(f"gunicorn: {workers}; {gunicorn[0] / runserver[0]:.2f}x runserver's requests/s "
          f"(goal: >= 1.8x; p99 goal: <= 150 ms at 32 connections)")  # fmt: skip
    print()
    rate, median, p95 = (float(tasks[k]) for k in ("tasks_per_second", "latency_median_ms", "latency_p95_ms"))
    print(f"1,000 tasks: {rate:,.0f} tasks/s; enqueue-to-finish latency median {median:.1f} ms, p95 {p95:.1f} ms")
    print()
    total = sum(memory.values())
    print("memory at idle: " + ", ".join(f"{name} {value / 2**20:.0f} MiB" for name, value in sorted(memory.items())))
    print(f"memory at idle, all containers: {total / 2**20:.0f} MiB (goal: <= 400 MiB)")
    print(f"app image: {image_mb:.0f} MB (goal: <= 250 MB)")


if __name__ == "__main__":
    main()
