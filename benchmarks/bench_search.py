#!/usr/bin/env python
"""Latency of a search with facets (first page) on a realistic corpus.

Loads the synthetic corpus of ``../shared/bench/make_corpus.py`` (documents and
its ``--agencies`` file, JSON Lines; generated when not given) into a fresh
database: agencies with an agreement each, documents (published) linked to an
agency of their state (confirmed links: only those count in the state and model
facets), a few tags; bulk-created with the index triggers
paused, then indexed in one pass. Then measures ``search()`` with facets over a
fixed query mix drawn from the corpus vocabulary (words, phrases, OR,
exclusions, with and without filters): in-process single user, then against
gunicorn on loopback under concurrent requests. Prints p50/p95/p99 in ms and
the corpus sha256. Targets at 100,000 documents + 3,000 agencies: p95 < 150 ms
on PostgreSQL, < 300 ms on SQLite.

    .venv/bin/python benchmarks/bench_search.py -n 10000            # SQLite, var/bench-search/
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_d .venv/bin/python benchmarks/bench_search.py -n 10000
    .venv/bin/python benchmarks/bench_search.py --load-only --database-url postgres://me@host/mine
    options: --docs PATH --agencies PATH --reuse (keep the loaded database) --queries 150
             --concurrency 4 --workers 2 --duration 20 --no-gunicorn --warm --client wrk|httpx
             --notes N (replace the notes with N public ones)
             --cold (forget the common words' postings kept in the database first)
             --load-only (load, then stop) --database-url URL (any database: one named
             bench_* or a var/bench-search/ file is recreated; any other is only migrated
             and must hold no documents)
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import _common
from _common import gunicorn, workers_cpu

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var" / "bench-search"
# ../shared beside the clone, or beside a folder of worktrees.
MAKE_CORPUS = next(
    (
        folder / "shared" / "bench" / "make_corpus.py"
        for folder in ROOT.parents
        if (folder / "shared" / "bench" / "make_corpus.py").exists()
    ),
    ROOT.parent / "shared" / "bench" / "make_corpus.py",
)
KINDS = {
    "news_article": "news",
    "moa": "moa",
    "court_filing": "court_filing",
    "legislation": "legislation",
    "government_report": "report",
}
AGENCY_KINDS = {
    "sheriff": "county",
    "corrections": "county",
    "police": "municipality",
    "state_agency": "state",
}
TAGS = ["jail", "task-force", "lawsuit", "budget", "detainers"]


def setup_django(database_url: str | None) -> None:
    VAR.mkdir(parents=True, exist_ok=True)
    os.environ["DATABASE_URL"] = database_url or os.environ.get(
        "DATABASE_URL", f"sqlite:///{VAR / 'bench.sqlite3'}"
    )
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    _common.setup_django(VAR, "search")


def corpus_files(n: int, docs: str | None, agencies: str | None) -> tuple[Path, Path]:
    """The documents and agencies JSONL files, generating them if not given."""
    if docs and agencies:
        return Path(docs), Path(agencies)
    docs_path = Path(docs) if docs else VAR / f"corpus-{n}.jsonl"
    agencies_path = Path(agencies) if agencies else VAR / "agencies.jsonl"
    if not docs_path.exists() or not agencies_path.exists():
        print(f"generating the corpus: {n} documents -> {docs_path}", flush=True)
        subprocess.run(
            [sys.executable, str(MAKE_CORPUS), "-n", str(n), "-o", str(docs_path)]
            + ["--agencies", str(agencies_path)],
            check=True,
        )
    return docs_path, agencies_path


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_jsonl(path: Path, limit: int | None = None) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            rows.append(json.loads(line))
            if limit and len(rows) >= limit:
                break
    return rows


def fresh_database() -> None:
    """An empty, migrated benchmark database.

    A database this benchmark owns (a SQLite file under var/bench-search/, a
    PostgreSQL database named bench_*) is dropped and recreated. Any other one
    (``--database-url`` of any name: one you created) is only migrated, and must
    hold no documents yet: the benchmark never deletes what it did not create.
    """
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    db = settings.DATABASES["default"]
    name = str(db["NAME"])
    connection.close()
    owned = (
        Path(name).parent == VAR
        if connection.vendor == "sqlite"
        else bool(re.fullmatch(r"bench_\w+", name))
    )
    if owned and connection.vendor == "sqlite":
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(name + suffix).unlink(missing_ok=True)
    elif owned:
        import psycopg

        dsn = f"host={db.get('HOST') or '127.0.0.1'} port={db.get('PORT') or 5432} "
        dsn += f"user={db.get('USER') or 'postgres'} dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}"')
    call_command("migrate", verbosity=0)
    if not owned:
        from research.models import Document

        held = Document.objects.count()
        if held:
            sys.exit(
                f"database {name!r} already holds {held} documents: load into an empty "
                "database, or pass --reuse to measure what it holds"
            )


def load(docs_path: Path, agencies_path: Path, n: int) -> dict:
    """Bulk-create agencies, agreements, documents, links and tags; index once."""
    from django.db import connection, transaction
    from django.utils.text import slugify

    from agreements.models import Agency, Agreement, SupportModel
    from research.models import Document, DocumentAgency, Tag
    from research.search.sync import search_bulk_load

    timings = {}
    t0 = time.perf_counter()
    rows = read_jsonl(agencies_path)
    models = [SupportModel.JEM, SupportModel.TFM, SupportModel.WSO]
    with search_bulk_load():
        with transaction.atomic():
            slugs: Counter = Counter()
            agencies = []
            for row in rows:
                slug = slugify(f"{row['name']} {row['state']}")[:240]
                slugs[slug] += 1
                agencies.append(
                    Agency(
                        name=row["name"],
                        state=row["state"],
                        kind=AGENCY_KINDS.get(row["kind"], "other"),
                        county_name=row["name"].split(" County")[0]
                        if " County" in row["name"]
                        else "",
                        slug=slug if slugs[slug] == 1 else f"{slug}-{slugs[slug]}",
                        name_key=slugify(row["name"]),
                    )
                )
            agencies = Agency.objects.bulk_create(agencies, batch_size=1000)
            Agreement.objects.bulk_create(
                [
                    Agreement(agency=a, model=models[i % 3], status=Agreement.Status.ACTIVE)
                    for i, a in enumerate(agencies)
                ],
                batch_size=1000,
            )
            by_state: dict[str, list[int]] = {}
            for a in agencies:
                by_state.setdefault(a.state, []).append(a.pk)
            tags = [Tag.objects.create(name=t.replace("-", " ").title(), slug=t) for t in TAGS]
        timings["t_agencies"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        loaded = 0
        batch: list[dict] = []

        def flush(batch: list[dict]) -> None:
            with transaction.atomic():
                created = Document.objects.bulk_create(
                    [
                        Document(
                            kind=KINDS.get(d["kind"], "other"),
                            title=d["title"],
                            publisher=d["publisher"],
                            published_on=d["published"],
                            text=d["body"],
                            status=Document.Status.PUBLISHED,
                            canonical_url=f"https://bench.example.org/doc/{d['id']}",
                        )
                        for d in batch
                    ]
                )
                links = []
                tag_links = []
                for d, document in zip(batch, created, strict=True):
                    local = by_state.get(d["state"])
                    if local:
                        links.append(
                            DocumentAgency(
                                document=document,
                                agency_id=local[d["id"] % len(local)],
                                status=DocumentAgency.Status.CONFIRMED,
                            )
                        )
                    if d["id"] % 10 == 0:
                        tag = tags[(d["id"] // 10) % len(tags)]
                        tag_links.append(
                            Document.tags.through(document_id=document.pk, tag_id=tag.pk)
                        )
                DocumentAgency.objects.bulk_create(links)
                Document.tags.through.objects.bulk_create(tag_links)

        with docs_path.open(encoding="utf-8") as f:
            for line in f:
                batch.append(json.loads(line))
                if len(batch) == 2000:
                    flush(batch)
                    loaded += len(batch)
                    batch = []
                    print(f"  loaded {loaded} documents", end="\r", flush=True)
                if loaded + len(batch) >= n:
                    break
        if batch:
            flush(batch)
            loaded += len(batch)
        timings["t_documents"] = time.perf_counter() - t0
        t0 = time.perf_counter()
    timings["t_index"] = time.perf_counter() - t0
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    print(" " * 40, end="\r")
    return {"documents": loaded, "agencies": len(agencies), **timings}


def set_notes(count: int, seed: int) -> None:
    """Replace the database's notes with ``count`` approved public notes (all visible to
    the public, the worst case) on the first documents, with 30 words of their text as
    body (the query mix draws its words from the same documents) and a tag on every third."""
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from research.models import Annotation, Document, Tag

    rng = random.Random(seed)
    t0 = time.perf_counter()
    with transaction.atomic():
        Annotation.objects.all().delete()
        author, _created = get_user_model().objects.get_or_create(username="bench-researcher")
        documents = list(Document.objects.order_by("pk").values_list("pk", "text")[:count])
        tags = list(Tag.objects.order_by("pk"))
        notes = []
        for i in range(count):
            pk, text = documents[i % len(documents)]
            words = text.split()
            start = rng.randrange(max(1, len(words) - 30))
            notes.append(
                Annotation(
                    document_id=pk,
                    author=author,
                    body=" ".join(words[start : start + 30]),
                    visibility=Annotation.Visibility.PUBLIC,
                    review=Annotation.Review.APPROVED,
                    exact=text[:40],
                    start=0,
                    end=min(40, len(text)),
                )
            )
        notes = Annotation.objects.bulk_create(notes, batch_size=1000)
        Annotation.tags.through.objects.bulk_create(
            [
                Annotation.tags.through(annotation_id=note.pk, tag_id=tags[i % len(tags)].pk)
                for i, note in enumerate(notes)
                if tags and i % 3 == 0
            ]
        )
    print(f"notes: {count} approved public notes in {time.perf_counter() - t0:.1f} s")


def print_kept_postings(*, forget: bool) -> None:
    """How many words' postings the database keeps for every process (after a load:
    none; each search of a common word keeps its word's), emptied with ``forget``."""
    from django.db import connection

    with connection.cursor() as cursor:
        if forget:
            cursor.execute("DELETE FROM search_postings")
        cursor.execute(
            "SELECT count(*), coalesce(sum(length(ids) + length(counts)), 0) FROM search_postings"
        )
        words, size = cursor.fetchone()
    print(f"postings kept in the database: {words} words, {size / 2**20:.1f} MiB")


