#!/usr/bin/env python
"""The portal's search beside Datasette on the same corpus, under the same wrk load (issue 16).

Loads the shared corpus into the portal's database as ``bench_search.py`` does, and builds
a Datasette SQLite database from the very same documents file: a ``documents`` table with
the corpus's columns, indexes on state, kind and published, and an external-content FTS5
table over title and body (porter stemmer) that Datasette finds for ``_search``; it is
cached under var/bench-search/ by the file's sha256. Then serves both (the portal with
gunicorn, Datasette immutable under uvicorn with as many workers, facets computed in full,
no suggested facets) and measures five query groups, each side in turn with the same wrk
load (2 threads, 8 connections by default) after a warm-up: words with facets
(``sheriff detainer``), a common word (``county``), a browse (Florida, newest first, with
facets), ranked results with snippets, and a rare phrase. Before measuring it checks that
every URL answers 200, that Datasette's facets were computed and add up, and prints both
sides' match counts. Prints requests a second, their ratio and p50/p95 on each side, and
the issue's targets: 3 times Datasette's rate, 1.5 times for the rare phrase.

Datasette is an optional extra in its own virtualenv (``make bench-datasette-venv``), found
at var/datasette-venv/bin/datasette, on PATH, or given with ``--datasette``; without it
only the portal is measured.

    .venv/bin/python benchmarks/bench_datasette.py -n 10000              # SQLite, var/bench-search/
    .venv/bin/python benchmarks/bench_datasette.py -n 10000 \\
        --database-url postgres://postgres@127.0.0.1:5432/bench_ds
    options: --docs PATH --agencies PATH --reuse (keep the loaded portal database)
             --duration 10 (seconds of wrk per URL and side) --warmup 2 --connections 8
             --rounds 3 (turns each side takes, medians reported) --group "rare phrase"
             --workers 2 (gunicorn's and uvicorn's) --api (the JSON API of both as well;
             the portal then runs without its API throttles, as Datasette has none)
             --anonymous (the portal's anonymous reader; default a researcher, who searches
             the full text as Datasette does) --datasette PATH
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx
from _common import each_worker_cpu, free_port, gunicorn, process_cpu, served, workers_cpu
from bench_search import (
    KINDS,
    ROOT,
    VAR,
    add_corpus_arguments,
    prepare_corpus,
    reference_loop,
    sha256,
    wrk_load,
)

DATABASE = "corpus"  # Datasette names a database after its file
SETTINGS = {
    # Facets and counts are the work being compared: no time limit may cut them short.
    "sql_time_limit_ms": 120_000,
    "facet_time_limit_ms": 120_000,
    "suggest_facets": False,
    "default_page_size": 20,
}
RANKED_SQL = """
select documents.id, documents.title, documents.kind, documents.publisher,
  documents.state, documents.published, hits.snippet
