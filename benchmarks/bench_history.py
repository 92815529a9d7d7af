#!/usr/bin/env python
"""The 80 archived ICE lists (2021-2026) imported into one history: time, and whether every order agrees.

Nothing is dated by hand: the importer dates each file from its own clues.
Three ways in, on a fresh database:

- ``batch``: one ``snapshots_import`` of all files (given by name; it imports
  them oldest first), as ``import_ice_list FILE...`` does;
- ``each``: one ``snapshot_import`` per file, in publication order (the order
  the importer's dating gives), as one command per file would;
- ``shuffled``: one ``snapshot_import`` per file in a shuffled order (``--seed``).

Prints the time, peak RSS, event counts by kind and a digest of what every
list shows (its agencies, its agreements, its events) and of the agencies and
agreements overall. Two runs agree when their digests are equal; ``--save``
writes the per-list detail as JSON to compare lists when they are not.
With ``--commands``, each file (or the batch) goes through its own
``manage.py import_ice_sheet`` process, as a user would type it.

    .venv/bin/python benchmarks/bench_history.py --mode batch      # SQLite in var/bench-import/
    .venv/bin/python benchmarks/bench_history.py --mode shuffled --seed 3 --save var/s3.json
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python benchmarks/bench_history.py
    options: --archive DIR (default data/ice-287g/archive)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_import


def publication_order(paths: list[Path]) -> list[Path]:
    """The files in the order the importer dates them (as the batch import orders them)."""
    from django.utils import timezone

    from agreements import ice_sheet
    from agreements.services import dating

    now = timezone.now()
    keyed = []
    for path in paths:
        data = path.read_bytes()
        sheet = ice_sheet.read_ice_sheet(data, filename=path.name)
        dated = dating.weigh(sheet=sheet, filename=path.name, given=None, now=now)
        keyed.append(((dated.published_at, ice_sheet.sha256_of(data)), path))
    return [path for _, path in sorted(keyed)]


def run_commands(paths: list[Path], *, mode: str) -> list[str]:
    """One ``import_ice_sheet`` process for the batch or per file; returns the failures, named."""
    from django.db import connection

    env = dict(os.environ)
    if connection.vendor != "sqlite":  # the throwaway database made by fresh_database
        base, _, _ = env["DATABASE_URL"].rpartition("/")
        env["DATABASE_URL"] = f"{base}/{connection.settings_dict['NAME']}"
    manage = [sys.executable, str(bench_import.ROOT / "manage.py"), "import_ice_sheet"]
    groups = [paths] if mode == "batch" else [[path] for path in paths]
    failed = []
    for group in groups:
        done = subprocess.run([*manage, *map(str, group)], env=env, capture_output=True, text=True)
        if done.returncode:
            failed.append(f"{group[0].name}: {done.stderr.strip()[-160:]}")
    return failed


def import_files(paths: list[Path], *, mode: str) -> list[str]:
    """Import the files; returns the refusals, named."""
    from agreements.services import snapshot_import, snapshots_import

    if mode == "batch":
        return [e.summary() for e in snapshots_import(files=paths) if e.error]
    refused = []
    for path in paths:
        try:
            snapshot_import(file=path, filename=path.name)
        except Exception as exc:  # a crash is a figure too: name the file, keep going
            refused.append(f"{path.name}: {exc.__class__.__name__}: {str(exc)[:160]}")
    return refused


def lists_shown() -> dict[str, dict]:
    """What each list shows, by sha256: agencies, agreements, events; without database ids."""
    from agreements.models import Agency, Agreement, AgreementEvent, ListSnapshot, SnapshotRow

    names = {
        pk: (state, name) for pk, state, name in Agency.objects.values_list("id", "state", "name")
    }
    agreement_of = {
        pk: (*names[agency], model, str(signed), status)
        for pk, agency, model, signed, status in Agreement.objects.values_list(
            "id", "agency_id", "model", "signed_on", "status"
        )
    }
    shas = dict(ListSnapshot.objects.values_list("id", "sha256"))
    shown: dict[str, dict] = defaultdict(
        lambda: {"agencies": set(), "agreements": set(), "events": []}
    )
    for snapshot, agency, agreement in SnapshotRow.objects.values_list(
        "snapshot_id", "agency_id", "agreement_id"
    ).iterator(chunk_size=5000):
        entry = shown[shas[snapshot]]
        if agency:
            entry["agencies"].add(names[agency])
        if agreement:
            entry["agreements"].add(agreement_of[agreement])
    for snapshot, agreement, kind, field, old, new, previous in AgreementEvent.objects.values_list(
        "snapshot_id", "agreement_id", "kind", "field", "old_value", "new_value",
        "previous_snapshot_id",
    ):  # fmt: skip
        shown[shas[snapshot]]["events"].append(
            (agreement_of[agreement], kind, field, old, new, shas.get(previous))
        )
    for sha, held in ListSnapshot.objects.values_list("sha256", "held"):
        shown[sha]["held"] = held
    return {
        sha: {
            key: sorted(value, key=repr) if key != "held" else value for key, value in entry.items()
        }
        for sha, entry in sorted(shown.items())
    }


def digest(value: object) -> str:
    return hashlib.sha256(repr(value).encode()).hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=bench_import.ARCHIVE)
    parser.add_argument("--mode", choices=["batch", "each", "names", "shuffled"], default="batch")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--save", type=Path, help="write what each list shows to this JSON file")
    parser.add_argument("--commands", action="store_true", help="one manage.py process per import")
    args = parser.parse_args()
    bench_import.setup_django()
    name = bench_import.fresh_database()
    from django.db import connection

    from agreements.models import Agency, Agreement, AgreementEvent

    paths = sorted(args.archive.glob("*.xlsx"))
    if args.mode == "each":
        paths = publication_order(paths)
    elif args.mode == "shuffled":
        random.Random(args.seed).shuffle(paths)
    began = time.perf_counter()
    if args.commands:
        refused = run_commands(paths, mode=args.mode)
    else:
        refused = import_files(paths, mode=args.mode)
    took = time.perf_counter() - began
    what = {"batch": "one batch", "each": "one import per file in publication order",
            "names": "one import per file in file-name order",
            "shuffled": f"one import per file, shuffled (seed {args.seed})"}[args.mode]  # fmt: skip
    what += ", a manage.py process each" if args.commands else ""
    print(
        f"{connection.vendor}: {len(paths)} lists, {what}: {took:.1f} s, "
        f"peak RSS {bench_import.peak_rss_mb():.0f} MB, {len(refused)} refused"
    )
    for line in refused:
        print(f"  refused: {line}")
    kinds = Counter(AgreementEvent.objects.values_list("kind", flat=True))
    print(
        f"events {sum(kinds.values())}: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
    )
    shown = lists_shown()
    overall = {
        "agencies": sorted(Agency.objects.values_list("state", "name")),
        "agreements": sorted(
            Agreement.objects.values_list(
                "agency__state",
                "agency__name",
                "model",
                "signed_on",
                "status",
                "first_listed_at",
                "last_listed_at",
            ),
            key=repr,
        ),  # fmt: skip
        "lists": {sha: digest(entry) for sha, entry in shown.items()},
    }
    held = sum(1 for entry in shown.values() if entry.get("held"))
    print(
        f"agencies {len(overall['agencies'])}, agreements {len(overall['agreements'])}, "
        f"lists held {held}; history digest {digest(overall)}"
    )
    if args.save:
        args.save.write_text(
            json.dumps({"overall": overall, "lists": shown}, default=str, indent=1)
        )
    if connection.vendor != "sqlite":
        connection.creation.destroy_test_db(name, verbosity=0)


if __name__ == "__main__":
    main()
