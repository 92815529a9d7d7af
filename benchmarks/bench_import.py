#!/usr/bin/env python
"""Import speed of ICE's lists: one 1,800-row sheet, the same file again, 100 in sequence.

Builds participating sheets from the real July 2025 rows (tests/agreements/data),
varied to reach ``--rows`` rows with their MOA hyperlinks (half of them wrapped
in Outlook safelinks, as ICE's are), then on a fresh database measures:

- the first import of a ``--rows`` sheet (target < 3 s),
- importing the same file again (target < 0.3 s),
- ``--sequence`` snapshots in a row, each a little different from the one before
  (agreements delisted, relisted, counties corrected, new agencies, MOAs posted),
  total time and peak RSS (targets < 2 min and < 300 MB for 100).

With ``--archive``, the real history instead: the 80 archived lists of
data/ice-287g/archive/ (2021 to 2026, Wayback captures and ICE's workbooks) on a
fresh database, each run in its own process so that each peak RSS is its own:
``date``, one batch command (which imports them in publication order);
``shuffled``, one batch command given them shuffled; ``shuffled-each``, one import per file in
a shuffled order (as many commands would). Targets: < 40 s in order, at most
twice that shuffled, < 300 MB, one file again < 0.3 s.

    .venv/bin/python benchmarks/bench_import.py                  # SQLite file in var/bench-import/
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/h_a .venv/bin/python benchmarks/bench_import.py
    options: --rows 1800 --sequence 100
    .venv/bin/python benchmarks/bench_import.py --archive [all|date|shuffled|shuffled-each] [--seed 287]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var" / "bench-import"
SOURCE = ROOT / "tests" / "agreements" / "data" / "participatingAgencies07112025pm.xlsx"
ARCHIVE = ROOT / "data" / "ice-287g" / "archive"
HEADER = ["STATE", "LAW ENFORCEMENT AGENCY", "TYPE", "COUNTY", "SUPPORT TYPE", "SIGNED", "MOA"]


def setup_django() -> None:
    VAR.mkdir(parents=True, exist_ok=True)
    if "DATABASE_URL" not in os.environ:
        db = VAR / "bench.sqlite3"
        for leftover in (
            db,
            *(db.with_name(db.name + end) for end in ("-journal", "-wal", "-shm")),
        ):
            leftover.unlink(missing_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{db}"
    os.environ.setdefault("SECRET_KEY", "bench-import-not-secret-" + "0123456789abcdef" * 3)
    os.environ.setdefault("MEDIA_ROOT", str(VAR / "media"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def fresh_database() -> str:
    """Migrate an empty database; on PostgreSQL a throwaway test_* database."""
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor == "sqlite":
        call_command("migrate", verbosity=0)
        return connection.settings_dict["NAME"]
    return connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)


def real_rows() -> list[list]:
    import openpyxl

    sheet = openpyxl.load_workbook(SOURCE).active
    rows = []
    for cells in sheet.iter_rows(min_row=2, max_col=7):
        values = [c.value for c in cells]
        if any(v not in (None, "") for v in values):
            link = cells[6].hyperlink.target if cells[6].hyperlink else None
            rows.append([*values[:6], link])
    return rows


def base_rows(count: int) -> list[list]:
    """``count`` rows: the real ones, then variants of them under new agency names."""
    real = real_rows()
    rows = [list(r) for r in real]
    n = 0
    while len(rows) < count:
        source = real[n % len(real)]
        variant = list(source)
        variant[1] = f"{source[1]} Unit {n // len(real) + 2}"
        rows.append(variant)
        n += 1
    return rows[:count]


def vary(rows: list[list], step: int) -> list[list]:
    """The list as ICE might publish it ``step`` half-days later."""
    rng = random.Random(step)
    out = []
    for index, values in enumerate(rows):
        values = list(values)
        if rng.random() < 0.02:
            continue  # delisted this time (often relisted later)
        if rng.random() < 0.01:
            values[3] = "#N/A"
        if values[6] is None and rng.random() < 0.05:
            values[6] = f"https://www.ice.gov/doclib/287gMOA/bench_{index}.pdf"
        out.append(values)
    for extra in range(step * 3):
        out.append(
            ["TEXAS", f"Bench Town {extra} Police Department", "Municipality", "Travis County",
             "Task Force Model", dt.datetime(2025, 8, 1) + dt.timedelta(days=extra % 60), None]
        )  # fmt: skip
    rng.shuffle(out)
    return out


def sheet_bytes(rows: list[list]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for number, values in enumerate(rows, start=2):
        link = values[6]
        sheet.append([*values[:6], "link" if link else "link pending"])
        if link:
            if number % 2:
                link = f"https://gcc02.safelinks.protection.outlook.com/?url={quote(link, safe='')}&data=x"
            sheet.cell(row=number, column=7).hyperlink = link
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


ARCHIVE_ORDERS = ["date", "shuffled", "shuffled-each"]


def archive_lists(order: str, seed: int) -> list[Path]:
    """The archived lists by name ("date": the batch imports them in publication order), or shuffled."""
    paths = sorted(ARCHIVE.glob("*.xlsx"))
    if order != "date":
        random.Random(seed).shuffle(paths)
    return paths


def import_lists(paths: list[Path], *, each: bool) -> tuple[int, list[str]]:
    """Import ``paths`` in one batch command, or one import per file in the order given."""
    from agreements.services import snapshot_import, snapshots_import

    if not each:
        entries = snapshots_import(files=paths)
        refused = [entry.summary() for entry in entries if entry.error]
        return len(entries) - len(refused), refused
    imported, refused = 0, []
    for path in paths:
        try:
            snapshot_import(file=path, filename=path.name)
        except Exception as exc:  # a crash is a figure too: name the file, keep going
            refused.append(f"{path.name}: {exc.__class__.__name__}: {str(exc)[:160]}")
        else:
            imported += 1
    return imported, refused


def archive_run(order: str, seed: int) -> None:
    setup_django()
    from django.db import connection

    from agreements.models import AgreementEvent, ListSnapshot
    from agreements.services import snapshot_import

    name = fresh_database()
    lists = archive_lists(order, seed)
    began, began_cpu = time.perf_counter(), time.process_time()
    imported, refused = import_lists(lists, each=order == "shuffled-each")
    seconds, cpu = time.perf_counter() - began, time.process_time() - began_cpu
    what = {
        "date": "one command, publication order",
        "shuffled": f"one command, shuffled order (seed {seed})",
        "shuffled-each": f"one import per file, shuffled order (seed {seed})",
    }[order]
    print(
        f"{connection.vendor}: {len(lists)} archived lists in {what}: {seconds:.1f} s "
        f"(CPU {cpu:.1f} s), {imported} imported, {len(refused)} failed; "
        f"peak RSS {peak_rss_mb():.0f} MB"
    )
    for line in refused[:5]:
        print(f"  failed: {line}")
    print(
        f"  database now: {ListSnapshot.objects.count()} snapshots, "
        f"{AgreementEvent.objects.count()} events"
    )
    again = lists[-1]
    began = time.perf_counter()
    result = snapshot_import(file=again, filename=again.name)
    print(
        f"  {again.name} again: {(time.perf_counter() - began) * 1000:.0f} ms "
        f"(created={result.created})"
    )
    if connection.vendor != "sqlite":
        connection.creation.destroy_test_db(name, verbosity=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1800)
    parser.add_argument("--sequence", type=int, default=100)
    parser.add_argument(
        "--archive",
        nargs="?",
        const="all",
        choices=["all", *ARCHIVE_ORDERS],
        help="import the 80 archived lists instead (all: every order, each in its own process)",
    )
    parser.add_argument("--seed", type=int, default=287, help="seed of the shuffled order")
    args = parser.parse_args()
    if args.archive == "all":
        for order in ARCHIVE_ORDERS:
            command = [sys.executable, __file__, "--archive", order, "--seed", str(args.seed)]
            subprocess.run(command, check=True)
        return
    if args.archive:
        archive_run(args.archive, args.seed)
        return
    setup_django()
    from django.db import connection

    from agreements.models import AgreementEvent, ListSnapshot
    from agreements.services import snapshot_import

    name = fresh_database()
    print(f"database: {connection.vendor} {name}")
    rows = base_rows(args.rows)
    start = dt.datetime(2025, 8, 1, 12, tzinfo=dt.UTC)

    cpu = {"total": 0.0}

    def run(data: bytes, step: int):
        # Wall time, and this process's CPU time: on a busy machine the latter
        # shows the importer's own cost (the database's share is in wall time).
        began, began_cpu = time.perf_counter(), time.process_time()
        result = snapshot_import(
            file=io.BytesIO(data),
            filename=f"participatingAgencies_bench_{step}.xlsx",
            published_at=start + dt.timedelta(hours=12 * step),
        )
        cpu["last"] = time.process_time() - began_cpu
        cpu["total"] += cpu["last"]
        return result, time.perf_counter() - began

    first = sheet_bytes(rows)
    result, seconds = run(first, 0)
    print(
        f"first import, {result.rows} rows: {seconds:.2f} s (CPU {cpu['last']:.2f} s)"
        f"  [{result.summary()}]"
    )
    result, seconds = run(first, 0)
    print(f"same file again: {seconds * 1000:.0f} ms (created={result.created})")

    cpu["total"] = 0.0
    total = 0.0
    slowest = 0.0
    for step in range(1, args.sequence + 1):
        data = sheet_bytes(vary(rows, step))
        result, seconds = run(data, step)
        total += seconds
        slowest = max(slowest, seconds)
        if step % 10 == 0:
            print(
                f"  after {step}: {total:.1f} s (CPU {cpu['total']:.1f} s), "
                f"last {seconds:.2f} s, {peak_rss_mb():.0f} MB"
            )
    print(
        f"{args.sequence} snapshots in sequence: {total:.1f} s total, "
        f"{total / max(args.sequence, 1):.2f} s mean, {slowest:.2f} s slowest; "
        f"CPU {cpu['total']:.1f} s"
    )
    print(
        f"database now: {ListSnapshot.objects.count()} snapshots, "
        f"{AgreementEvent.objects.count()} events"
    )
    print(f"peak RSS: {peak_rss_mb():.0f} MB")
    if connection.vendor != "sqlite":
        connection.creation.destroy_test_db(name, verbosity=0)


if __name__ == "__main__":
    main()