# --- The query mix ----------------------------------------------------------------


def query_mix(docs_path: Path, count: int, seed: int) -> list[tuple[str, dict]]:
    """A fixed mix of (query, filters) drawn from the corpus's own words."""
    spec = importlib.util.spec_from_file_location("make_corpus", MAKE_CORPUS)
    corpus = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(corpus)
    stop = set(corpus.FUNCTION_WORDS)
    rng = random.Random(seed)
    sample = read_jsonl(docs_path, limit=2000)
    words: list[str] = []
    phrases: list[str] = []
    for d in sample:
        tokens = re.findall(r"[a-z][a-z']+", d["body"].lower())
        content = [t for t in tokens if t not in stop and len(t) > 3]
        words += rng.sample(content, min(5, len(content)))
        if len(tokens) > 3:
            i = rng.randrange(len(tokens) - 3)
            phrase = tokens[i : i + rng.choice((2, 3))]
            if not all(t in stop for t in phrase):
                phrases.append(" ".join(phrase))
    phrases += ["task force model", "jail enforcement model", "warrant service officer"]
    states = [d["state"] for d in sample]
    kinds = list(KINDS.values())
    years = sorted({d["published"][:4] for d in sample})
    mix: list[tuple[str, dict]] = []
    shapes = ["word", "word", "two", "phrase", "or", "exclude", "phrase_exclude"]
    while len(mix) < count:
        shape = rng.choice(shapes)
        w = rng.choice(words)
        if shape == "word":
            q = w
        elif shape == "two":
            q = f"{w} {rng.choice(words)}"
        elif shape == "phrase":
            q = f'"{rng.choice(phrases)}"'
        elif shape == "or":
            q = f"{w} OR {rng.choice(words)}"
        elif shape == "exclude":
            q = f"{w} -{rng.choice(words)}"
        else:
            q = f'{w} -"{rng.choice(phrases)}"'
        filters: dict = {}
        r = rng.random()
        if r < 0.2:
            filters = {"state": [rng.choice(states)]}
        elif r < 0.3:
            filters = {"kind": [rng.choice(kinds)]}
        elif r < 0.4:
            filters = {"year": [rng.choice(years)], "type": ["document"]}
        mix.append((q, filters))
    return mix