from (
  select rowid, rank, snippet(documents_fts, 1, '<mark>', '</mark>', '…', 24) as snippet
  from documents_fts where documents_fts match escape_fts(:q) order by rank limit 20
) as hits join documents on documents.id = hits.rowid
order by hits.rank
"""
INSTALL_HINT = (
    "Datasette not found, so only the portal was measured: `make bench-datasette-venv` "
    "installs it in var/datasette-venv (or pass --datasette PATH)."
)


@dataclass
class Group:
    """One query group: the same question asked of both sides."""

    name: str
    portal: dict  # /search/ and /api/v1/search/ parameters
    datasette: str  # path under /corpus/, without format
    datasette_params: dict
    target: float


def groups() -> list[Group]:
    facets = {"_facet": ["state", "kind"], "_size": "20"}
    return [
        Group(
            "words",
            {"q": "sheriff detainer"},
            "documents",
            {"_search": "sheriff detainer", **facets},
            3.0,
        ),
        Group("common word", {"q": "county"}, "documents", {"_search": "county", **facets}, 3.0),
        Group(
            "browse FL",
            {"state": "FL", "sort": "date"},
            "documents",
            {"state": "FL", "_sort_desc": "published", **facets},
            3.0,
        ),
        Group(
            "ranked + snippets",
            {"q": "immigration detainer"},
            "ranked",
            {"q": "immigration detainer"},
            3.0,
        ),
        Group(
            "rare phrase",
            {"q": '"Anne Arundel County Sheriff"'},
            "documents",
            {"_search": '"Anne Arundel County Sheriff"', **facets},
            1.5,
        ),
    ]


def query(params: dict) -> str:
    return urlencode(params, doseq=True)


# --- Datasette's database ------------------------------------------------------------


def build_datasette_database(docs_path: Path, digest: str, n: int) -> Path:
    """The documents of ``docs_path`` (its first ``n``) in a Datasette SQLite file, built once."""
    folder = VAR / f"datasette-{digest[:16]}-{n}"
    path = folder / f"{DATABASE}.db"
    if path.exists():
        print(f"datasette database: {path} (reused)")
        return path
    folder.mkdir(parents=True, exist_ok=True)
    building = path.with_suffix(".building")
    building.unlink(missing_ok=True)
    t0 = time.perf_counter()
    db = sqlite3.connect(building)
    db.executescript(
        """
        pragma journal_mode = off;
        pragma synchronous = off;
        create table documents (
            id integer primary key, kind text, title text, publisher text,
            state text, published text, body text
        );
        """
    )
    columns = ("id", "kind", "title", "publisher", "state", "published", "body")
    with docs_path.open(encoding="utf-8") as f, db:
        rows = (tuple(json.loads(line)[c] for c in columns) for line in itertools.islice(f, n))
        db.executemany("insert into documents values (?, ?, ?, ?, ?, ?, ?)", rows)
    db.executescript(
        """
        create index documents_state on documents (state);
        create index documents_kind on documents (kind);
        create index documents_published on documents (published);
        create virtual table documents_fts using fts5 (
            title, body, content="documents", content_rowid="id", tokenize='porter'
        );
        insert into documents_fts (documents_fts) values ('rebuild');
        insert into documents_fts (documents_fts) values ('optimize');
        analyze;
        """
    )
    count = db.execute("select count(*) from documents").fetchone()[0]
    db.close()
    building.rename(path)
    print(
        f"datasette database: {path}, {count} documents in {time.perf_counter() - t0:.1f} s "
        f"({path.stat().st_size / 1e6:.0f} MB)"
    )
    return path


# --- Datasette's server --------------------------------------------------------------


def find_datasette(given: str | None) -> Path | None:
    if given:
        if not Path(given).exists():
            sys.exit(f"--datasette {given}: no such file")
        return Path(given)
    candidates = [ROOT / "var" / "datasette-venv" / "bin" / "datasette"]
    if found := shutil.which("datasette"):
        candidates.append(Path(found))
    return next((c for c in candidates if c.exists()), None)


def datasette_python(datasette: Path) -> str:
    """The interpreter of Datasette's venv: beside the script, else its #! line."""
    beside = datasette.parent / "python"
    if beside.exists():
        return str(beside)
    return datasette.read_text(errors="replace").splitlines()[0].removeprefix("#!").strip()


def datasette_version(datasette: Path) -> str:
    done = subprocess.run([str(datasette), "--version"], capture_output=True, text=True)
    return done.stdout.strip()


def inspect_file(datasette: Path, database: Path) -> dict:
    """Datasette's precomputed table counts (``datasette inspect``), as immutable files allow."""
    path = database.with_name("inspect.json")
    if not path.exists():
        subprocess.run(
            [str(datasette), "inspect", str(database), "--inspect-file", str(path)], check=True
        )
    return json.loads(path.read_text())


@contextlib.contextmanager
def datasette_server(datasette: Path, database: Path, workers: int):
    """Datasette on a free loopback port, under uvicorn with ``workers`` processes."""
    config = database.with_name("serve.json")
    config.write_text(
        json.dumps(
            {
                "database": str(database),
                "inspect": inspect_file(datasette, database),
                "settings": SETTINGS,
                "metadata": {
                    "databases": {
                        DATABASE: {
                            "queries": {
                                "ranked": {"sql": RANKED_SQL, "title": "Ranked, with snippets"}
                            }
                        }
                    }
                },
            }
        )
    )
    port = free_port()
    with served(
        [datasette_python(datasette), "-m", "uvicorn", "_datasette_app:app"]
        + ["--app-dir", str(Path(__file__).parent), "--host", "127.0.0.1", "--port", str(port)]
        + ["--workers", str(workers), "--no-access-log", "--log-level", "warning"],
        port=port,
        ready="/-/versions.json",
        name="Datasette",
        env={**os.environ, "BENCH_DATASETTE": str(config)},
    ) as running:
        yield running


