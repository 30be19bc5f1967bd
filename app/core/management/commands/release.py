"""Prepare a release before the stack (re)starts: ``manage.py release``.

The steps a deploy runs before web, worker and beat start on the new code, in
one process, so that a deploy starts one one-off container rather than three:

1. ``migrate --noinput``;
2. ``collectstatic --noinput``;
3. with ``DJANGO_SUPERUSER_USERNAME`` set (and ``DJANGO_SUPERUSER_PASSWORD``,
   ``DJANGO_SUPERUSER_EMAIL``, the names ``createsuperuser`` reads): create
   that superuser unless a user of that name exists. An existing user is left
   as it is, password included.

Each step's own output is printed as it runs; the last line is a summary that
the deploy reads to tell whether anything changed::

    release: {"migrations": 0, "static_files": 0, "superuser": "exists"}

A failing step stops the command (exit 1) before the next one.
"""

import json
import os

from django.contrib.auth import get_user_model
from django.contrib.staticfiles.management.commands import collectstatic
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor


def pending_migrations(database=DEFAULT_DB_ALIAS):
    executor = MigrationExecutor(connections[database])
    return executor.migration_plan(executor.loader.graph.leaf_nodes())


class Command(BaseCommand):
    help = "Run the migrations and collectstatic, and create the superuser named in the environment if missing."

    def handle(self, *args, verbosity, **options):
        summary = {"migrations": len(pending_migrations())}
        self.stdout.write(f"==> migrate ({summary['migrations']} to apply)")
        call_command("migrate", interactive=False, verbosity=verbosity, stdout=self.stdout, stderr=self.stderr)

        self.stdout.write("==> collectstatic")
        collect = collectstatic.Command(stdout=self.stdout, stderr=self.stderr)
        call_command(collect, interactive=False, verbosity=verbosity)
        summary["static_files"] = len(collect.copied_files) + len(collect.symlinked_files)

        summary["superuser"] = self.ensure_superuser()
        self.stdout.write(f"release: {json.dumps(summary)}")

    def ensure_superuser(self):
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME", "")
        if not username:
            return "skipped"
        users = get_user_model()
        if users.objects.filter(**{users.USERNAME_FIELD: username}).exists():
            self.stdout.write(f"==> superuser {username}: exists, left as it is")
            return "exists"
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD", "")
        if not password:
            raise CommandError(
                f"DJANGO_SUPERUSER_USERNAME is {username!r} but DJANGO_SUPERUSER_PASSWORD is empty: "
                "set the password too, or unset the username to create no superuser"
            )
        users.objects.create_superuser(username, os.environ.get("DJANGO_SUPERUSER_EMAIL", ""), password)
        self.stdout.write(f"==> superuser {username}: created")
        return "created"