def reference_loop() -> float:
    """Seconds for 10 million Python additions: how fast this machine is just now.

    The machine is shared: the same code measures up to ~40% slower at busy
    times, so each figure is printed with this reference beside it.
    """
    start = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.perf_counter() - start


def percentiles(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return (
        f"n={len(ms)} p50={q[49]:.1f} p95={q[94]:.1f} p99={q[98]:.1f} "
        f"max={ms[-1]:.1f} mean={statistics.fmean(ms):.1f} ms"
    )


def bench_in_process(mix: list[tuple[str, dict]]) -> list[float]:
    from research.search.selectors import search

    for q, filters in mix[:10]:  # warm caches
        search(q, filters=filters)
    samples = []
    cpu = []
    for q, filters in mix:
        c0, t0 = time.process_time(), time.perf_counter()
        results = search(q, filters=filters)
        samples.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        assert results.total >= len(results.hits)
    print(f"  CPU time per search: {percentiles(cpu)}")
    slowest = sorted(zip(samples, mix, strict=True), key=lambda pair: -pair[0])[:5]
    print("  slowest: " + "; ".join(f"{t * 1000:.0f} ms {q} {f or ''}" for t, (q, f) in slowest))
    return samples


# --- gunicorn on loopback ------------------------------------------------------------


WRK_SCRIPT = Path(__file__).with_name("replay.lua")
_WRK_LINE = re.compile(
    r"wrk: n=(?P<n>\d+) p50=(?P<p50>[\d.]+) p95=(?P<p95>[\d.]+) p99=(?P<p99>[\d.]+)"
    r" max=(?P<max>[\d.]+) mean=(?P<mean>[\d.]+) ms, (?P<rate>[\d.]+) req/s, (?P<errors>\d+) errors"
)


def wrk_load(
    base: str,
    urls: list[str],
    *,
    concurrency: int,
    duration: float,
    headers: dict[str, str] | None = None,
) -> dict:
    """Closed-loop load from wrk (C, a few % of one core) replaying ``urls`` in turn.

    The Python client (:func:`httpx_load`) costs the 2-core machine ~3 ms of CPU a request
    (httpx, with the GIL), taken from the server it measures; wrk costs ~0.2 ms.
    """
    paths = VAR / "wrk-paths.txt"
    paths.write_text("".join(url.removeprefix(base) + "\n" for url in urls))
    threads = min(2, concurrency)
    t0 = time.perf_counter()
    done = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{duration:.0f}s", "--timeout", "30s"]
        + [arg for name, value in (headers or {}).items() for arg in ("-H", f"{name}: {value}")]
        + ["-s", str(WRK_SCRIPT), base],
        env={**os.environ, "URLS": str(paths)},
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - t0
    found = _WRK_LINE.search(done.stdout)
    if not found:
        sys.exit(f"wrk printed no figures:\n{done.stdout}\n{done.stderr}")
    figures = {k: float(v) for k, v in found.groupdict().items()}
    line = (
        f"n={int(figures['n'])} p50={figures['p50']:.1f} p95={figures['p95']:.1f}"
        f" p99={figures['p99']:.1f} max={figures['max']:.1f} mean={figures['mean']:.1f} ms"
    )
    return {
        **figures,
        "line": line,
        "n": int(figures["n"]),
        "errors": int(figures["errors"]),
        "wall": wall,
    }


def httpx_load(base: str, urls: list[str], *, concurrency: int, duration: float) -> dict:
    """Closed-loop load from ``concurrency`` Python threads, each with its own httpx client."""
    import httpx

    samples: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop_at = time.monotonic() + duration

    def user(offset: int) -> None:
        nonlocal errors
        i = offset
        with httpx.Client(timeout=30) as client:
            while time.monotonic() < stop_at:
                t0 = time.perf_counter()
                response = client.get(urls[i % len(urls)])
                elapsed = time.perf_counter() - t0
                with lock:
                    samples.append(elapsed)
                    if response.status_code != 200:
                        errors += 1
                i += concurrency

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(user, range(concurrency)))
    wall = time.perf_counter() - t0
    return {"line": percentiles(samples), "n": len(samples), "errors": errors, "wall": wall}


