"""Back up the database (pg_dump) and the stored files, with a sha256 manifest."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from portal.backup import BackupError, backup_create


class Command(BaseCommand):
    help = (
        "Write the PostgreSQL database (pg_dump -Fc) and MEDIA_ROOT into a new folder, "
        "with MANIFEST.sha256 listing every file's sha256."
    )

    def add_arguments(self, parser):
        parser.add_argument("folder", type=Path, help="A new or empty folder for the backup.")

    def handle(self, *args, folder: Path, **options):
        try:
            summary = backup_create(folder=folder)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Backed up {summary.summary()}")
