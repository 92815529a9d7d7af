#!/usr/bin/env python
"""Latency and query counts of the agreements API on a realistic database.

Reuses the database that ``bench_pages.py`` builds (~3,000 agencies, a year of
twice-monthly ICE lists with rows and events) and requests each endpoint N
times in-process, printing p50/p95/max in milliseconds and the number of SQL
queries per request (which must not grow with the page size).

    .venv/bin/python benchmarks/bench_api.py                  # SQLite in var/bench-pages/
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_b .venv/bin/python benchmarks/bench_api.py
    options: --requests 100 --agencies PATH --rebuild
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_pages  # the shared benchmark database builder


def targets(rng: random.Random) -> dict[str, list[str]]:
    from agreements.models import Agency, ListSnapshot

    slugs = list(Agency.objects.values_list("slug", flat=True)[:3000])
    snapshot_ids = list(ListSnapshot.objects.values_list("pk", flat=True))
    days = [dt.date(2024, 8, 1) + dt.timedelta(days=rng.randrange(365)) for _ in range(50)]
    return {
        "stats as_of": [f"/api/v1/stats/?as_of={d:%Y-%m-%d}" for d in days],
        "agencies p50": ["/api/v1/agencies/", "/api/v1/agencies/?state=TX&model=TFM"],
        "agencies p500": ["/api/v1/agencies/?page_size=500"],
        "agency detail": [f"/api/v1/agencies/{s}/" for s in rng.sample(slugs, 50)],
        "agreements as_of": [f"/api/v1/agreements/?as_of={d:%Y-%m-%d}" for d in days],
        "agreements p500": ["/api/v1/agreements/?page_size=500&status=active"],
        "events": ["/api/v1/events/", "/api/v1/events/?kind=delisted&since=2025-01-01"],
        "snapshots": ["/api/v1/snapshots/"],
        "snapshot detail": [f"/api/v1/snapshots/{pk}/" for pk in snapshot_ids[:20]],
    }


def bench(urls: dict[str, list[str]], requests: int) -> None:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    for name, paths in urls.items():
        for path in paths[:3]:
            assert client.get(path).status_code == 200, path
        with CaptureQueriesContext(connection) as queries:
            client.get(paths[0])
        # Read now: every request clears the connection's query log.
        query_count = len(queries.captured_queries)
        timings = []
        for i in range(requests):
            start = time.perf_counter()
            response = client.get(paths[i % len(paths)])
            timings.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200
        print(f"{bench_pages.summary(name, timings)}  queries={query_count}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--agencies", help="agencies JSONL from make_corpus.py --agencies")
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    bench_pages.setup_django()
    from django.conf import settings
    from django.db import connection
    from rest_framework.settings import api_settings

    # Measure the API, not the rate limit that protects it.
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_CLASSES": []}
    api_settings.reload()

    bench_pages.build(bench_pages.agencies_jsonl(args.agencies), rebuild=args.rebuild)
    print(f"database: {connection.vendor} ({connection.settings_dict['NAME']})")
    bench(targets(random.Random(2)), args.requests)


if __name__ == "__main__":
    main()