def bench_gunicorn(
    mix: list[tuple[str, dict]],
    *,
    workers: int,
    concurrency: int,
    duration: float,
    path: str,
    client_kind: str,
) -> dict:
    import httpx

    with gunicorn(workers) as (server, base):
        urls = []
        for q, filters in mix:
            params = [("q", q)] + [(k, v) for k, vs in filters.items() for v in vs]
            urls.append(f"{base}{path}?{urlencode(params)}")
        # Each URL once, each on a new connection, so that it may reach either worker.
        with httpx.Client(timeout=30, headers={"Connection": "close"}) as client:
            for url in urls:
                client.get(url)
        load = wrk_load if client_kind == "wrk" else httpx_load
        cpu0 = workers_cpu(server.pid)
        result = load(base, urls, concurrency=concurrency, duration=duration)
        cpu = workers_cpu(server.pid) - cpu0
        print(
            f"  gunicorn workers' CPU: {cpu:.1f} s in {result['wall']:.1f} s,"
            f" {cpu / max(result['n'], 1) * 1000:.1f} ms per request;"
            f" load average {Path('/proc/loadavg').read_text().split()[:3]}"
        )
        return result


def add_corpus_arguments(parser: argparse.ArgumentParser, *, database: str) -> None:
    """The corpus, database and load options every corpus benchmark takes."""
    parser.add_argument("-n", type=int, default=10_000, help="documents to load (default 10000)")
    parser.add_argument("--docs", help="documents JSONL (make_corpus.py format)")
    parser.add_argument("--agencies", help="agencies JSONL (make_corpus.py --agencies)")
    parser.add_argument("--database-url", help=f"default: $DATABASE_URL{database}")
    parser.add_argument("--reuse", action="store_true", help="keep the already loaded database")
    parser.add_argument(
        "--load-only", action="store_true", help="load the corpus, print its figures and stop"
    )
    parser.add_argument("--seed", type=int, default=287)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--client",
        choices=["wrk", "httpx"],
        help="load generator (default: wrk if installed, else Python threads with httpx)",
    )


