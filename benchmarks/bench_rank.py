#!/usr/bin/env python
"""Ranking quality: the portal's top 20 against exact BM25 computed offline.

For the query mix of bench_search.py (150 queries: words, two words, phrases,
OR, exclusions, with and without filters) on the shared corpus, the portal's
first page (``search()``, as a researcher: full text) is compared with a
reference computed here from the raw corpus files, by code that shares nothing
with the portal's but the database's stemmer (each distinct corpus word is
stemmed once by it, so both sides mean the same word): tokens, postings,
matching (all groups, any term of a group, phrases as consecutive words of one
field, exclusions), filters and the score, which is the relevance
research/search/ranking.py defines: BM25 (k1 1.2, b 0.75) over the weighted
occurrences (title 10, summary 4, body 1), length = UTF-8 bytes of the three
fields, ties to the higher entry id.

Reported per query and on average: the overlap of the two top 20s (a portal
hit scoring as much as the reference's 20th counts: equal scores may be cut
either way) and nDCG@20 with the reference scores as gains. Targets: overlap
at least 0.95 on average and 0.8 for every query.

    .venv/bin/python benchmarks/bench_rank.py -n 10000                  # SQLite
    .venv/bin/python benchmarks/bench_rank.py --reuse --database-url postgres://postgres@127.0.0.1:5432/bench_x
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import time
from array import array
from collections import defaultdict
from pathlib import Path

import bench_search as bs

K1, B = 1.2, 0.75
WEIGHTS = (10.0, 4.0, 1.0)
TOP = 20
TOKEN = re.compile(r"\w+")


class Corpus:
    """Every entry's stemmed tokens by field, postings and lengths, from the raw files."""

    def __init__(self, docs: list[dict], agencies: list[dict], ids: dict, stem):
        self.entries: list[dict] = []  # {id, type, kind, state, year, texts}
        state_names = _state_names()
        for row in agencies:
            county = row["name"].split(" County")[0] if " County" in row["name"] else ""
            # As the index's agency body: state name, code, county, type (none here).
            body = f"{state_names.get(row['state'], '')} {row['state']} {county} "
            self.entries.append(
                {
                    "id": ids["agency", row["name"], row["state"]],
                    "type": "agency",
                    "kind": bs.AGENCY_KINDS.get(row["kind"], "other"),
                    "state": row["state"],
                    "year": None,
                    "texts": [row["name"], "", body],
                }
            )
        for d in docs:
            self.entries.append(
                {
                    "id": ids["document", d["id"]],
                    "type": "document",
                    "kind": bs.KINDS.get(d["kind"], "other"),
                    "state": d["state"] if d["state"] in ids["linked_states"] else None,
                    "year": d["published"][:4],
                    "texts": [d["title"], "", d["body"]],
                }
            )
        words = sorted(
            {w.lower() for e in self.entries for t in e["texts"] for w in TOKEN.findall(t)}
        )
        self.stems = dict(zip(words, stem(words), strict=True))
        self.postings: dict[str, array] = defaultdict(lambda: array("i"))
        for at, entry in enumerate(self.entries):
            # A stop word (PostgreSQL's) keeps its place, as in a tsvector: a phrase
            # matches across it only where the query's phrase has a word there too.
            fields = [
                [self.stems[w.lower()] for w in TOKEN.findall(text)] for text in entry["texts"]
            ]
            for stem_ in set().union(*fields) - {""}:
                self.postings[stem_].append(at)
            entry["tokens"] = fields
            entry["length"] = sum(_size(t) for t in entry.pop("texts"))
        self.count = len(self.entries)
        self.mean = sum(e["length"] for e in self.entries) / self.count

    def term_stems(self, words: tuple[str, ...]) -> list[str]:
        return [s for s in (self.stems.get(w, "") for w in words) if s]

    def term_matches(self, words: tuple[str, ...]) -> set[int]:
        stems = self.term_stems(words)
        if not stems or any(s not in self.postings for s in stems):
            return set()
        found = set(self.postings[stems[0]]).intersection(*(self.postings[s] for s in stems[1:]))
        if len(stems) == 1:
            return found
        # The phrase's own stop words stand for any one word; at its ends they drop.
        pattern = [self.stems.get(w, "") for w in words]
        while not pattern[0]:
            pattern.pop(0)
        while not pattern[-1]:
            pattern.pop()
        n = len(pattern)

        def holds(tokens: list[str], i: int) -> bool:
            return all(not p or tokens[i + k] == p for k, p in enumerate(pattern))

        return {
            at
            for at in found
            if any(
                holds(tokens, i)
                for tokens in self.entries[at]["tokens"]
                for i in range(len(tokens) - n + 1)
                if tokens[i] == pattern[0]
            )
        }

    def matches(self, query) -> set[int]:
        found: set[int] | None = None
        for group in query.groups:
            either: set[int] = set()
            for term in group:
                either |= self.term_matches(term.words)
            found = either if found is None else found & either
        for term in query.excluded:
            found -= self.term_matches(term.words)
        return found or set()

    def allowed(self, at: int, filters: dict) -> bool:
        entry = self.entries[at]
        if "type" in filters and entry["type"] not in filters["type"]:
            return False
        if "kind" in filters and entry["kind"] not in filters["kind"]:
            return False
        if "state" in filters and entry["state"] not in filters["state"]:
            return False
        return not ("year" in filters and entry["year"] not in filters["year"])

    def score(self, stems: list[str], at: int) -> float:
        entry = self.entries[at]
        norm = K1 * (1 - B + B * entry["length"] / self.mean)
        total = 0.0
        for s in stems:
            tf = sum(
                w * tokens.count(s) for w, tokens in zip(WEIGHTS, entry["tokens"], strict=True)
            )
            if tf:
                n = len(self.postings[s])
                idf = math.log(1 + (self.count - n + 0.5) / (n + 0.5))
                total += idf * tf * (K1 + 1) / (tf + norm)
        return total


