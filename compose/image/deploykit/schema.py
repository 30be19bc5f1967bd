"""The migrations to undo for a rollback: ``python -m deploykit.schema [--apply] SCHEMA``.

SCHEMA is a release's recorded schema, each app's last migration as JSON
(``{"catalog": "0001_initial", ...}``: deploykit.release prints it, the
deploy log keeps it). Run in the image of the release that is running now,
which holds the migrations to undo. An app the recorded release did not have
is undone to zero. Prints one JSON line::

    schema: {"undo": ["catalog.0002_marker"], "irreversible": []}

"irreversible" names the migrations to undo with an operation Django cannot
reverse (a RunPython without reverse_code, a RunSQL without reverse_sql).
With --apply, and none irreversible, it undoes them (migrate backwards) and
prints the same line. Exits 1 with one line when the recorded migrations are
unknown to this release's code (squashed or removed since).
"""

import argparse
import json
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m deploykit.schema")
    parser.add_argument("schema", help="each app's last migration, as JSON")
    parser.add_argument("--apply", action="store_true", help="undo the migrations")
    args = parser.parse_args(argv)
    recorded = json.loads(args.schema)
    if not recorded:
        # Every Django project has migrations (contenttypes, auth): an empty record is a release step that did not
        # run, and taken as it reads it would undo every app to zero.
        print("schema: the release's record names no migration (its release step did not run there)", file=sys.stderr)
        return 1

    import django

    django.setup()
    from django.db import DEFAULT_DB_ALIAS, connections
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    graph = executor.loader.graph
    unknown = sorted(f"{app}.{name}" for app, name in recorded.items() if (app, name) not in graph.nodes)
    if unknown:
        print(f"schema: this release's code does not know the recorded migrations {', '.join(unknown)}",
              file=sys.stderr)  # fmt: skip
        return 1
    targets = [(app, recorded.get(app)) for app in sorted({app for app, _ in graph.leaf_nodes()})]
    full_plan = executor.migration_plan(targets)
    plan = [(migration, backwards) for migration, backwards in full_plan if backwards]
    if plan and len(plan) != len(full_plan):
        print("schema: the database is behind this release on some apps and ahead on others: migrate first",
              file=sys.stderr)  # fmt: skip
        return 1
    undo = [f"{migration.app_label}.{migration.name}" for migration, _ in plan]
    irreversible = [
        f"{migration.app_label}.{migration.name}"
        for migration, _ in plan
        if not all(operation.reversible for operation in migration.operations)
    ]
    if args.apply and undo and not irreversible:
        executor.migrate(targets, plan=full_plan)
    print(f"schema: {json.dumps({'undo': undo, 'irreversible': irreversible})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