def prepare_corpus(args: argparse.Namespace) -> Path:
    """Set Django up on the benchmark database and load the corpus (unless ``--reuse``).

    Returns the documents file, from which the query mix is drawn.
    """
    setup_django(args.database_url)
    from django.db import connection

    docs_path, agencies_path = corpus_files(args.n, args.docs, args.agencies)
    print(f"corpus: {docs_path} sha256 {sha256(docs_path)}")
    print(f"agencies: {agencies_path} sha256 {sha256(agencies_path)}")
    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}")
    if args.reuse:  # a database loaded by older code gets the newer search tables
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
    else:
        fresh_database()
        stats = load(docs_path, agencies_path, args.n)
        print(
            f"loaded {stats['documents']} documents and {stats['agencies']} agencies: "
            f"agencies {stats['t_agencies']:.1f} s, documents {stats['t_documents']:.1f} s, "
            f"index {stats['t_index']:.1f} s"
        )
    if args.load_only:
        sys.exit(0)
    return docs_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_corpus_arguments(parser, database=", else a SQLite file")
    parser.add_argument("--queries", type=int, default=150)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load")
    parser.add_argument("--path", default="/search/", help="URL under load (or /api/v1/search/)")
    parser.add_argument("--no-gunicorn", action="store_true")
    parser.add_argument("--warm", action="store_true", help="run the in-process mix twice")
    parser.add_argument(
        "--notes", type=int, help="replace the notes with this many public ones (0: none)"
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="forget the common words' postings kept in the database first (as after a load)",
    )
    args = parser.parse_args()

    docs_path = prepare_corpus(args)
    if args.notes is not None:
        set_notes(args.notes, args.seed)
    print_kept_postings(forget=args.cold)
    print(f"reference loop (10M additions): {reference_loop():.2f} s")
    mix = query_mix(docs_path, args.queries, args.seed)
    print(f"query mix: {len(mix)} queries, e.g. {[q for q, _ in mix[:6]]}")
    samples = bench_in_process(mix)
    print(f"in-process search() with facets, single user: {percentiles(samples)}")
    if args.warm:
        # Each word's postings are read once per process and index version
        # (research/search/ranking.py): the first pass above paid that, this one not.
        samples = bench_in_process(mix)
        print(f"  again, every word seen before: {percentiles(samples)}")
    print(f"  load average {Path('/proc/loadavg').read_text().split()[:3]}")
    if not args.no_gunicorn:
        client_kind = args.client or ("wrk" if shutil.which("wrk") else "httpx")
        result = bench_gunicorn(
            mix,
            workers=args.workers,
            concurrency=args.concurrency,
            duration=args.duration,
            path=args.path,
            client_kind=client_kind,
        )
        print(
            f"gunicorn {args.workers} workers, {args.concurrency} concurrent clients ({client_kind}), "
            f"GET {args.path} for {result['wall']:.0f} s: {result['line']}, "
            f"{result['n'] / result['wall']:.1f} req/s, {result['errors']} errors"
        )
        print(f"reference loop (10M additions): {reference_loop():.2f} s")


if __name__ == "__main__":
    main()
