#!/usr/bin/env python
"""The 80 archived ICE lists (2021-2026) imported into one history: time and what it says.

Dates are given by hand from the file names (a capture timestamp in
``...-YYYYMMDDHHMMSS`` names, UTC; ICE's ``MMDDYYYYam|pm`` otherwise), so the
figures do not depend on how the importer dates a file. Prints the total time,
peak RSS and the count of each event kind, and with ``--order`` also the
agencies on the last list (to compare two orders).

    .venv/bin/python benchmarks/bench_history.py                   # date order, SQLite in var/
    .venv/bin/python benchmarks/bench_history.py --order shuffled --seed 3
    options: --archive DIR (default ../shared/data/ice-287g/archive)
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import random
import re
import resource
import sys
import time
import zoneinfo
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_import

ROOT = Path(__file__).resolve().parent.parent
ARCHIVE = ROOT.parent.parent / "shared" / "data" / "ice-287g" / "archive"
EASTERN = zoneinfo.ZoneInfo("America/New_York")
_CAPTURE = re.compile(r"-(\d{14})\.xlsx$")
_ICE = re.compile(r"(\d{2})(\d{2,3})(\d{4})(am|pm)\.xlsx$")


def archive_date(name: str) -> dt.datetime:
    """The publication time a file name gives (capture time in UTC, or ICE's half-day)."""
    capture = _CAPTURE.search(name)
    if capture:
        return dt.datetime.strptime(capture[1], "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)
    month, day, year, half = _ICE.search(name).groups()
    return dt.datetime(
        int(year), int(month), int(day[-2:]), 12 if half == "pm" else 0, tzinfo=EASTERN
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=ARCHIVE)
    parser.add_argument("--order", choices=["date", "name", "shuffled"], default="date")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--file-dates", action="store_true", help="let the importer date each file itself"
    )
    args = parser.parse_args()
    bench_import.setup_django()
    bench_import.fresh_database()
    from django.db.models import Count

    from agreements.models import Agency, AgreementEvent, ListSnapshot
    from agreements.services import snapshot_import

    files = sorted(args.archive.glob("*.xlsx"))
    if args.order == "date":
        files.sort(key=lambda p: archive_date(p.name))
    elif args.order == "shuffled":
        random.Random(args.seed).shuffle(files)
    start = time.perf_counter()
    for path in files:
        with path.open("rb") as handle:
            snapshot_import(
                file=handle,
                filename=path.name,
                published_at=None if args.file_dates else archive_date(path.name),
                accept_shrink=True,
            )
    took = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{len(files)} lists in {args.order} order: {took:.1f} s, peak RSS {rss:.0f} MB")
    kinds = AgreementEvent.objects.values("kind").annotate(n=Count("id")).order_by("kind")
    print(", ".join(f"{k['kind']} {k['n']}" for k in kinds))
    last = ListSnapshot.objects.filter(kind="participating").applied().newest_first().first()
    on_last = Agency.objects.filter(snapshot_rows__snapshot=last).distinct()
    print(f"agencies {Agency.objects.count()}, on the last list {on_last.count()}")
    agencies = sorted(Agency.objects.values_list("state", "name"))
    events = sorted(
        AgreementEvent.objects.values_list(
            "kind", "snapshot__sha256", "agency__state", "agency__name", "agreement__model",
            "agreement__signed_on", "field", "old_value", "new_value",
        )
    )  # fmt: skip
    digest = hashlib.sha256(repr((agencies, events)).encode()).hexdigest()[:16]
    print(f"history digest (agencies by name and state, events): {digest}")


if __name__ == "__main__":
    main()
