#!/usr/bin/python3
"""Back up, restore and drill one compose stack's data with restic.

Installed by the kit's backup role; every run reads one config file that the
role writes (KEY=VALUE lines, mode 0600):

    kit-backup --config /etc/kit-backup/shop.env init       # create the repository if missing
    kit-backup --config /etc/kit-backup/shop.env backup     # dump, snapshot, retention
    kit-backup --config /etc/kit-backup/shop.env check-snapshot [--snapshot ID]
    kit-backup --config /etc/kit-backup/shop.env restore --snapshot ID
    kit-backup --config /etc/kit-backup/shop.env verify     # the restore drill
    kit-backup --config /etc/kit-backup/shop.env verify --dump FILE   # the drill of a pg_dump file
    kit-backup --config /etc/kit-backup/shop.env status     # one JSON line

A snapshot holds the database (pg_dump, custom format, uncompressed so that
restic deduplicates and compresses it), the media volume, and a manifest with
each table's row count, read in the dump's own transaction snapshot: the drill
restores the dump and must find exactly those counts, and reports which tables
the live database has changed since.

With a managed database (MANAGED_DATABASE names its host) the provider's
backups apply to it: a backup holds the media and the manifest, and says so;
a restore puts back the media only; the drill needs a dump of the database
(``verify --dump``, a pg_dump -Fc file or the provider's export), which it
restores into a throw-away PostgreSQL (DRILL_IMAGE) and reads table by table.

Every command takes one lock per project, so a timer's backup, a deploy's
backup and a drill never overlap. Results go to <STATE_DIR>/last-*.json and
to standard output; nothing secret is printed.
"""

import argparse
import contextlib
import fcntl
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

DUMP = "db.dump"
MANIFEST = "manifest.json"
TAG = "kit"
# Every user table with its row count.
TABLES_SQL = (
    "SELECT s.schemaname || '.' || s.relname, "
    "(xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', s.schemaname, s.relname), "
    "false, true, '')))[1]::text FROM pg_stat_user_tables s ORDER BY 1"
)


class Failure(Exception):
    """A failure with a reason an operator can act on."""


def say(message):
    print(message, flush=True)


def read_config(path):
    config = {}
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as error:
        raise Failure(f"cannot read the config file {path}: {error.strerror}; run the backup role first") from None
    for line in lines:
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            config[key.strip()] = value
    for key in ("PROJECT", "STACK_ROOT", "RESTIC_REPOSITORY", "RESTIC_PASSWORD_FILE", "STATE_DIR"):
        if not config.get(key):
            raise Failure(f"{path} lacks {key}; run the backup role again")
    return config


