"""make bench-import: import 20,000 products through a real Celery worker and print products/s.

Runs against the PostgreSQL and Redis of scripts/services.sh, in a database of
its own (kit_bench) and Redis databases 4-6, so it never touches the tests'
or a developer's data. Prints figures; asserts nothing (goal: >= 2,000 products/s
on the 2-core CI host, progress updates on).
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

APP_DIR = Path(__file__).resolve().parents[2] / "app"
PRODUCTS = int(os.environ.get("BENCH_PRODUCTS", "20000"))
REDIS = "redis://:kit-test@127.0.0.1:6380"
ENV = {
    "DATABASE_URL": "postgres://kit:kit@127.0.0.1:5432/kit_bench",
    "CELERY_BROKER_URL": f"{REDIS}/4",
    "CELERY_RESULT_BACKEND": f"{REDIS}/5",
    "REDIS_URL": f"{REDIS}/6",
    "SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnop",
    "DEBUG": "false",
    "LOG_LEVEL": "WARNING",
}
for name, value in ENV.items():
    os.environ.setdefault(name, value)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
sys.path.insert(0, str(APP_DIR))


def ensure_database():
    import psycopg

    with psycopg.connect("postgresql://kit:kit@127.0.0.1:5432/kit", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'kit_bench'").fetchone():
            conn.execute("CREATE DATABASE kit_bench")


def main():
    ensure_database()
    data_dir = Path(tempfile.mkdtemp(prefix="kit-bench-"))
    os.environ["IMPORT_DATA_DIR"] = str(data_dir)

    import django

    django.setup()
    from django.core.management import call_command

    from catalog.models import Product
    from config.celery import app
    from core.redis import get_redis
    from imports import lock
    from imports.sample import write_exchange
    from imports.services import launch_import

    call_command("migrate", verbosity=0)
    print(f"==> writing a {PRODUCTS:,}-product exchange to {data_dir}", flush=True)
    write_exchange(data_dir, PRODUCTS)
    get_redis().delete(lock.LOCK_NAME)

    log = open(data_dir / "worker.log", "wb")  # noqa: SIM115 - closed after the worker stops
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-c",
            "1",
            "-n",
            "bench@localhost",
            "--without-gossip",
            "--without-mingle",
            "-l",
            "WARNING",
        ],
        cwd=APP_DIR,
        env=os.environ.copy(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not app.control.ping(destination=["bench@localhost"], timeout=0.5):
            if worker.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"the benchmark worker did not start; see {data_dir / 'worker.log'}")
        rows = []
        Product.objects.all().delete()
        for label, import_type in (
            ("catalogue, new products", "catalogue"),
            ("catalogue, updates", "catalogue"),
            ("full (products + prices + stock)", "full"),
        ):
            print(f"==> importing: {label}", flush=True)
            launched = time.monotonic()
            session = launch_import(import_type)
            while True:
                session.refresh_from_db()
                if not session.is_active:
                    break
                time.sleep(0.05)
            wall = time.monotonic() - launched
            if session.status != "succeeded":
                sys.exit(f"import failed: {session.error_message}")
            run = (session.finished_at - session.started_at).total_seconds()
            rows.append(
                (label, PRODUCTS / run, session.progress_total / run, run, wall, session.report.get("progress_writes"))
            )
    finally:
        worker.terminate()
        worker.wait()
        log.close()

    print()
    print(f"{'import':34} {'products/s':>11} {'items/s':>9} {'task s':>7} {'wall s':>7} {'progress writes':>16}")
    for label, products_s, items_s, run, wall, writes in rows:
        print(f"{label:34} {products_s:11,.0f} {items_s:9,.0f} {run:7.2f} {wall:7.2f} {writes:16}")
    print(f"\n{PRODUCTS:,} products per run; goal: >= 2,000 products/s with progress updates on.")
    print("task s: task start to finish; wall s: launch to finish as the admin sees it.")


if __name__ == "__main__":
    main()