def server_cpu(pid: int) -> float:
    """CPU seconds of a server: its own (one uvicorn process) plus its live workers'."""
    return process_cpu(pid) + workers_cpu(pid)


# --- The portal's reader -------------------------------------------------------------


def researcher_headers() -> dict[str, str]:
    """A researcher's cookies: full text searched, as Datasette searches every body.

    An anonymous reader searches a copyrighted document by its title and summary only
    (research/policy.py), which would compare fewer matches with Datasette's.
    """
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client

    user, _created = get_user_model().objects.get_or_create(username="bench-datasette-researcher")
    user.groups.add(Group.objects.get(name="Researchers"))
    client = Client()
    client.force_login(user, backend="portal.auth.PermissionsBackend")
    # The CSRF cookie the first page sets, which a browser sends back with the session's.
    client.get("/search/")
    names = (settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME)
    return {"Cookie": "; ".join(f"{name}={client.cookies[name].value}" for name in names)}


# --- The URLs and their checks -------------------------------------------------------


def urls(group: Group, *, api: bool) -> tuple[str, str]:
    portal = f"/api/v1/search/?{query(group.portal)}" if api else f"/search/?{query(group.portal)}"
    suffix = ".json" if api else ""
    datasette = f"/{DATABASE}/{group.datasette}{suffix}?{query(group.datasette_params)}"
    return portal, datasette


def portal_counts(client: httpx.Client, group: Group) -> dict:
    """The portal's hits (documents, agencies, notes), then its documents and their facets."""

    def get(params: dict) -> dict:
        response = client.get(f"/api/v1/search/?{query(params)}")
        response.raise_for_status()
        return response.json()

    everything = get(group.portal)
    # Agencies count in the state facet too: only documents compare with Datasette's.
    documents = get({**group.portal, "type": "document"})
    return {
        "total": everything["total"],
        "documents": documents["total"],
        "facets": {
            name: {v["value"]: v["count"] for v in values}
            for name, values in documents["facets"].items()
        },
        "results": len(everything["results"]),
    }


def datasette_counts(client: httpx.Client, group: Group) -> dict:
    """Datasette's matches and facets; exits when a facet or count was cut short."""
    params = group.datasette_params
    if group.datasette == "ranked":
        # The canned query lists 20; its match count is the table search of the same words.
        ranked = client.get(f"/{DATABASE}/ranked.json?{query(params)}")
        ranked.raise_for_status()
        if ranked.json().get("error"):
            sys.exit(f"Datasette's ranked query failed: {ranked.json()['error']}")
        rows = len(ranked.json()["rows"])
        params = {"_search": params["q"], "_facet": ["kind"], "_size": "1"}
    response = client.get(f"/{DATABASE}/documents.json?{query(params)}")
    response.raise_for_status()
    data = response.json()
    if data.get("facets_timed_out"):
        sys.exit(f"Datasette's facets timed out: {data['facets_timed_out']}; raise the limits")
    count = data["filtered_table_rows_count"]
    facets = {
        name: {str(v["value"]): v["count"] for v in facet["results"]}
        for name, facet in data["facet_results"].items()
    }
    if count is None or sum(facets["kind"].values()) != count:
        sys.exit(
            f"Datasette's count or kind facet is incomplete for {group.name}: {count}, {facets}"
        )
    return {
        "documents": count,
        "facets": facets,
        "results": rows if group.datasette == "ranked" else len(data["rows"]),
    }


