"""Restore a backup made by ``backup`` into an empty database and MEDIA_ROOT."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from portal.backup import BackupError, backup_restore


class Command(BaseCommand):
    help = (
        "Check a backup against its MANIFEST.sha256, then restore it into the database of "
        "DATABASE_URL (which must be empty) and MEDIA_ROOT."
    )

    def add_arguments(self, parser):
        parser.add_argument("folder", type=Path, help="A folder written by “manage.py backup”.")

    def handle(self, *args, folder: Path, **options):
        try:
            summary = backup_restore(folder=folder)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Restored {summary.summary()}")
