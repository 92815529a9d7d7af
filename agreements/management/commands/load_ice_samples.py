"""Import the ICE lists that ship with the portal (data/ice-287g/, archive/ included); safe to repeat."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from agreements.services import BatchEntry, snapshots_import

SAMPLES = Path(settings.BASE_DIR) / "data" / "ice-287g"


def sample_paths(folder: Path = SAMPLES) -> list[Path]:
    """Every .xlsx under ``folder``, its subfolders included."""
    return sorted(folder.rglob("*.xlsx"))


def samples_load(folder: Path = SAMPLES) -> list[BatchEntry]:
    """Import every list under ``folder`` as one batch, dated and ordered by the importer.

    Files already imported change nothing; a file refused does not stop the others.
    """
    return snapshots_import(files=sample_paths(folder))


def refusals(entries: list[BatchEntry]) -> CommandError | None:
    """The error to end a command with when some bundled lists were refused."""
    refused = [entry.filename for entry in entries if entry.error]
    if not refused:
        return None
    return CommandError(f"{len(refused)} bundled list(s) refused: {', '.join(refused)}.")


class Command(BaseCommand):
    help = (
        "Import the bundled ICE lists (data/ice-287g/, archive/ included) in publication order; "
        "already imported files are skipped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--folder", type=Path, default=SAMPLES)

    def handle(self, *args, folder: Path, **options) -> None:
        if not folder.is_dir():
            raise CommandError(f"{folder} is not a folder; pass --folder with the ICE .xlsx files.")
        entries = samples_load(folder)
        for entry in entries:
            self.stdout.write(entry.summary())
        error = refusals(entries)
        if error:
            raise error
