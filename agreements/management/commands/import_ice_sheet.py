"""Import ICE 287(g) spreadsheets as snapshots, oldest first, one summary line per file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime

from agreements.models import ListSnapshot
from agreements.services import SnapshotImportError, snapshots_import


class Command(BaseCommand):
    help = "Import ICE's participating or pending 287(g) list files (.xlsx)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
        parser.add_argument(
            "--published-at",
            help="Publication time (ISO 8601) when the file's own metadata should not be trusted.",
        )
        parser.add_argument(
            "--kind",
            choices=ListSnapshot.Kind.values,
            help="Force the list kind (normally detected from the header).",
        )
        parser.add_argument(
            "--accept-shrink",
            action="store_true",
            help=(
                "Apply a participating list even if it has fewer than half the rows of the one "
                "before (otherwise it is held for a curator); also applies an already held file."
            ),
        )

    def handle(
        self,
        *args,
        files: list[Path],
        published_at: str | None,
        kind: str | None,
        accept_shrink: bool = False,
        **options,
    ) -> None:
        when = _parse_time(published_at) if published_at else None
        try:
            entries = snapshots_import(
                files=files, published_at=when, kind=kind, accept_shrink=accept_shrink
            )
        except SnapshotImportError as exc:
            raise CommandError(str(exc)) from exc
        failed = 0
        for entry in entries:
            if entry.result is None:
                failed += 1
                self.stderr.write(entry.summary())
            else:
                self.stdout.write(entry.summary())
        if failed:
            raise CommandError(f"{failed} of {len(files)} files were not imported.")


def _parse_time(value: str) -> dt.datetime:
    parsed = parse_datetime(value)
    if parsed is None:
        try:
            parsed = dt.datetime.combine(dt.date.fromisoformat(value), dt.time())
        except ValueError:
            raise CommandError(
                f"--published-at {value!r} is not an ISO date or time, e.g. 2025-07-11T17:30-04:00."
            ) from None
    return parsed