def check(
    portal: httpx.Client, datasette: httpx.Client | None, group: Group, *, anonymous: bool
) -> None:
    """Every URL answers 200; print both sides' match counts and say why they differ."""
    portal_url, datasette_url = urls(group, api=False)
    status = portal.get(portal_url).status_code
    if status != 200:
        sys.exit(f"the portal answered {status} to {portal_url}")
    ours = portal_counts(portal, group)
    line = (
        f"  {group.name:<18} portal {ours['documents']:>6} documents ({ours['total']} hits"
        f" with agencies and notes), {ours['results']} shown"
    )
    if datasette is None:
        print(line)
        return
    status = datasette.get(datasette_url).status_code
    if status != 200:
        sys.exit(f"Datasette answered {status} to {datasette_url}")
    theirs = datasette_counts(datasette, group)
    line += f"; Datasette {theirs['documents']:>6}, {theirs['results']} shown"
    kinds = {KINDS.get(k, k): c for k, c in theirs["facets"]["kind"].items()}
    if group.datasette != "ranked":
        line += "; facets: kind " + ("agree" if kinds == ours["facets"].get("kind") else "DIFFER")
        states, our_states = theirs["facets"]["state"], ours["facets"].get("state", {})
        agree = sum(our_states.get(state) == count for state, count in states.items())
        line += f", state {agree} of {len(states)} agree"
    difference = abs(ours["documents"] - theirs["documents"]) / max(theirs["documents"], 1)
    if difference > 0.02:
        line += f" — {difference:.0%} apart: " + (
            "the anonymous reader searches copyrighted documents by title and summary only"
            if anonymous
            else "Datasette's FTS5 porter stemmer and title and body only, against the "
            "portal's stemmer (PostgreSQL's english configuration skips stop words) and "
            "title, summary and body"
        )
    print(line)


# --- The run -------------------------------------------------------------------------


# Kept open, wrk's connections can all fall on one of a server's worker processes
# (one of Datasette's two uvicorn workers at 100% CPU and the other idle gave 79-81
# requests a second for the rare phrase, against 160-205 shared). So each request
# comes on a new connection, as gunicorn's sync workers have it anyway, and a
# measurement where one worker still did the work is taken again.
ONE_REQUEST_A_CONNECTION = {"Connection": "close"}
UNBALANCED_SHARE = 0.8
BALANCE_TRIES = 5


def measure(
    base: str, url: str, *, connections: int, duration: float, pid: int, headers: dict
) -> dict:
    for _try in range(BALANCE_TRIES):
        cpu0, each0 = server_cpu(pid), each_worker_cpu(pid)
        result = wrk_load(
            base, [base + url], concurrency=connections, duration=duration, headers=headers
        )
        each = {w: cpu - each0.get(w, 0.0) for w, cpu in each_worker_cpu(pid).items()}
        result["cpu_ms"] = (server_cpu(pid) - cpu0) / max(result["n"], 1) * 1000
        if result["errors"]:
            sys.exit(f"wrk counted {result['errors']} errors on {base}{url}")
        if len(each) < 2 or max(each.values()) <= UNBALANCED_SHARE * sum(each.values()):
            return result
        print(f"  ({base}{url}: one worker did the work, measured again)")
    sys.exit(f"wrk's connections fell on one worker {BALANCE_TRIES} times in a row on {base}")


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def run(args: argparse.Namespace, datasette: Path | None, datasette_db: Path | None) -> None:
    sets = [("HTML pages", False)] + ([("JSON API", True)] if args.api else [])
    reader = {} if args.anonymous else researcher_headers()
    if args.api:
        # gunicorn takes the environment as it is when it starts.
        os.environ["DJANGO_SETTINGS_MODULE"] = "_settings_unthrottled"
        os.environ["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(Path(__file__).parent), str(ROOT), os.environ.get("PYTHONPATH")])
        )
    with contextlib.ExitStack() as stack:
        server, base = stack.enter_context(gunicorn(args.workers))
        sides = [(base, server.pid, {**reader, **ONE_REQUEST_A_CONNECTION})]
        if datasette:
            ds_server, ds_base = stack.enter_context(
                datasette_server(datasette, datasette_db, args.workers)
            )
            sides.append((ds_base, ds_server.pid, ONE_REQUEST_A_CONNECTION))
        clients = [
            stack.enter_context(httpx.Client(base_url=b, headers=h, timeout=60))
            for b, _pid, h in sides
        ]
        print(
            f"match counts ({'an anonymous reader' if args.anonymous else 'a researcher'} on the"
            " portal; documents, though its search also finds agencies and notes):"
        )
        chosen = [group for group in groups() if not args.group or group.name in args.group]
        for group in chosen:
            check(clients[0], clients[1] if datasette else None, group, anonymous=args.anonymous)
        for title, api in sets:
            rows = []
            print(
                f"\n{title}: wrk {min(2, args.connections)} threads, {args.connections} "
                f"connections, {args.duration:.0f} s a URL and side after {args.warmup:.0f} s of "
                f"warm-up, {args.rounds} round(s) taking turns (medians); load average before"
                f" {loadavg()}"
            )
            for group in chosen:
                pair = urls(group, api=api)
                # Rounds take turns, so that each side meets the machine's changes
                # in speed (a shared host's) as often as the other.
                rounds = []
                for _round in range(args.rounds):
                    figures = []
                    for (side_base, pid, headers), url in zip(sides, pair, strict=False):
                        wrk_load(
                            side_base,
                            [side_base + url],
                            concurrency=args.connections,
                            duration=args.warmup,
                            headers=headers,
                        )
                        figures.append(
                            measure(
                                side_base,
                                url,
                                connections=args.connections,
                                duration=args.duration,
                                pid=pid,
                                headers=headers,
                            )
                        )
                    rounds.append(figures)
                rows.append((group, pair, rounds))
            print_table(rows, datasette is not None)
            print(f"load average after: {loadavg()}")


