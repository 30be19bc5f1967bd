from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from imports.sample import write_exchange


class Command(BaseCommand):
    help = "Write a sample 1C exchange (import.xml and offers.xml) to a directory, e.g. 20,000 products."

    def add_arguments(self, parser):
        parser.add_argument("directory", type=Path, help="where to write (IMPORT_DATA_DIR for the import to see it)")
        parser.add_argument("--products", type=int, default=20000, help="how many products (20000)")
        parser.add_argument("--seed", type=int, default=1, help="random seed: the same seed writes the same files")

    def handle(self, directory, products, seed, **options):
        if products < 1:
            raise CommandError(f"--products must be 1 or more, not {products}")
        if directory.exists() and not directory.is_dir():
            raise CommandError(f"{directory} exists and is not a directory")
        paths = write_exchange(directory, products, seed)
        for path in paths:
            self.stdout.write(f"wrote {path} ({path.stat().st_size // 1024} KiB)")
