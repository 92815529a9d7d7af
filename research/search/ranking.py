"""The portal's relevance function, computed in numpy over every allowed match.

Relevance is BM25 with the fields weighted, defined here once for both
databases. For each distinct stemmed word ``t`` of the query's positive terms
(a phrase counts as its words; excluded terms do not count) and each entry ``d``:

    tf(t, d)  = 10 x in title + 4 x in summary + 1 x in body (occurrences)
    idf(t)    = ln(1 + (N - n + 0.5) / (n + 0.5))   N entries, n entries holding t
    score(d)  = sum_t idf(t) * tf * (K1 + 1) / (tf + K1 * (1 - B + B * len(d) / avglen))

``len(d)`` is the size (UTF-8 bytes) of its title, summary and body, ``avglen``
its mean over the index: a size the databases know without reading the text.
Ranked on the title and summary only (``head``: what a reader without the full
text may search of a copyrighted document, research.policy.SearchScope) both
``tf`` and ``len`` leave the body
out, so the score says nothing about a text the reader may not search. Ties go
to the higher entry id (the newer).

The database stems and counts (``SearchBackend.stems`` and ``postings``: FTS5's
porter tokenizer, PostgreSQL's english configuration); the postings of a word
are read once per index version and kept in this process, like the facet
arrays (research/search/facets.py). Scoring a common word's 35,000 matches is
then a few vectorized passes, and the top ``limit`` an ``argpartition``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from research.search.backends.base import SearchBackend
from research.search.facets import FacetIndex
from research.search.query import Query

K1 = 1.2
B = 0.75
WEIGHTS = np.array([10.0, 4.0, 1.0])  # title, summary, body
HEAD_WEIGHTS = np.array([10.0, 4.0, 0.0])
POSTINGS_KEPT = 512  # words whose postings a process keeps (a common word's: ~1 MB at 100k)


@dataclass
class _Stats:
    """Field lengths aligned on the facet index's rows, and the postings read so far."""

    token: object
    count: int
    full: np.ndarray  # bytes of title + summary + body, per row
    head: np.ndarray  # bytes of title + summary, per row
    full_mean: float
    head_mean: float
    postings: OrderedDict


_cache: dict[tuple, _Stats] = {}
_lock = threading.Lock()


def _stats(key: tuple, cursor, backend: SearchBackend, index: FacetIndex) -> _Stats:
    stats = _cache.get(key)
    if stats is not None and index.token is not None and stats.token == index.token:
        return stats
    with _lock:
        stats = _cache.get(key)
        if stats is None or index.token is None or stats.token != index.token:
            ids, lengths = backend.field_lengths(cursor)
            rows = index.locate(ids)
            known = rows >= 0
            full = np.zeros(index.size)
            head = np.zeros(index.size)
            full[rows[known]] = lengths[known].sum(axis=1)
            head[rows[known]] = lengths[known, :2].sum(axis=1)
            count = max(index.size, 1)
            stats = _cache[key] = _Stats(
                token=index.token,
                count=index.size,
                full=full,
                head=head,
                full_mean=max(full.sum() / count, 1.0),
                head_mean=max(head.sum() / count, 1.0),
                postings=OrderedDict(),
            )
    return stats


def _postings(stats: _Stats, cursor, backend: SearchBackend, stems: list[str]) -> list:
    """Each stem's (sorted entry ids, float counts), read from the database once per version."""
    missing = [stem for stem in stems if stem not in stats.postings]
    if missing:
        read = backend.postings(cursor, missing)
        with _lock:
            for stem in missing:
                ids, counts = read[stem]
                order = np.argsort(ids, kind="stable")
                stats.postings[stem] = (ids[order], counts[order].astype(np.float64))
    found = []
    with _lock:
        for stem in stems:
            found.append(stats.postings[stem])
            stats.postings.move_to_end(stem, last=True)
        while len(stats.postings) > max(POSTINGS_KEPT, len(stems)):
            stats.postings.popitem(last=False)
    return found


_stems: dict[tuple[str, str], tuple[str, ...]] = {}  # (vendor, word) -> its stems
STEMS_KEPT = 20_000


def query_stems(cursor, backend: SearchBackend, query: Query) -> list[str]:
    """The distinct stems of the words of the query's positive terms, in order."""
    words = list(dict.fromkeys(word for term in query.terms() for word in term.words))
    missing = [word for word in words if (backend.vendor, word) not in _stems]
    if missing:
        if len(_stems) > STEMS_KEPT:
            _stems.clear()
        for word, stems in zip(missing, backend.stems(cursor, missing), strict=True):
            _stems[(backend.vendor, word)] = tuple(stems)
    return list(dict.fromkeys(s for word in words for s in _stems[(backend.vendor, word)] if s))


def scores(
    cursor,
    backend: SearchBackend,
    index: FacetIndex,
    key: tuple,
    query: Query,
    entry_ids: np.ndarray,
    *,
    head: bool = False,
) -> np.ndarray:
    """The score of each of ``entry_ids`` (see the module's docstring)."""
    stats = _stats(key, cursor, backend, index)
    entry_ids = np.asarray(entry_ids, np.int64)
    rows = index.locate(entry_ids)
    lengths, mean = (stats.head, stats.head_mean) if head else (stats.full, stats.full_mean)
    # An entry written since the arrays were read counts as of average length.
    length = np.where(rows >= 0, lengths[np.maximum(rows, 0)], mean)
    norm = K1 * (1 - B + B * length / mean)
    weights = HEAD_WEIGHTS if head else WEIGHTS
    total = np.zeros(len(entry_ids))
    stems = query_stems(cursor, backend, query)
    for ids, counts in _postings(stats, cursor, backend, stems):
        if not len(ids):
            continue
        idf = np.log(1 + (stats.count - len(ids) + 0.5) / (len(ids) + 0.5))
        at = np.minimum(np.searchsorted(ids, entry_ids), len(ids) - 1)
        holds = ids[at] == entry_ids
        tf = counts[at[holds]] @ weights
        total[holds] += idf * tf * (K1 + 1) / (tf + norm[holds])
    return total


def top(entry_ids: np.ndarray, score: np.ndarray, limit: int) -> list[tuple[int, float]]:
    """The best ``limit`` (entry id, score), best first, ties by id descending."""
    if limit <= 0 or not len(entry_ids):
        return []
    if len(score) > limit:
        # Everything scoring at least the limit-th best score, ties included.
        kth = np.partition(score, len(score) - limit)[len(score) - limit]
        keep = score >= kth
        entry_ids, score = entry_ids[keep], score[keep]
    order = np.lexsort((-entry_ids, -score))[:limit]
    return list(zip(entry_ids[order].tolist(), score[order].tolist(), strict=True))


def clear() -> None:
    """Forget every process-kept length and posting (tests that rebuild the database)."""
    with _lock:
        _cache.clear()