class Stack:
    """The compose project: its db service and media volume."""

    def __init__(self, config):
        self.project = config["PROJECT"]
        self.compose = ["docker", "compose", "--project-directory", config["STACK_ROOT"], "-p", self.project]
        self.media_volume = config.get("MEDIA_VOLUME") or f"{self.project}_media"

    def db_container(self):
        ids = run([*self.compose, "ps", "-q", "db"]).stdout.split()
        if not ids:
            raise Failure(f"the {self.project} stack's db container is not running (docker compose ps db)")
        return ids[0]

    def psql(self, container, sql):
        """Rows of a query, run inside a postgres container as its own user."""
        script = 'psql -X -q -At -F "\t" -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "$SQL"'
        out = run(["docker", "exec", "-e", f"SQL={sql}", container, "sh", "-c", script]).stdout
        return [line.split("\t") for line in out.splitlines() if line]

    def tables(self, container):
        return {name: int(rows) for name, rows in self.psql(container, TABLES_SQL)}

    def consistent_dump(self, container, path):
        """The row counts and pg_dump, both read in one exported snapshot: the counts are the dump's."""
        session = subprocess.Popen(
            ["docker", "exec", "-i", container, "sh", "-c",
             'exec psql -X -q -At -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB"'],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

        def ask(sql):
            session.stdin.write(f"{sql};\nSELECT 'kit-backup: end';\n")
            session.stdin.flush()
            lines = []
            for line in session.stdout:
                if line.rstrip("\n") == "kit-backup: end":
                    return lines
                lines.append(line.rstrip("\n"))
            raise Failure(f"psql in the db container ended: {session.stderr.read().strip()[-300:]}")

        try:
            ask("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            [exported] = ask("SELECT pg_export_snapshot()")
            tables = {name: int(rows) for name, rows in (line.split("|") for line in ask(TABLES_SQL) if line)}
            size = pg_dump(container, path, f"--snapshot={exported}")
            ask("COMMIT")
        finally:
            session.stdin.close()
            session.wait(timeout=30)
        return tables, size

    def media_dir(self, create=False):
        result = run(["docker", "volume", "inspect", "-f", "{{.Mountpoint}}", self.media_volume], check=False)
        if result.returncode != 0:
            if not create:
                return None
            # Labelled as compose labels its own, so `up` adopts it without a warning.
            labels = [
                "--label",
                f"com.docker.compose.project={self.project}",
                "--label",
                "com.docker.compose.volume=media",
            ]
            run(["docker", "volume", "create", *labels, self.media_volume])
            return self.media_dir()
        return Path(result.stdout.strip())


def run(argv, check=True, **kwargs):
    kwargs.setdefault("capture_output", "stdout" not in kwargs)
    kwargs.setdefault("text", True)
    result = subprocess.run(argv, **kwargs)
    if check and result.returncode != 0:
        detail = (result.stderr or "").strip().splitlines()[-3:] if kwargs.get("capture_output") else []
        raise Failure(f"{' '.join(argv[:4])} … failed ({result.returncode}): {' / '.join(detail)}")
    return result


class Restic:
    def __init__(self, config):
        self.env = {**os.environ}
        passthrough = {"PROJECT", "STACK_ROOT", "STATE_DIR", "MEDIA_VOLUME", "KEEP_WITHIN", "KEEP_DAILY", "KEEP_WEEKLY",
                       "KEEP_MONTHLY", "VERIFY_READ_DATA_SUBSET"}  # fmt: skip
        self.env.update({k: v for k, v in config.items() if k not in passthrough})
        # restore.yml names the repository and password of its inventory.
        for name in ("RESTIC_REPOSITORY", "RESTIC_PASSWORD"):
            if os.environ.get(name):
                self.env[name] = os.environ[name]
        if os.environ.get("RESTIC_PASSWORD"):
            self.env.pop("RESTIC_PASSWORD_FILE", None)
        self.env.setdefault("RESTIC_CACHE_DIR", "/var/cache/restic")
        # Every snapshot of this project carries both; a repository may hold several projects.
        self.tags = f"{TAG},project={config['PROJECT']}"

    def __call__(self, *args, check=True, **kwargs):
        result = run(["restic", "--quiet", *args], check=False, env=self.env, **kwargs)
        if check and result.returncode != 0:
            raise Failure(self.explain(result))
        return result

    def explain(self, result):
        err = result.stderr or ""
        err = (err.decode(errors="replace") if isinstance(err, bytes) else err).strip()
        lines = err.splitlines()
        if result.returncode == 12 or "wrong password" in err:
            return "the restic password does not open the repository (backup_password in the vault)"
        if result.returncode == 10 or "repository does not exist" in err or "unable to open config file" in err:
            where = self.env["RESTIC_REPOSITORY"]
            return f"no restic repository at {where} (backup_repository); run the backup role to create it"
        if "no matching ID found" in err or "no snapshot found" in err or "invalid id" in err:
            return f"no such snapshot: {lines[-1] if lines else ''}; list them with: kit-backup status"
        # restic ends with advice; the lines that name the damage come before it.
        named = [line for line in lines if any(word in line.lower() for word in ("error", "pack ", "fatal"))]
        return f"restic failed ({result.returncode}): {' / '.join(line[:300] for line in (named or lines)[:4])}"

    def json(self, *args):
        return json.loads(self(*args, "--json").stdout or "null")

    def snapshot(self, wanted="latest"):
        """The snapshot asked for (an id, or "latest" of this project), checked to hold a database dump."""
        snapshots = self.json("snapshots", "--tag", self.tags)
        if not snapshots:
            raise Failure(f"the repository {self.env['RESTIC_REPOSITORY']} holds no backup yet")
        if wanted in ("", "latest"):
            chosen = max(snapshots, key=lambda s: s["time"])
        else:
            matches = [s for s in snapshots if s["id"].startswith(wanted) or s.get("short_id") == wanted]
            if len(matches) != 1:
                known = ", ".join(s["short_id"] for s in sorted(snapshots, key=lambda s: s["time"])[-5:])
                raise Failure(f"no snapshot {wanted!r} in the repository (the newest: {known})")
            chosen = matches[0]
        manifest = json.loads(self("dump", chosen["id"], chosen_path(chosen, MANIFEST)).stdout)
        return chosen, manifest


def chosen_path(snapshot, name):
    """Where a staged file (the dump, the manifest) sits inside the snapshot."""
    staging = [path for path in snapshot["paths"] if path.endswith("/staging")]
    if not staging:
        raise Failure(f"snapshot {snapshot['short_id']} was not made by kit-backup (no staging folder)")
    return f"{staging[0]}/{name}"


def state_file(config, name):
    return Path(config["STATE_DIR"]) / name


def record(config, name, result):
    path = state_file(config, name)
    path.write_text(json.dumps(result, indent=1) + "\n")
    return result


def now():
    return datetime.now(UTC).isoformat(timespec="seconds")


def human(size):
    if size < 1024:
        return f"{size} B"
    for unit in ("KiB", "MiB", "GiB"):
        size /= 1024
        if size < 1024 or unit == "GiB":
            return f"{size:.1f} {unit}"


# -- commands ---------------------------------------------------------------


def cmd_init(config, restic, stack, args):
    result = restic("cat", "config", check=False)
    if result.returncode == 0:
        say("repository exists")
        return
    missing = result.returncode == 10 or "does not exist" in result.stderr or "unable to open config" in result.stderr
    if not missing:  # a wrong password, an unreachable server: never init over it
        raise Failure(restic.explain(result))
    restic("init")
    say(f"repository created at {config['RESTIC_REPOSITORY']}")


def cmd_backup(config, restic, stack, args):
    started = time.monotonic()
    staging = Path(config["STATE_DIR"]) / "staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o700)
    managed = config.get("MANAGED_DATABASE")
    if managed:
        say(f"the database is managed ({managed}): its provider's backups apply; this backup holds the media only")
        tables, dump_size = {}, 0
    else:
        db = stack.db_container()
        say("dumping the database …")
        tables, dump_size = stack.consistent_dump(db, staging / DUMP)
        say(f"database dump: {len(tables)} tables, {human(dump_size)} in {time.monotonic() - started:.1f} s")
    media = stack.media_dir()
    manifest = {"project": stack.project, "time": now(), "host": socket.gethostname(), "tables": tables,
                "media": str(media) if media else None, "dump_bytes": dump_size,
                "managed_database": managed or None}  # fmt: skip
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    paths = [str(staging)] + ([str(media)] if media else [])
    say("restic backup …")
    tags = ["--tag", restic.tags] + [x for t in args.tag for x in ("--tag", t)]
    lines = restic("backup", "--json", *tags, *paths).stdout.splitlines()
    summary = next(json.loads(line) for line in reversed(lines) if '"message_type":"summary"' in line)
    shutil.rmtree(staging, ignore_errors=True)
    say(f"snapshot {summary['snapshot_id'][:8]}: {human(summary['total_bytes_processed'])} read, "
        f"{human(summary['data_added_packed'])} new in the repository")  # fmt: skip
    keep = [f"--keep-{k}={config.get(f'KEEP_{k.upper()}', '0')}" for k in ("daily", "weekly", "monthly")]
    keep.append(f"--keep-within={config.get('KEEP_WITHIN') or '0d'}")
    say("restic forget --prune (" + " ".join(keep) + ") …")
    restic("forget", "--tag", restic.tags, "--group-by", "", *keep, "--prune")
    result = record(config, "last-backup.json", {
        "ok": True, "time": now(), "snapshot": summary["snapshot_id"], "short_id": summary["snapshot_id"][:8],
        "tags": args.tag, "database": not managed, "seconds": round(time.monotonic() - started, 1),
        "dump_bytes": dump_size,
        "bytes_read": summary["total_bytes_processed"], "bytes_added": summary["data_added_packed"],
    })  # fmt: skip
    say(f"backup done in {result['seconds']} s: snapshot {result['short_id']}")
    say(json.dumps(result))


def pg_dump(container, path, *options):
    """The stack's database, dumped (custom format, uncompressed) to ``path``; returns its size."""
    script = 'exec pg_dump -U "$POSTGRES_USER" -d "$POSTGRES_DB" -Fc --compress=0 "$@"'
    with open(path, "wb") as out:
        dump = subprocess.run(
            ["docker", "exec", container, "sh", "-c", script, "pg_dump", *options],
            stdout=out,
            stderr=subprocess.PIPE,
        )
    if dump.returncode != 0:
        raise Failure(f"pg_dump failed: {dump.stderr.decode(errors='replace').strip()[-300:]}")
    return path.stat().st_size


def pg_restore(container, path, *options):
    """``path``, a pg_dump archive, restored into the container's database (POSTGRES_USER, POSTGRES_DB)."""
    script = 'exec pg_restore -U "$POSTGRES_USER" -d "$POSTGRES_DB" --no-owner --exit-on-error "$@"'
    with open(path, "rb") as source:
        result = subprocess.run(
            ["docker", "exec", "-i", container, "sh", "-c", script, "pg_restore", *options],
            stdin=source,
            capture_output=True,
        )
    if result.returncode != 0:
        raise Failure(f"pg_restore failed: {result.stderr.decode(errors='replace').strip()[-300:]}")


def fetch_dump(restic, snapshot, directory):
    """The snapshot's database dump, written to ``directory``; returns its path."""
    path = Path(directory) / DUMP
    with open(path, "wb") as out:
        restic(
            "dump",
            snapshot["id"],
            chosen_path(snapshot, DUMP),
            stdout=out,
            capture_output=False,
            stderr=subprocess.PIPE,
        )
    return path


def cmd_check_snapshot(config, restic, stack, args):
    snapshot, manifest = restic.snapshot(args.snapshot)
    say(json.dumps({"snapshot": snapshot["id"], "short_id": snapshot["short_id"], "time": snapshot["time"],
                    "host": snapshot["hostname"], "tables": len(manifest["tables"]),
                    "media": bool(manifest.get("media"))}))  # fmt: skip


def cmd_restore(config, restic, stack, args):
    started = time.monotonic()
    snapshot, manifest = restic.snapshot(args.snapshot)
    if config.get("MANAGED_DATABASE") or manifest.get("managed_database"):
        say(f"the database is managed ({config.get('MANAGED_DATABASE') or manifest['managed_database']}): restore it "
            "from the provider's backups; this restore puts back the media only")  # fmt: skip
    else:
        restore_database(config, restic, stack, snapshot, started)
    if manifest.get("media"):
        media = stack.media_dir(create=True)
        restic("restore", f"{snapshot['id']}:{manifest['media']}", "--target", str(media), "--delete")
        say(f"media restored into {media}")
    result = {"ok": True, "time": now(), "snapshot": snapshot["id"], "seconds": round(time.monotonic() - started, 1)}
    say(json.dumps(record(config, "last-restore.json", result)))


def restore_database(config, restic, stack, snapshot, started):
    """The snapshot's dump in place of the stack's database, which is kept as pre-restore.dump first."""
    db = stack.db_container()
    with tempfile.TemporaryDirectory(dir=config["STATE_DIR"]) as tmp:
        dump = fetch_dump(restic, snapshot, tmp)
        say(f"snapshot {snapshot['short_id']} ({snapshot['time'][:19]}): database dump {human(dump.stat().st_size)}")
        # The database about to be replaced, kept until the next restore.
        kept = pg_dump(db, Path(config["STATE_DIR"]) / "pre-restore.dump")
        say(f"the current database is kept as {config['STATE_DIR']}/pre-restore.dump ({human(kept)})")
        recreate = (
            'export PGUSER="$POSTGRES_USER"; dropdb --force --if-exists "$POSTGRES_DB" && createdb "$POSTGRES_DB"'
        )
        # The maintenance database: the stack's own is the one dropped.
        run(["docker", "exec", "-e", "PGDATABASE=postgres", db, "sh", "-c", recreate])
        pg_restore(db, dump, "--single-transaction")
    say(f"database restored in {time.monotonic() - started:.1f} s")


def cmd_verify(config, restic, stack, args):
    started = time.monotonic()
    result = {"ok": False, "time": now()}
    managed = config.get("MANAGED_DATABASE")
    try:
        if args.dump:
            result["dump"] = args.dump
            result["tables"] = drill_dump(config, stack, Path(args.dump))
        elif managed:
            raise Failure(
                f"the database is managed ({managed}): its provider's backups apply, and the drill needs a "
                "dump of it: kit-backup verify --dump FILE (a pg_dump -Fc file, or the provider's export)"
            )
        else:
            drill_snapshot(config, restic, stack, result)
        result["ok"] = True
    except Failure as error:
        result["error"] = str(error)
        raise
    finally:
        result["seconds"] = round(time.monotonic() - started, 1)
        record(config, "last-verify.json", result)
        say(json.dumps({k: v for k, v in result.items() if k != "tables"}))
    tables = result["tables"]
    if args.dump:
        rows = sum(v["restored"] for v in tables.values())
        say(f"drill passed: dump {args.dump}, {len(tables)} tables, {rows} rows restored, in {result['seconds']} s")
    else:
        changed = sum(1 for v in tables.values() if v["verdict"] == "changed since")
        say(f"drill passed: snapshot {result['short_id']}, {len(tables)} tables, "
            f"{changed} changed since the snapshot, in {result['seconds']} s")  # fmt: skip


def drill_snapshot(config, restic, stack, result):
    """The latest snapshot: the repository read in part, its dump restored and judged against its manifest
    (result["tables"], also when they fail)."""
    snapshot, manifest = restic.snapshot("latest")
    result.update(snapshot=snapshot["id"], short_id=snapshot["short_id"], snapshot_time=snapshot["time"])
    subset = config.get("VERIFY_READ_DATA_SUBSET") or "5%"
    say(f"restic check --read-data-subset={subset} …")
    restic("check", f"--read-data-subset={subset}")
    live = stack.db_container()
    with tempfile.TemporaryDirectory(dir=config["STATE_DIR"]) as tmp, scratch_postgres(stack, image_of(live)) as db:
        pg_restore(db, fetch_dump(restic, snapshot, tmp))
        restored = stack.tables(db)
    now_live = stack.tables(live)
    verdicts = {}
    for table, rows in manifest["tables"].items():
        got, current = restored.get(table), now_live.get(table)
        if got is None:
            verdict = "missing"
        elif got != rows:
            verdict = "wrong"
        else:
            verdict = "equal" if current == got else "changed since"
        verdicts[table] = {"verdict": verdict, "snapshot": rows, "restored": got, "live": current}
    missing = [t for t, v in verdicts.items() if v["verdict"] == "missing"]
    if missing:
        raise Failure(f"tables missing from the restored dump: {', '.join(missing)}")
    result["tables"] = verdicts
    bad = {t: v for t, v in verdicts.items() if v["verdict"] == "wrong"}
    if bad:
        counts = ", ".join(f"{t} ({v['restored']} restored, {v['snapshot']} when dumped)" for t, v in bad.items())
        raise Failure(f"the restored tables do not hold the rows they had when dumped: {counts}")


def drill_dump(config, stack, path):
    """A pg_dump file restored into a throw-away PostgreSQL; with the stack's own database, every table of it
    must be in the dump."""
    if not path.is_file():
        raise Failure(f"no dump at {path}: give the path, on this server, of a pg_dump -Fc file")
    live = None if config.get("MANAGED_DATABASE") else stack.db_container()
    image = image_of(live) if live else config.get("DRILL_IMAGE")
    if not image:
        raise Failure(f"{path}: no PostgreSQL image to drill it in (DRILL_IMAGE); run the backup role again")
    say(f"restoring {path} ({human(path.stat().st_size)}) into a throw-away PostgreSQL …")
    with scratch_postgres(stack, image) as scratch:
        pg_restore(scratch, path)
        restored = stack.tables(scratch)
    if not restored:
        raise Failure(f"{path} restored no table: is it a dump of the app's database?")
    verdicts = {table: {"verdict": "restored", "restored": rows} for table, rows in restored.items()}
    if live:
        missing = sorted(set(stack.tables(live)) - set(restored))
        if missing:
            raise Failure(f"tables of the live database missing from {path}: {', '.join(missing)}")
    return verdicts


def image_of(container):
    return run(["docker", "inspect", "-f", "{{.Config.Image}}", container]).stdout.strip()


@contextlib.contextmanager
def scratch_postgres(stack, image):
    """A throw-away PostgreSQL, no network, its data on a tmpfs; ready when it is given."""
    name = f"kit-drill-{stack.project}"
    run(["docker", "rm", "-f", name], check=False)
    password = f"POSTGRES_PASSWORD={secrets.token_hex(16)}"
    run(["docker", "run", "-d", "--rm", "--name", name, "--network", "none", "--tmpfs", "/var/lib/postgresql/data",
         "-e", "POSTGRES_USER=drill", "-e", "POSTGRES_DB=drill", "-e", password, image])  # fmt: skip
    try:
        ready = ["docker", "exec", name, "pg_isready", "-q", "-h", "127.0.0.1", "-U", "drill"]
        for _ in range(60):
            if run(ready, check=False).returncode == 0:
                break
            time.sleep(1)
        else:
            raise Failure("the drill's scratch PostgreSQL did not start in 60 s")
        yield name
    finally:
        run(["docker", "rm", "-f", name], check=False)


def cmd_status(config, restic, stack, args):
    status = {"project": stack.project, "repository": config["RESTIC_REPOSITORY"],
              "managed_database": config.get("MANAGED_DATABASE") or None}  # fmt: skip
    for name in ("backup", "verify"):
        path = state_file(config, f"last-{name}.json")
        last = json.loads(path.read_text()) if path.exists() else None
        if last:
            age = datetime.now(UTC) - datetime.fromisoformat(last["time"])
            last = {k: v for k, v in last.items() if k != "tables"} | {
                "age_hours": round(age.total_seconds() / 3600, 1)
            }
        status[f"last_{name}"] = last
    try:
        stats = restic.json("stats", "--mode", "raw-data")
        snapshots = restic.json("snapshots", "--tag", restic.tags)
        status["repository_bytes"] = stats.get("total_size")
        status["snapshots"] = len(snapshots or [])
        status["newest"] = [
            s["short_id"] + " " + s["time"][:19] for s in sorted(snapshots or [], key=lambda s: s["time"])[-3:]
        ]
    except Failure as error:
        status["repository_error"] = str(error)
    say(json.dumps(status))


COMMANDS = {
    "init": cmd_init,
    "backup": cmd_backup,
    "check-snapshot": cmd_check_snapshot,
    "restore": cmd_restore,
    "verify": cmd_verify,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("init")
    backup = sub.add_parser("backup")
    backup.add_argument("--tag", action="append", default=[], help="an extra tag, e.g. pre-deploy")
    for name in ("check-snapshot", "restore"):
        sub.add_parser(name).add_argument("--snapshot", default="latest")
    sub.add_parser("verify").add_argument("--dump", help="drill this pg_dump file instead of the latest snapshot")
    sub.add_parser("status")
    args = parser.parse_args()
    config = None
    try:
        config = read_config(args.config)
        Path(config["STATE_DIR"]).mkdir(mode=0o700, parents=True, exist_ok=True)
        restic, stack = Restic(config), Stack(config)
        if args.command == "status":
            return cmd_status(config, restic, stack, args)
        with open(state_file(config, "lock"), "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                say("another backup, restore or drill of this project is running; waiting for it …")
                fcntl.flock(lock, fcntl.LOCK_EX)
            COMMANDS[args.command](config, restic, stack, args)
    except Failure as error:
        if args.command == "backup" and config:
            record(config, "last-backup.json", {"ok": False, "time": now(), "error": str(error)})
        print(f"kit-backup {args.command}: {error}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
