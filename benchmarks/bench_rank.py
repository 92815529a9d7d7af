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

The reference reads the corpus once, keeping each entry's length and filter
fields and, for the query mix's words and phrases only, where they stand and how
often: about 0.8 GiB at 100,000 documents, so 1,000,000 fit too.

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
from collections import Counter
from pathlib import Path

import bench_search as bs
import numpy as np

K1, B = 1.2, 0.75
WEIGHTS = (10.0, 4.0, 1.0)
TOP = 20
TOKEN = re.compile(r"\w+")
DOC_URL = "https://bench.example.org/doc/{}"


class Corpus:
    """What exact BM25 needs of the corpus for the query mix, read in one pass.

    Every entry's id, filter fields and length; for each stem of the queries,
    the entries holding it (sorted) and its weighted count in each; for each
    phrase, the entries where it stands. No text is kept, so 1,000,000
    documents fit in about 2 GiB.
    """

    def __init__(self, entries, stem, terms: list[tuple[str, ...]], chunk: int = 2000):
        self.stems: dict[str, str] = {}
        self._stem = stem
        self._wanted: set[str] = set()
        self._words: set[str] = set()  # the words whose stem is wanted
        self._learn(sorted({w for words in terms for w in words}))
        # Each phrase as a regular expression over a field's stems joined by NULs.
        self.phrases = {p: _phrase_regex(p) for p in map(self._pattern, terms) if p is not None}
        self._wanted = {s for words in terms for s in self.term_stems(words)}
        self._words = {w for w, s in self.stems.items() if s in self._wanted}
        self.ids, self.lengths, self.facets = array("q"), array("q"), []
        self.holding: dict[str, array] = {s: array("i") for s in self._wanted}
        self.counts: dict[str, array] = {s: array("d") for s in self._wanted}
        self.phrase_hits: dict[tuple[str, ...], array] = {p: array("i") for p in self.phrases}
        batch: list[tuple] = []
        for entry in entries:
            batch.append(entry)
            if len(batch) == chunk:
                self._add(batch)
                batch = []
        self._add(batch)
        self.count = len(self.ids)
        self.mean = sum(self.lengths) / self.count
        self.holding_np = {s: np.frombuffer(a, np.int32) for s, a in self.holding.items()}
        self.counts_np = {s: np.frombuffer(a, np.float64) for s, a in self.counts.items()}
        self.phrase_np = {p: np.frombuffer(a, np.int32) for p, a in self.phrase_hits.items()}
        self.columns = {
            name: np.array([f[i] for f in self.facets], dtype=object)
            for i, name in enumerate(("type", "kind", "state", "year"))
        }

    def _learn(self, words: list[str]) -> None:
        new = [w for w in words if w not in self.stems]
        for word, stem_ in zip(new, self._stem(new), strict=True):
            self.stems[word] = stem_
            if stem_ in self._wanted:
                self._words.add(word)

    def _pattern(self, words: tuple[str, ...]) -> tuple[str, ...] | None:
        """A phrase's stems, its own stop words ("") standing for any one word, those
        at its ends dropped; None if it is one stem or none."""
        pattern = [self.stems[w] for w in words]
        while pattern and not pattern[0]:
            pattern.pop(0)
        while pattern and not pattern[-1]:
            pattern.pop()
        return tuple(pattern) if sum(map(bool, pattern)) > 1 else None

    def _add(self, batch: list[tuple]) -> None:
        # (entry id, (type, kind, state, year), texts); the words of the batch are
        # stemmed first, each distinct word once.
        fields = [[TOKEN.findall(text.lower()) for text in texts] for _id, _f, texts in batch]
        counted = [[Counter(tokens) for tokens in entry] for entry in fields]
        self._learn(sorted({w for entry in counted for c in entry for w in c} - self.stems.keys()))
        for (entry_id, facets, texts), tokens, counters in zip(batch, fields, counted, strict=True):
            at = len(self.ids)
            self.ids.append(entry_id)
            self.facets.append(facets)
            self.lengths.append(sum(len(t.encode()) for t in texts))
            weighted: dict[str, float] = {}
            for weight, counter in zip(WEIGHTS, counters, strict=True):
                for word in counter.keys() & self._words:
                    s = self.stems[word]
                    weighted[s] = weighted.get(s, 0.0) + weight * counter[word]
            for s, tf in weighted.items():
                self.holding[s].append(at)
                self.counts[s].append(tf)
            stemmed: list[str] = []
            for pattern, regex in self.phrases.items():
                if not all(not p or p in weighted for p in pattern):
                    continue
                stemmed = stemmed or [
                    "\0" + "\0".join(map(self.stems.get, t)) + "\0" for t in tokens
                ]
                if any(regex.search(field) for field in stemmed):
                    self.phrase_hits[pattern].append(at)

    def term_stems(self, words: tuple[str, ...]) -> list[str]:
        return [s for s in (self.stems[w] for w in words) if s]

    def term_matches(self, words: tuple[str, ...]) -> np.ndarray:
        stems = self.term_stems(words)
        if not stems:
            return np.zeros(0, np.int32)
        if len(stems) == 1:
            return self.holding_np[stems[0]]
        return self.phrase_np[self._pattern(words)]

    def matches(self, query) -> np.ndarray:
        found: np.ndarray | None = None
        for group in query.groups:
            either = np.zeros(0, np.int32)
            for term in group:
                either = np.union1d(either, self.term_matches(term.words))
            found = either if found is None else np.intersect1d(found, either)
        for term in query.excluded:
            found = np.setdiff1d(found, self.term_matches(term.words))
        return np.zeros(0, np.int32) if found is None else found

    def allowed(self, found: np.ndarray, filters: dict) -> np.ndarray:
        keep = np.ones(len(found), bool)
        for name, values in filters.items():
            keep &= np.isin(self.columns[name][found], list(values))
        return found[keep]

    def scores(self, stems: list[str], found: np.ndarray) -> np.ndarray:
        lengths = np.frombuffer(self.lengths, np.int64)[found]
        norm = K1 * (1 - B + B * lengths / self.mean)
        total = np.zeros(len(found))
        for s in stems:
            holding, counts = self.holding_np[s], self.counts_np[s]
            n = len(holding)
            if not n:
                continue
            at = np.minimum(np.searchsorted(holding, found), n - 1)
            tf = np.where(holding[at] == found, counts[at], 0.0)
            idf = math.log(1 + (self.count - n + 0.5) / (n + 0.5))
            total += np.where(tf > 0, idf * tf * (K1 + 1) / (tf + norm), 0.0)
        return total