def print_table(rows: list, with_datasette: bool) -> None:
    """Each side's median figures over the rounds, and the median of the rounds' ratios."""
    head = f"{'group':<18} {'portal req/s':>12} {'p50/p95 ms':>13} {'CPU ms/req':>10}"
    if with_datasette:
        head += (
            f" {'Datasette req/s':>15} {'p50/p95 ms':>13} {'CPU ms/req':>10} {'ratio':>6}  target"
        )
    print(head)
    for group, _pair, rounds in rows:
        sides = [
            {
                key: statistics.median(figures[side][key] for figures in rounds)
                for key in ("rate", "p50", "p95", "cpu_ms")
            }
            for side in range(len(rounds[0]))
        ]
        ours = sides[0]
        line = (
            f"{group.name:<18} {ours['rate']:>12.1f} {ours['p50']:>6.1f}/{ours['p95']:<6.1f}"
            f" {ours['cpu_ms']:>10.1f}"
        )
        if with_datasette:
            theirs = sides[1]
            ratios = [figures[0]["rate"] / figures[1]["rate"] for figures in rounds]
            ratio = statistics.median(ratios)
            met = "met" if ratio >= group.target else "NOT met"
            line += (
                f" {theirs['rate']:>15.1f} {theirs['p50']:>6.1f}/{theirs['p95']:<6.1f}"
                f" {theirs['cpu_ms']:>10.1f} {ratio:>5.2f}x  {group.target}x {met}"
            )
            if len(rounds) > 1:
                line += "  (rounds: " + ", ".join(f"{r:.2f}x" for r in ratios) + ")"
        print(line)
    for group, pair, rounds in rows:
        print(f"  {group.name}: {'  |  '.join(pair[: len(rounds[0])])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_corpus_arguments(parser, database=", else a SQLite file")
    parser.add_argument(
        "--duration", type=float, default=10.0, help="seconds of wrk a URL and side"
    )
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of wrk before each")
    parser.add_argument("--connections", type=int, default=8, help="wrk's connections (default 8)")
    parser.add_argument("--api", action="store_true", help="measure the JSON API of both as well")
    parser.add_argument(
        "--rounds", type=int, default=1, help="turns each side takes at each URL (default 1)"
    )
    parser.add_argument(
        "--group",
        action="append",
        choices=[group.name for group in groups()],
        help="measure only this query group (repeatable; default all five)",
    )
    parser.add_argument(
        "--anonymous",
        action="store_true",
        help="the portal's anonymous reader (copyrighted text unsearched) instead of a researcher",
    )
    parser.add_argument(
        "--datasette", help="the datasette command (default: var/datasette-venv, PATH)"
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed for this benchmark: apt-get install -y wrk")

    datasette = find_datasette(args.datasette)
    docs_path = prepare_corpus(args)
    datasette_db = None
    if datasette:
        print(f"datasette: {datasette} ({datasette_version(datasette)})")
        datasette_db = build_datasette_database(docs_path, sha256(docs_path), args.n)
    print(f"reference loop (10M additions): {reference_loop():.2f} s; load average {loadavg()}")
    run(args, datasette, datasette_db)
    print(f"reference loop (10M additions): {reference_loop():.2f} s")
    if not datasette:
        print(INSTALL_HINT)


if __name__ == "__main__":
    main()
