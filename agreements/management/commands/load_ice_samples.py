"""Import the ICE lists that ship with the portal (data/ice-287g/, archive/ included); safe to repeat.

The lists are imported one by one in the order of their publication, each with
the time its name gives: a capture's ``YYYYMMDDHHMMSS`` (UTC), or ICE's own
``MMDDYYYY`` + am/pm. Where ICE's name has no readable date, or one the
workbook's own modified time contradicts beyond the importer's tolerance (ICE
misdates some names), the modified time is used instead.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from agreements import ice_sheet
from agreements.ice_sheet.xlsx import core_times, open_archive
from agreements.services import SnapshotImportError, snapshot_import
from agreements.services.snapshots import DATE_TOLERANCE, time_from_filename

SAMPLES = Path(settings.BASE_DIR) / "data" / "ice-287g"
_CAPTURE_TIME = re.compile(r"-(\d{14})\.xlsx$", re.IGNORECASE)
# ICE's half-day names ("am"/"pm") are read as the start of the half day.
_NAME_SLACK = DATE_TOLERANCE + dt.timedelta(hours=12)


@dataclass(frozen=True)
class SampleList:
    path: Path
    data: bytes
    published_at: dt.datetime


def sample_published_at(path: Path, data: bytes) -> dt.datetime:
    """When the list was published, from its name (see the module docstring)."""
    capture = _CAPTURE_TIME.search(path.name)
    if capture:
        return dt.datetime.strptime(capture.group(1), "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)
    named = time_from_filename(path.name)
    try:
        modified, _ = core_times(open_archive(data, path.name))
    except ice_sheet.IceSheetError as exc:
        raise SnapshotImportError(str(exc)) from exc
    if modified is not None and (named is None or abs(named - modified) > _NAME_SLACK):
        return modified
    if named is None:
        raise SnapshotImportError(
            f"{path.name} carries no date in its name nor in the workbook; "
            "import it with import_ice_sheet --published-at."
        )
    return named


def sample_lists(folder: Path = SAMPLES) -> list[SampleList]:
    """Every .xlsx under ``folder``, oldest publication first."""
    found = []
    for path in folder.rglob("*.xlsx"):
        data = path.read_bytes()
        found.append(SampleList(path=path, data=data, published_at=sample_published_at(path, data)))
    return sorted(found, key=lambda sample: (sample.published_at, sample.path.name))


def samples_load(folder: Path = SAMPLES) -> list[str]:
    """Import every list under ``folder`` in publication order (known files change nothing)."""
    summaries = []
    for sample in sample_lists(folder):
        result = snapshot_import(
            file=sample.path, filename=sample.path.name, published_at=sample.published_at
        )
        summaries.append(result.summary())
    return summaries


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
        try:
            for line in samples_load(folder):
                self.stdout.write(line)
        except SnapshotImportError as exc:
            raise CommandError(str(exc)) from exc
