#!/usr/bin/env python
"""p95 latency of the home, agency, statistics, state, directory and changes pages on a realistic database.

Builds (once) a database of ~3,000 agencies from the benchmark corpus
(``../shared/bench/make_corpus.py --agencies``), their agreements, a year of
twice-monthly ICE lists with their rows and events, and some linked documents;
then requests each page N times in-process with Django's test client, and
against gunicorn on loopback (single user, then concurrent users), and prints
p50/p95/max in milliseconds, the CPU time per request (this process in-process;
the gunicorn workers' over HTTP; the PostgreSQL server's share is in neither)
and the load average. Target: p95 < 100 ms.

Pages cache their costly sections under the version of the data they show,
which changes when a list is imported or a document published (about twice a
day). The steady-state figures are what users see between such changes (each
process renders each page once first); "cold" figures are the first request
after a change: the cache is emptied before each one (in-process only).

    .venv/bin/python benchmarks/bench_pages.py                 # SQLite in var/bench-pages/
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_e .venv/bin/python benchmarks/bench_pages.py
    options: --requests 200 --cold 30 --pages home,agency --agencies PATH --rebuild
             --no-gunicorn --workers 2 --concurrency 4
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import _common

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var" / "bench-pages"
CORPUS = ROOT.parent / "shared" / "bench" / "make_corpus.py"


def setup_django() -> None:
    VAR.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{VAR / 'bench.sqlite3'}")
    _common.setup_django(VAR, "pages")


def agencies_jsonl(path: str | None) -> Path:
    if path:
        return Path(path)
    target = VAR / "agencies.jsonl"
    if not target.exists():
        docs = VAR / "docs-unused.jsonl"
        subprocess.run(
            [sys.executable, str(CORPUS), "-n", "1", "-o", str(docs), "--agencies", str(target)],
            check=True,
            capture_output=True,
        )
    return target


def build(agencies_path: Path, *, rebuild: bool) -> None:
    """Populate the database (skipped when it already holds the agencies)."""
    from django.core.management import call_command
    from django.utils import timezone
    from django.utils.text import slugify

    from agreements.models import (
        Agency,
        AgencyKind,
        Agreement,
        AgreementEvent,
        ListSnapshot,
        SnapshotRow,
    )
    from research.models import Document, DocumentAgency

    call_command("migrate", verbosity=0, interactive=False)
    if ListSnapshot.objects.exists() and not rebuild:
        return
    if True:  # start from a clean slate (also after an interrupted build)
        for model in (AgreementEvent, SnapshotRow, ListSnapshot, DocumentAgency, Document):
            model.objects.all().delete()
        Agreement.objects.all().delete()
        Agency.objects.all().delete()
    started = time.perf_counter()
    rng = random.Random(287)
    kinds = {"sheriff": AgencyKind.COUNTY, "police": AgencyKind.MUNICIPALITY}
    seen: set[tuple[str, str]] = set()
    agencies = []
    for line in agencies_path.read_text().splitlines():
        item = json.loads(line)
        key = (item["state"], slugify(item["name"]))
        if key in seen:
            continue
        seen.add(key)
        agencies.append(
            Agency(
                name=item["name"],
                state=item["state"],
                slug=slugify(f"{item['name']} {item['state']}")[:250],
                kind=kinds.get(item["kind"], AgencyKind.OTHER),
                name_key=key[1],
            )
        )
    Agency.objects.bulk_create(agencies, batch_size=1000)
    agencies = list(Agency.objects.all())
    start = dt.date(2024, 8, 1)
    publications = [
        timezone.make_aware(dt.datetime.combine(start + dt.timedelta(days=15 * i), dt.time(9)))
        for i in range(24)
    ]
    agreements = []
    for agency in agencies:
        for model in rng.sample(["JEM", "TFM", "WSO"], k=rng.choice([1, 1, 1, 2])):
            first = rng.randrange(len(publications)) if rng.random() < 0.6 else 0
            signed = publications[first].date() - dt.timedelta(
                days=rng.randrange(5, 2000 if first == 0 else 20)
            )
            ended = rng.random() < 0.05
            agreements.append(
                Agreement(
                    agency=agency,
                    model=model,
                    signed_on=signed,
                    status=Agreement.Status.ENDED if ended else Agreement.Status.ACTIVE,
                    first_listed_at=publications[first],
                    last_listed_at=publications[max(first, len(publications) - 4) if ended else -1],
                )
            )
    Agreement.objects.bulk_create(agreements, batch_size=1000)
    agreements = list(Agreement.objects.select_related("agency"))
    previous = None
    for n, published in enumerate(publications):
        digest = hashlib.sha256(f"bench-snapshot-{n}".encode()).hexdigest()
        snapshot = ListSnapshot.objects.create(
            kind=ListSnapshot.Kind.PARTICIPATING,
            published_at=published,
            published_at_source=ListSnapshot.PublishedAtSource.ARGUMENT,
            sha256=digest,
            file=f"snapshots/bench/{digest[:12]}.xlsx",
            original_filename=f"participatingAgencies{published:%m%d%Y}am.xlsx",
            header=["STATE", "LAW ENFORCEMENT AGENCY", "TYPE", "COUNTY", "SUPPORT TYPE", "SIGNED"],
            warnings=[{"row": 5, "column": "SIGNED", "value": "n/a", "message": "Blank date."}],
        )
        on_list = [a for a in agreements if a.first_listed_at <= published <= a.last_listed_at]
        rows = [
            SnapshotRow(
                snapshot=snapshot,
                row_number=i + 2,
                raw={"STATE": a.agency.state, "LAW ENFORCEMENT AGENCY": a.agency.name},
                state=a.agency.state,
                agency_name=a.agency.name,
                model=a.model,
                signed_on=a.signed_on,
                agency=a.agency,
                agreement=a,
            )
            for i, a in enumerate(on_list)
        ]
        SnapshotRow.objects.bulk_create(rows, batch_size=2000)
        ListSnapshot.objects.filter(pk=snapshot.pk).update(row_count=len(rows))
        events = [
            AgreementEvent(
                agreement=a,
                agency=a.agency,
                kind=AgreementEvent.Kind.SIGNED,
                occurred_at=published,
                snapshot=snapshot,
                previous_snapshot=previous,
            )
            for a in agreements
            if a.first_listed_at == published and n > 0
        ] + [
            AgreementEvent(
                agreement=a,
                agency=a.agency,
                kind=AgreementEvent.Kind.DELISTED,
                occurred_at=published,
                snapshot=snapshot,
                previous_snapshot=previous,
            )
            for a in agreements
            if previous is not None
            and a.last_listed_at == previous.published_at
            and a.last_listed_at != publications[-1]
        ]
        AgreementEvent.objects.bulk_create(events, batch_size=2000)
        previous = snapshot
    documents = Document.objects.bulk_create(
        [
            Document(
                title=f"Sheriff's office and 287(g): report {i}",
                publisher="The Bench Gazette",
                published_on=dt.date(2025, 1, 1) + dt.timedelta(days=i % 300),
                status=Document.Status.PUBLISHED,
                status_changed_at=timezone.now() - dt.timedelta(minutes=i),
                text="A news-length article. " * 200,
            )
            for i in range(2000)
        ],
        batch_size=500,
    )
    DocumentAgency.objects.bulk_create(
        [
            DocumentAgency(
                document=d, agency=rng.choice(agencies), status=DocumentAgency.Status.CONFIRMED
            )
            for d in documents
        ],
        batch_size=1000,
        ignore_conflicts=True,
    )
    print(
        f"built: {len(agencies)} agencies, {len(agreements)} agreements, {len(publications)} lists, "
        f"{SnapshotRow.objects.count()} rows, {AgreementEvent.objects.count()} events, "
        f"{len(documents)} documents in {time.perf_counter() - started:.0f} s"
    )


def targets(rng: random.Random) -> dict[str, list[str]]:
    from agreements.models import Agency, ListSnapshot

    slugs = list(
        Agency.objects.filter(agreements__isnull=False).values_list("slug", flat=True)[:3000]
    )
    agencies = [f"/agencies/{s}/" for s in rng.sample(slugs, 100)]
    days = [dt.date(2024, 8, 1) + dt.timedelta(days=rng.randrange(365)) for _ in range(50)]
    states = ["TX", "FL", "GA", "NC", "AL", "VA", "PA", "OH", "SC", "LA"]
    return {
        "home": ["/", "/?model=TFM", "/?model=JEM"],
        "agency": agencies,
        "stats": ["/statistics/"] + [f"/statistics/?as_of={d:%Y-%m-%d}" for d in days],
        "state": [f"/states/{s}/" for s in states],
        "directory": ["/agencies/", "/agencies/?state=TX", "/agencies/?model=TFM&status=active"]
        + [f"/agencies/?page={n}" for n in range(2, 12)],
        "changes": [
            "/changes/",
            "/changes/?state=TX",
            "/changes/?kind=delisted",
            "/changes/?page=3",
        ],
        "list-changes": [
            f"/snapshots/{pk}/changes/"
            for pk in ListSnapshot.objects.values_list("pk", flat=True).order_by("pk")[:24]
        ],
    }


PAGES = ("home", "agency", "stats", "state", "directory", "changes", "list-changes")


def summary(name: str, timings: list[float], cpu_ms: float | None = None) -> str:
    """p50/p95/max of ``timings``, the CPU time per request if given, and the load average."""
    timings = sorted(timings)
    p95 = timings[max(0, int(len(timings) * 0.95) - 1)]
    cpu = f"  cpu/req={cpu_ms:6.1f} ms" if cpu_ms is not None else ""
    load = Path("/proc/loadavg").read_text().split()[0]
    return (
        f"{name:<30} n={len(timings):<5} p50={statistics.median(timings):6.1f} ms  "
        f"p95={p95:6.1f} ms  max={timings[-1]:6.1f} ms{cpu}  load={load}"
    )


def bench_in_process(urls: dict[str, list[str]], requests: int, cold: int) -> None:
    """Each page in steady state (its cached sections warm), then cold.

    Cold is the first request after new data (an import, a publication): the
    cache is emptied before each of those requests, so every section and figure
    is computed and rendered again.
    """
    from django.core.cache import cache
    from django.test import Client

    client = Client()
    for name, paths in urls.items():
        for path in paths:  # steady state: each page rendered once (templates, cache)
            assert client.get(path).status_code == 200, path
        timings, cpu = [], []
        for i in range(requests):
            start, start_cpu = time.perf_counter(), time.process_time()
            response = client.get(paths[i % len(paths)])
            timings.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
            assert response.status_code == 200
        print(summary(f"in-process {name}", timings))
        # CPU time of this process alone: what the page costs on an idle machine
        # (for SQLite it includes the queries; for PostgreSQL the server's share is not in it).
        print(summary(f"  cpu of {name}", cpu))
    for name, paths in urls.items():
        timings, cpu = [], []
        for i in range(cold):
            cache.clear()
            start, start_cpu = time.perf_counter(), time.process_time()
            response = client.get(paths[i % len(paths)])
            timings.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
            assert response.status_code == 200
        print(summary(f"in-process cold {name}", timings))
        print(summary(f"  cpu of cold {name}", cpu))


def _workers_cpu_ms(master: int) -> float:
    """CPU milliseconds used so far by the gunicorn workers of ``master``."""
    return _common.workers_cpu(master) * 1000


def bench_gunicorn(
    urls: dict[str, list[str]], requests: int, workers: int, concurrency: int
) -> None:
    import httpx

    with _common.gunicorn(workers) as (proc, base):
        # One client (a connection pool) for all users, as browsers keep theirs:
        # building a client per request costs the load generator more CPU than
        # the pages cost the server, on the same two cores.
        limits = httpx.Limits(max_connections=concurrency)
        with httpx.Client(base_url=base, timeout=30, limits=limits) as client:
            for name, paths in urls.items():
                for path in paths:  # each worker renders each page once (cache warm)
                    for _ in range(workers):
                        client.get(path)
                timings = []
                cpu_start = _workers_cpu_ms(proc.pid)
                for i in range(requests):
                    start = time.perf_counter()
                    response = client.get(paths[i % len(paths)])
                    timings.append((time.perf_counter() - start) * 1000)
                    assert response.status_code == 200, (
                        response.status_code,
                        paths[i % len(paths)],
                    )
                cpu = (_workers_cpu_ms(proc.pid) - cpu_start) / requests
                print(summary(f"gunicorn x{workers} 1 user {name}", timings, cpu))

            def one(path: str) -> float:
                start = time.perf_counter()
                response = client.get(path)
                assert response.status_code == 200, (response.status_code, path)
                return (time.perf_counter() - start) * 1000

            for name, paths in urls.items():
                cpu_start = _workers_cpu_ms(proc.pid)
                with ThreadPoolExecutor(concurrency) as pool:
                    timings = list(pool.map(one, [paths[i % len(paths)] for i in range(requests)]))
                cpu = (_workers_cpu_ms(proc.pid) - cpu_start) / requests
                print(summary(f"gunicorn x{workers} {concurrency} users {name}", timings, cpu))


def main() -> None:
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--cold", type=int, default=30, help="cold requests per page")
    parser.add_argument("--pages", help="comma-separated subset of: " + ", ".join(PAGES))
    parser.add_argument("--agencies", help="agencies JSONL from make_corpus.py --agencies")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--no-gunicorn", action="store_true")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    setup_django()
    from django.db import connection

    build(agencies_jsonl(args.agencies), rebuild=args.rebuild)
    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=0)  # DEBUG=0 needs the manifest
    print(f"database: {connection.vendor} ({connection.settings_dict['NAME']})")
    urls = targets(random.Random(1))
    if args.pages:
        urls = {name: urls[name] for name in args.pages.split(",")}
    bench_in_process(urls, args.requests, args.cold)
    if not args.no_gunicorn:
        connection.close()
        bench_gunicorn(urls, args.requests, args.workers, args.concurrency)


if __name__ == "__main__":
    main()
