"""Import the ICE lists that ship with the portal (data/ice-287g/*.xlsx); safe to repeat."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from agreements.services import SnapshotImportError, snapshot_import

SAMPLES = Path(settings.BASE_DIR) / "data" / "ice-287g"


def samples_load(folder: Path = SAMPLES) -> list[str]:
    """Import every .xlsx of ``folder`` (already imported files change nothing); summaries."""
    summaries = []
    for path in sorted(folder.glob("*.xlsx")):
        with path.open("rb") as handle:
            result = snapshot_import(file=handle, filename=path.name)
        summaries.append(result.summary())
    return summaries


class Command(BaseCommand):
    help = "Import the bundled sample ICE lists (data/ice-287g/*.xlsx); already imported files are skipped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--folder", type=Path, default=SAMPLES)

    def handle(self, *args, folder: Path, **options) -> None:
        if not folder.is_dir():
            raise CommandError(f"{folder} is not a folder; pass --folder with the ICE .xlsx files.")
        try:
            for line in samples_load(folder):
                self.stdout.write(line)
        except SnapshotImportError as exc:
            raise CommandError(str(exc)) from exc
