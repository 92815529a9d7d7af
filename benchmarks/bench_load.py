#!/usr/bin/env python
"""Mixed load on gunicorn: public pages and search together, many clients, zero errors.

Loads the corpus of ``../shared/bench/make_corpus.py`` the way ``bench_search.py``
does (agencies with an agreement each, published documents linked to agencies,
indexed once) into a fresh ``bench_*`` PostgreSQL database (or ``--reuse`` it),
starts gunicorn on loopback, then ``--concurrency`` clients replay a fixed mix
for ``--duration`` seconds: about half searches drawn from the corpus's words (with
and without filters), half public pages (home, directory, agency pages, state
pages, statistics, changes, documents list, a document). Prints the rate, p50/p95/p99,
every error by status (the target is none) and the load average.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_load .venv/bin/python benchmarks/bench_load.py
    options: -n 10000 --reuse --concurrency 8 --workers 2 --duration 60 --client wrk|httpx
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common
import bench_search as bs  # the corpus loader and helpers are shared

ROOT = bs.ROOT


def page_paths(seed: int) -> list[str]:
    """Public pages of the loaded database, sampled once (agencies, states, documents)."""
    from agreements.models import Agency
    from research.models import Document

    rng = random.Random(seed)
    slugs = list(Agency.objects.order_by("pk").values_list("slug", flat=True))
    states = sorted(set(Agency.objects.values_list("state", flat=True)))
    documents = list(Document.objects.order_by("pk").values_list("pk", flat=True)[:5000])
    fixed = ["/", "/agencies/", "/statistics/", "/changes/", "/documents/", "/agreements/"]
    paths = []
    for i in range(150):
        kind = i % 5
        if kind == 0:
            paths.append(fixed[(i // 5) % len(fixed)])
        elif kind == 1:
            paths.append(f"/agencies/{rng.choice(slugs)}/")
        elif kind == 2:
            paths.append(f"/states/{rng.choice(states)}/")
        elif kind == 3:
            paths.append(f"/documents/{rng.choice(documents)}/")
        else:
            paths.append(f"/agencies/?{urlencode({'state': rng.choice(states)})}")
    return paths


def search_paths(mix: list[tuple[str, dict]]) -> list[str]:
    paths = []
    for q, filters in mix:
        params = [("q", q)] + [(k, v) for k, vs in filters.items() for v in vs]
        paths.append(f"/search/?{urlencode(params)}")
    return paths


def threads_load(base: str, paths: list[str], *, concurrency: int, duration: float) -> dict:
    """Closed-loop load from Python threads (httpx); a timeout or refusal is an error too."""
    import httpx

    samples: list[float] = []
    statuses: Counter = Counter()
    failures: Counter = Counter()
    lock = threading.Lock()
    stop_at = time.monotonic() + duration

    def user(offset: int) -> None:
        i = offset * 37
        with httpx.Client(timeout=30, headers={"Accept-Encoding": "gzip"}) as client:
            while time.monotonic() < stop_at:
                path = paths[i % len(paths)]
                i += 1
                t0 = time.perf_counter()
                try:
                    status = client.get(base + path).status_code
                except httpx.HTTPError as exc:
                    status = None
                    with lock:
                        failures[f"{type(exc).__name__} {path}"] += 1
                elapsed = time.perf_counter() - t0
                with lock:
                    samples.append(elapsed)
                    statuses[status] += 1
                    if status is not None and status != 200:
                        failures[f"{status} {path}"] += 1

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(user, range(concurrency)))
    wall = time.perf_counter() - t0
    errors = sum(n for status, n in statuses.items() if status != 200)
    return {
        "line": bs.percentiles(samples),
        "n": len(samples),
        "errors": errors,
        "wall": wall,
        "failures": failures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    bs.add_corpus_arguments(parser, database=" (PostgreSQL, bench_*)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    args = parser.parse_args()

    os.environ.pop("REDIS_URL", None)  # each gunicorn worker caches in its own memory
    docs_path = bs.prepare_corpus(args)
    from django.db import connection

    paths = page_paths(args.seed)
    searches = search_paths(bs.query_mix(docs_path, 150, args.seed))
    mixed = [p for pair in zip(paths, searches, strict=True) for p in pair]
    connection.close()
    print(f"mix: {len(mixed)} URLs, half pages, half searches, e.g. {mixed[:4]}")
    print(f"reference loop (10M additions): {bs.reference_loop():.2f} s")

    with _common.gunicorn(args.workers, timeout=60) as (server, base):
        import httpx

        with httpx.Client(timeout=60) as client:  # every URL once: caches warm, errors seen
            warm = Counter(client.get(base + path).status_code for path in mixed)
        print(f"warm-up statuses: {dict(warm)}")
        client_kind = args.client or ("wrk" if shutil.which("wrk") else "httpx")
        load = bs.wrk_load if client_kind == "wrk" else threads_load
        cpu0 = _common.workers_cpu(server.pid)
        loadavg0 = Path("/proc/loadavg").read_text().split()[:3]
        result = load(
            base, [base + p for p in mixed] if client_kind == "wrk" else mixed,
            concurrency=args.concurrency, duration=args.duration,
        )  # fmt: skip
        cpu = _common.workers_cpu(server.pid) - cpu0
        loadavg1 = Path("/proc/loadavg").read_text().split()[:3]
    print(
        f"gunicorn {args.workers} workers, {args.concurrency} concurrent clients ({client_kind}), "
        f"pages and search for {result['wall']:.0f} s: {result['line']}, "
        f"{result['n'] / result['wall']:.1f} req/s, {result['errors']} errors"
    )
    for failure, count in result.get("failures", Counter()).most_common(10):
        print(f"  error x{count}: {failure}")
    print(
        f"  gunicorn workers' CPU {cpu:.1f} s, {cpu / max(result['n'], 1) * 1000:.1f} ms a request;"
        f" load average before {loadavg0}, after {loadavg1}"
    )
    print(f"reference loop (10M additions): {bs.reference_loop():.2f} s")
    if result["errors"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