def _size(text: str) -> int:
    return len(text.encode())


def _state_names() -> dict[str, str]:
    from django.db import connection

    from research.search.backends.base import STATE_TABLE

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT code, name FROM {STATE_TABLE}")  # noqa: S608
        return dict(cursor.fetchall())


def database_ids(docs: list[dict], agencies: list[dict]) -> dict:
    """Entry ids the database gave the corpus's documents and agencies."""
    from agreements.models import Agency
    from research.models import Document, DocumentAgency

    ids: dict = {}
    urls = {f"https://bench.example.org/doc/{d['id']}": d["id"] for d in docs}
    for pk, url in Document.objects.values_list("pk", "canonical_url").iterator():
        if url in urls:
            ids["document", urls[url]] = pk * 2
    for pk, name, state in Agency.objects.values_list("pk", "name", "state").order_by("pk"):
        ids.setdefault(("agency", name, state), pk * 2 + 1)
    ids["linked_states"] = set(
        DocumentAgency.objects.filter(status="confirmed").values_list("agency__state", flat=True)
    )
    return ids


def researcher():
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    user, _created = get_user_model().objects.get_or_create(username="bench-rank-researcher")
    user.groups.add(Group.objects.get(name="Researchers"))
    return get_user_model().objects.get(pk=user.pk)  # permissions read afresh


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    bs.add_corpus_arguments(parser, database=", else a SQLite file")
    parser.add_argument("--queries", type=int, default=150)
    parser.add_argument("--json", help="write the per-query figures here")
    args = parser.parse_args()
    docs_path = bs.prepare_corpus(args)
    agencies_path = Path(args.agencies) if args.agencies else bs.VAR / "agencies.jsonl"

    from django.db import connection

    from research.search import search
    from research.search.backends import backend_for
    from research.search.query import parse_query

    t0 = time.perf_counter()
    docs = bs.read_jsonl(docs_path, limit=args.n)
    agencies = bs.read_jsonl(agencies_path)
    backend = backend_for(connection)

    def stem(words: list[str]) -> list[str]:
        out: list[str] = []
        with connection.cursor() as cursor:
            for i in range(0, len(words), 5000):
                out += [s[0] if s else "" for s in backend.stems(cursor, words[i : i + 5000])]
        return out

    corpus = Corpus(docs, agencies, database_ids(docs, agencies), stem)
    print(f"reference index: {corpus.count} entries in {time.perf_counter() - t0:.1f} s")
    user = researcher()
    mix = bs.query_mix(docs_path, args.queries, args.seed)
    rows = []
    for raw, filters in mix:
        query = parse_query(raw)
        found = [at for at in corpus.matches(query) if corpus.allowed(at, filters)]
        words = dict.fromkeys(w for term in query.terms() for w in term.words)
        stems = list(dict.fromkeys(corpus.term_stems(tuple(words))))
        scored = sorted(
            ((corpus.score(stems, at), corpus.entries[at]["id"]) for at in found),
            key=lambda pair: (-pair[0], -pair[1]),
        )
        reference = scored[:TOP]
        by_id = {entry_id: score for score, entry_id in scored}
        results = search(raw, filters=filters, user=user, page_size=TOP)
        portal = [h.id * 2 + (h.type == "agency") for h in results.hits if h.type != "note"]
        if not reference:
            rows.append({"q": raw, "filters": filters, "matches": 0, "portal_total": results.total})
            continue
        floor = reference[-1][0] - 1e-9
        shared = sum(1 for entry_id in portal if by_id.get(entry_id, -1) >= floor)
        overlap = shared / len(reference)
        dcg = sum(by_id.get(e, 0.0) / math.log2(i + 2) for i, e in enumerate(portal))
        ideal = sum(score / math.log2(i + 2) for i, (score, _e) in enumerate(reference))
        rows.append(
            {
                "q": raw,
                "filters": filters,
                "matches": len(scored),
                "portal_total": results.total,
                "overlap": overlap,
                "ndcg": dcg / ideal if ideal else 1.0,
            }
        )
    ranked = [r for r in rows if "overlap" in r]
    overlaps = [r["overlap"] for r in ranked]
    ndcgs = [r["ndcg"] for r in ranked]
    print(f"database: {connection.vendor}; {len(mix)} queries, {len(ranked)} with matches")
    print(
        f"overlap@{TOP} with exact BM25: mean {statistics.mean(overlaps):.3f}, "
        f"min {min(overlaps):.3f}, queries under 0.8: {sum(o < 0.8 for o in overlaps)}"
    )
    print(f"nDCG@{TOP}: mean {statistics.mean(ndcgs):.3f}, min {min(ndcgs):.3f}")
    same_total = sum(r["matches"] == r["portal_total"] for r in ranked)
    print(f"match counts equal to the reference's: {same_total} of {len(ranked)}")
    big = [r for r in ranked if r["matches"] > 1000]
    if big:
        print(
            f"queries over 1,000 matches: {len(big)}, overlap mean "
            f"{statistics.mean(r['overlap'] for r in big):.3f}"
        )
    for r in sorted(ranked, key=lambda r: r["overlap"])[:5]:
        print(
            f"  lowest: {r['q']!r} {r['filters']} matches {r['matches']} "
            f"(portal {r['portal_total']}) overlap {r['overlap']:.2f} nDCG {r['ndcg']:.3f}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
