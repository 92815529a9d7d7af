#!/usr/bin/env python
"""Run every benchmark at its issue's size, on the database named by DATABASE_URL.

    .venv/bin/python benchmarks/run_all.py            # full size (long: the search one loads 100,000 documents)
    .venv/bin/python benchmarks/run_all.py --quick    # small sizes, a smoke run

Each script prints its own figures; BENCHMARKS.md records the ones measured.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

FULL = {
    "bench_import.py": ["--rows", "1800", "--sequence", "100"],
    "bench_extract.py": ["--articles", "200", "--pages", "300"],
    "bench_link.py": ["--docs", "2000"],
    "bench_anchor.py": ["--pages", "300", "--notes", "1000"],
    "bench_pages.py": ["--requests", "200"],
    "bench_annotations.py": ["--notes", "200", "--requests", "100"],
    "bench_api.py": ["--requests", "50"],
    "bench_search.py": ["-n", "100000"],
    "bench_datasette.py": ["-n", "100000"],
    "bench_load.py": ["-n", "10000", "--duration", "60", "--concurrency", "8"],
    "bench_alerts.py": ["--watches", "10000", "--searches", "1000", "--researchers", "1000"],
}
QUICK = {
    "bench_import.py": ["--rows", "300", "--sequence", "5"],
    "bench_extract.py": ["--articles", "20", "--pages", "30"],
    "bench_link.py": ["--docs", "100"],
    "bench_anchor.py": ["--pages", "30", "--notes", "100"],
    "bench_pages.py": ["--requests", "20", "--no-gunicorn"],
    "bench_annotations.py": ["--notes", "200", "--requests", "10"],
    "bench_api.py": ["--requests", "10"],
    "bench_search.py": ["-n", "2000", "--no-gunicorn"],
    "bench_datasette.py": ["-n", "2000", "--duration", "3", "--warmup", "1"],
    "bench_load.py": ["-n", "2000", "--duration", "10", "--concurrency", "8"],
    "bench_alerts.py": ["--watches", "1000", "--searches", "100", "--researchers", "100"],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("only", nargs="*", help="run only these scripts (e.g. bench_search.py)")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    failed = []
    for script, script_args in plan.items():
        if args.only and script not in args.only:
            continue
        print(f"\n=== {script} {' '.join(script_args)}", flush=True)
        if subprocess.call([sys.executable, str(HERE / script), *script_args]) != 0:
            failed.append(script)
    if failed:
        print(f"\nFailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