def _phrase_regex(pattern: tuple[str, ...]) -> re.Pattern:
    """``pattern`` over stems joined by NULs: each stem a whole token, "" any one token."""
    return re.compile("\0" + "\0".join(re.escape(p) if p else "[^\0]*" for p in pattern) + "\0")


def entries(docs_path: Path, agencies: list[dict], ids: dict, limit: int):
    """(entry id, (type, kind, state, year), (title, summary, body)) of every entry,
    as the index holds them, the documents read one line at a time."""
    state_names = _state_names()
    for row in agencies:
        county = row["name"].split(" County")[0] if " County" in row["name"] else ""
        # As the index's agency body: state name, code, county, type (none here).
        body = f"{state_names.get(row['state'], '')} {row['state']} {county} "
        kind = bs.AGENCY_KINDS.get(row["kind"], "other")
        yield (
            ids["agency", row["name"], row["state"]],
            ("agency", kind, row["state"], None),
            (
                row["name"],
                "",
                body,
            ),
        )
    with docs_path.open(encoding="utf-8") as f:
        for n, line in enumerate(f):
            if n == limit:
                break
            d = json.loads(line)
            state = d["state"] if d["state"] in ids["linked_states"] else None
            facets = ("document", bs.KINDS.get(d["kind"], "other"), state, d["published"][:4])
            yield ids[DOC_URL.format(d["id"])], facets, (d["title"], "", d["body"])


def _state_names() -> dict[str, str]:
    from django.db import connection

    from research.search.backends.base import STATE_TABLE

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT code, name FROM {STATE_TABLE}")  # noqa: S608
        return dict(cursor.fetchall())


def database_ids() -> dict:
    """Entry ids the database gave the corpus's documents (by URL) and agencies."""
    from agreements.models import Agency
    from research.models import Document, DocumentAgency

    ids: dict = {}
    prefix = DOC_URL.format("")
    for pk, url in Document.objects.values_list("pk", "canonical_url").iterator():
        if url.startswith(prefix):
            ids[url] = pk * 2
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
    backend = backend_for(connection)
    mix = [
        (raw, parse_query(raw), filters)
        for raw, filters in bs.query_mix(docs_path, args.queries, args.seed)
    ]

    def stem(words: list[str]) -> list[str]:
        out: list[str] = []
        with connection.cursor() as cursor:
            for i in range(0, len(words), 5000):
                out += [s[0] if s else "" for s in backend.stems(cursor, words[i : i + 5000])]
        return out

    terms = [t.words for _raw, query, _f in mix for t in [*query.terms(), *query.excluded]]
    agencies = bs.read_jsonl(agencies_path)
    corpus = Corpus(entries(docs_path, agencies, database_ids(), args.n), stem, terms)
    print(f"reference index: {corpus.count} entries in {time.perf_counter() - t0:.1f} s")
    user = researcher()
    rows = []
    for raw, query, filters in mix:
        found = corpus.allowed(corpus.matches(query), filters)
        words = dict.fromkeys(w for term in query.terms() for w in term.words)
        stems = list(dict.fromkeys(corpus.term_stems(tuple(words))))
        ids = np.frombuffer(corpus.ids, np.int64)[found]
        scored = corpus.scores(stems, found)
        order = np.lexsort((-ids, -scored))  # by score, ties to the higher id
        reference = [(scored[i], ids[i]) for i in order[:TOP]]
        by_id = dict(zip(ids.tolist(), scored.tolist(), strict=True))
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
                "matches": len(found),
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
