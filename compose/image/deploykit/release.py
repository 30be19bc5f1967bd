"""Prepare a release before the stack (re)starts: ``python -m deploykit.release``.

Django's own commands, in one process, so that a deploy starts one one-off
container rather than three:

1. ``migrate --noinput``;
2. ``collectstatic --noinput``;
3. with ``DJANGO_SUPERUSER_USERNAME`` set (and ``DJANGO_SUPERUSER_PASSWORD``,
   ``DJANGO_SUPERUSER_EMAIL``, which ``createsuperuser --noinput`` reads):
   ``createsuperuser --noinput`` unless a user of that name exists. An
   existing user is left as it is, password included.

Each step's own output is printed as it runs; the last line is a summary that
the deploy reads to tell whether anything changed::

    release: {"migrations": 0, "static_files": 0, "superuser": "exists", "applied": [], "schema": {...}}

"applied" names the migrations this run applied (app.name); "schema" is each
app's last migration once it is done, the database's state for this release
(the deploy log keeps both).

A failing step stops it (exit 1) before the next one.
"""

import json
import os
import sys


def migration_executor():
    from django.db import DEFAULT_DB_ALIAS, connections
    from django.db.migrations.executor import MigrationExecutor

    return MigrationExecutor(connections[DEFAULT_DB_ALIAS])


def pending_migrations():
    executor = migration_executor()
    return executor.migration_plan(executor.loader.graph.leaf_nodes())


def schema():
    """Each app's last migration (the graph's leaves), all applied after migrate."""
    return dict(sorted(migration_executor().loader.graph.leaf_nodes()))


def ensure_superuser(out):
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    username = os.environ.get("DJANGO_SUPERUSER_USERNAME", "")
    if not username:
        return "skipped"
    users = get_user_model()
    if users.objects.filter(**{users.USERNAME_FIELD: username}).exists():
        out.write(f"==> superuser {username}: exists, left as it is\n")
        return "exists"
    if not os.environ.get("DJANGO_SUPERUSER_PASSWORD", ""):
        raise SystemExit(
            f"release: DJANGO_SUPERUSER_USERNAME is {username!r} but DJANGO_SUPERUSER_PASSWORD is empty: "
            "set the password too, or unset the username to create no superuser"
        )
    call_command("createsuperuser", interactive=False, stdout=out)
    out.write(f"==> superuser {username}: created\n")
    return "created"


def main():
    import django

    django.setup()
    from django.contrib.staticfiles.management.commands import collectstatic
    from django.core.management import call_command

    out = sys.stdout
    pending = pending_migrations()
    summary = {"migrations": len(pending)}
    out.write(f"==> migrate ({summary['migrations']} to apply)\n")
    call_command("migrate", interactive=False, stdout=out)

    out.write("==> collectstatic\n")
    collect = collectstatic.Command(stdout=out)
    call_command(collect, interactive=False)
    summary["static_files"] = len(collect.copied_files) + len(collect.symlinked_files)

    summary["superuser"] = ensure_superuser(out)
    summary["applied"] = [f"{migration.app_label}.{migration.name}" for migration, _ in pending]
    summary["schema"] = schema()
    out.write(f"release: {json.dumps(summary)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
