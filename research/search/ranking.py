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
porter tokenizer, PostgreSQL's english configuration). A common word's postings
cost the database a read of every entry holding it (PostgreSQL: every vector),
so they are kept at two levels, both labelled with the index's version token:
in this process (``POSTINGS_BYTES``), and in the database's ``search_postings``
table for every process (words held by ``SHARED_MIN_ENTRIES`` entries or more),
where ``refresh_shared`` reads again in the background what a write made stale.
Scoring a common word's 35,000 matches is then a few vectorized passes, and the
top ``limit`` an ``argpartition``. The same postings say which entries a query of
plain words matches (``match_rows``), so the database is not asked to find them again;
beside them this process keeps the rows of the phrases it matched over the whole index.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from research.search.backends import backend_for
from research.search.backends.base import SearchBackend
from research.search.facets import FacetIndex
from research.search.query import Query, Term

K1 = 1.2
B = 0.75
WEIGHTS = np.array([10.0, 4.0, 1.0])  # title, summary, body
HEAD_WEIGHTS = np.array([10.0, 4.0, 0.0])
POSTINGS_BYTES = 256 * 2**20  # postings a process keeps (a common word's: ~1.6 MB at 100k)
# Rarer words are read from the index about as fast as from the shared table,
# and keeping only common ones bounds the table by the vocabulary.
SHARED_MIN_ENTRIES = 1_000
REFRESH_BATCH = 8  # stems read again per statement by refresh_shared
# Matches fewer than a word's postings by this factor are looked up in them one by one.
SCATTER_RATIO = 16
# A phrase among at most this many rows is checked among them by the database (by
# key, cheap); among more, it is matched over the whole index once and its rows kept
# with the postings, since a common pair ("police department") is read whole anyway.
PHRASE_AMONG = 500
_COUNT_MAX = np.iinfo(np.uint16).max  # BM25 saturates long before; PostgreSQL at 256


@dataclass(frozen=True)
class _Posting:
    """A stem's entries, as rows of the facet index, and its weighted occurrences in each.

    Rows rather than ids: scoring then scatters the counts into an array of the
    index's size and gathers them at the matches' rows, two linear passes where a
    search of each match among the ids was the slowest part of a common query.
    """

    entries: int  # entries holding the stem (its document frequency)
    rows: np.ndarray  # facet index rows (entries the index does not know are left out)
    full: np.ndarray  # tf over title, summary and body (WEIGHTS)
    head: np.ndarray  # tf over title and summary (HEAD_WEIGHTS)

    @classmethod
    def of(cls, ids: np.ndarray, counts: np.ndarray, index: FacetIndex) -> _Posting:
        rows = index.locate(ids)
        known = rows >= 0
        counts = counts[known]
        return cls(
            entries=len(ids),
            rows=rows[known],
            full=(counts @ WEIGHTS).astype(np.float32),
            head=(counts @ HEAD_WEIGHTS).astype(np.float32),
        )

    @property
    def nbytes(self) -> int:
        return self.rows.nbytes + self.full.nbytes + self.head.nbytes


def pack(ids: np.ndarray, counts: np.ndarray) -> tuple[bytes, bytes]:
    """A stem's postings as stored in ``search_postings``: little-endian int64 ids and
    uint16 counts (title, summary, body), in the same sorted order."""
    return (
        np.asarray(ids, "<i8").tobytes(),
        np.minimum(counts, _COUNT_MAX).astype("<u2").tobytes(),
    )


def unpack(ids: bytes, counts: bytes) -> tuple[np.ndarray, np.ndarray]:
    return np.frombuffer(ids, "<i8"), np.frombuffer(counts, "<u2").reshape(-1, 3)


def _sorted(ids: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(ids, kind="stable")
    return ids[order], counts[order]


@dataclass
class _Stats:
    """One facet index's field lengths, aligned on its rows, and the postings read so far."""

    count: int
    full: np.ndarray  # bytes of title + summary + body, per row
    head: np.ndarray  # bytes of title + summary, per row
    full_mean: float
    head_mean: float
    # Stem -> _Posting, and (phrase, head) -> its rows; least recently used first.
    postings: OrderedDict
    kept_bytes: int = 0


# Kept with the facet index they are aligned on: a new index (a new version) gets its own.
_cache: weakref.WeakKeyDictionary[FacetIndex, _Stats] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _stats(cursor, backend: SearchBackend, index: FacetIndex) -> _Stats:
    stats = _cache.get(index)
    if stats is not None:
        return stats
    with _lock:
        stats = _cache.get(index)
        if stats is None:
            ids, lengths = backend.field_lengths(cursor)
            rows = index.locate(ids)
            known = rows >= 0
            full = np.zeros(index.size)
            head = np.zeros(index.size)
            full[rows[known]] = lengths[known].sum(axis=1)
            head[rows[known]] = lengths[known, :2].sum(axis=1)
            count = max(index.size, 1)
            stats = _cache[index] = _Stats(
                count=index.size,
                full=full,
                head=head,
                full_mean=max(full.sum() / count, 1.0),
                head_mean=max(head.sum() / count, 1.0),
                postings=OrderedDict(),
            )
    return stats


def _read(cursor, backend: SearchBackend, token, stems: list[str], *, index: bool) -> dict:
    """Each stem's (sorted ids, counts): from the shared table if kept there at
    ``token``, else (``index``) from the index, keeping the common ones for every
    process. Stems found in neither are left out."""
    found = {}
    if token is not None:
        for stem, packed in backend.shared_postings(cursor, token, stems).items():
            found[stem] = unpack(*packed)
    unread = [stem for stem in stems if stem not in found]
    if unread and index:
        read = {
            stem: _sorted(*postings) for stem, postings in backend.postings(cursor, unread).items()
        }
        common = {s: pack(*p) for s, p in read.items() if len(p[0]) >= SHARED_MIN_ENTRIES}
        if common and token is not None:
            backend.keep_postings(cursor, token, common)
        found |= read
    return found


def _postings(
    stats: _Stats,
    cursor,
    backend: SearchBackend,
    index: FacetIndex,
    stems: list[str],
    *,
    read: bool = True,
) -> dict[str, _Posting]:
    """Each stem's postings at the version of ``index`` (whose ``stats`` they are).

    ``read``: read from the index the postings kept nowhere; otherwise those are left out.
    """
    missing = [stem for stem in stems if stem not in stats.postings]
    if missing:
        found = _read(cursor, backend, index.token, missing, index=read)
        with _lock:
            for stem, postings in found.items():
                if stem not in stats.postings:
                    stats.postings[stem] = posting = _Posting.of(*postings, index)
                    stats.kept_bytes += posting.nbytes
    kept = {}
    with _lock:
        for stem in stems:
            if stem in stats.postings:
                kept[stem] = stats.postings[stem]
                stats.postings.move_to_end(stem, last=True)
        while stats.kept_bytes > POSTINGS_BYTES and len(stats.postings) > len(stems):
            _stem, dropped = stats.postings.popitem(last=False)
            stats.kept_bytes -= dropped.nbytes
    return kept


def _phrase_rows(
    stats: _Stats,
    cursor,
    backend: SearchBackend,
    index: FacetIndex,
    term: Term,
    among: np.ndarray,
    *,
    head: bool,
) -> np.ndarray | None:
    """The rows where the phrase ``term`` matches, at least those among ``among`` (a
    mask); None if the database cannot say."""
    key = (term, head)
    with _lock:
        rows = stats.postings.get(key)
        if rows is not None:
            stats.postings.move_to_end(key, last=True)
            return rows
    phrase = Query(groups=((term,),))
    narrowed = None if among.all() else index.ids[among]
    if narrowed is not None and len(narrowed) <= PHRASE_AMONG:
        matches = backend.match_ids(cursor, phrase, narrowed, head=head)
        return None if matches is None else _known(index.locate(matches.ids))
    matches = backend.match_ids(cursor, phrase, head=head)
    if matches is None:
        return None
    rows = _known(index.locate(matches.ids))
    with _lock:
        if key not in stats.postings:
            stats.postings[key] = rows
            stats.kept_bytes += rows.nbytes
    return rows


def _known(rows: np.ndarray) -> np.ndarray:
    """The rows of entries the index knows, as the smallest integers that hold them."""
    return rows[rows >= 0].astype(np.int32)


def warm(cursor, backend: SearchBackend, index: FacetIndex) -> int:
    """Read ``index``'s field lengths and, up to ``POSTINGS_BYTES``, the postings the
    database keeps at its version (the most entries first), so that a new process
    ranks its first searches as fast as an old one; returns how many words."""
    stats = _stats(cursor, backend, index)
    read = 0
    if index.token is not None:
        for stem in backend.current_postings(cursor, index.token):
            if stats.kept_bytes >= POSTINGS_BYTES:
                break
            read += len(_postings(stats, cursor, backend, index, [stem], read=False))
    return read


def refresh_shared(connection) -> int:
    """Read again the shared postings that writes made stale; returns how many.

    The token is read before the postings, so what is kept is never older than
    its label (a write between the two only makes it newer, and stale again).
    """
    backend = backend_for(connection)
    with connection.cursor() as cursor:
        stale = backend.stale_postings(cursor, backend.version(cursor))
        for start in range(0, len(stale), REFRESH_BATCH):
            stems = stale[start : start + REFRESH_BATCH]
            token = backend.version(cursor)
            read = backend.postings(cursor, stems)
            common = {
                s: pack(*_sorted(*read[s])) for s in stems if len(read[s][0]) >= SHARED_MIN_ENTRIES
            }
            backend.keep_postings(cursor, token, common)
            # A word no longer common is read from the index again.
            backend.forget_postings(cursor, [s for s in stems if s not in common])
    return len(stale)


def query_stems(cursor, backend: SearchBackend, query: Query) -> list[str]:
    """The distinct stems of the words of the query's positive terms, in order."""
    words = list(dict.fromkeys(word for term in query.terms() for word in term.words))
    stems = backend.word_stems(cursor, words)
    return list(dict.fromkeys(s for word in words for s in stems[word] if s))


def match_rows(
    cursor,
    backend: SearchBackend,
    index: FacetIndex,
    query: Query,
    *,
    allowed: np.ndarray | None = None,
    head: bool = False,
    read: bool = True,
) -> tuple[np.ndarray, bool] | None:
    """The index rows ``query`` matches and whether they are the rows it excludes
    (as ``Matches.excluded``); None to leave the whole query to the database.

    A word of one stem matches exactly the entries holding that stem, so its
    rows come from the postings this process or the shared table keeps, without
    the database reading its word index again (at 1,000,000 documents, half a
    million ids for ``county``). A phrase needs positions, and a word of several
    stems is a phrase to the database: each is matched there alone, among the
    rows the filters (``allowed``, a mask) and the query's groups of words allow
    if they are few, else over the whole index once, its rows then kept with the
    postings; the terms are joined by AND, OR and NOT as set operations. A query
    holding a term of no stem (the database leaves it out) stays with the
    database; a phrase of one stem once stop words are dropped ("what private"
    on PostgreSQL) is that word. ``read``: read from the index the postings kept
    nowhere (a ranked search reads them anyway).
    """
    terms = list(dict.fromkeys([*query.terms(), *query.excluded]))
    if not terms or not index.size:
        return None
    stems = backend.word_stems(cursor, [word for term in terms for word in term.words])
    of_term = {term: [stem for word in term.words for stem in stems[word]] for term in terms}
    if not all(of_term.values()):
        return None
    # A phrase whose other words are stop words ("the jail") is its one word.
    plain = {term: found[0] for term, found in of_term.items() if len(found) == 1}
    stats = _stats(cursor, backend, index) if read else _cache.get(index)
    if stats is None:
        return None
    needed = list(dict.fromkeys(plain.values()))
    postings = _postings(stats, cursor, backend, index, needed, read=read)
    if len(postings) < len(needed):
        return None

    def rows_of(group, among: np.ndarray) -> np.ndarray | None:
        """The rows matching any term of ``group``; a phrase is checked among ``among``
        (a mask) if few: the database then reads the positions of fewer entries."""
        mask = np.zeros(index.size, bool)
        for term in group:
            if term in plain:
                posting = postings[plain[term]]
                mask[posting.rows[posting.head > 0] if head else posting.rows] = True
                continue
            rows = _phrase_rows(stats, cursor, backend, index, term, among, head=head)
            if rows is None:
                return None
            mask[rows] = True
        return mask

    # The groups of words first: the phrases are then checked among their rows.
    mask = np.ones(index.size, bool) if allowed is None else allowed
    for group in sorted(query.groups, key=lambda group: not all(t in plain for t in group)):
        rows = rows_of(group, mask)
        if rows is None:
            return None
        mask = mask & rows
    out = rows_of(query.excluded, mask) if query.excluded else None
    if query.excluded and out is None:
        return None
    if not query.groups:
        return np.flatnonzero(out), True
    if out is not None:
        mask &= ~out
    return np.flatnonzero(mask), False


def scores(
    cursor,
    backend: SearchBackend,
    index: FacetIndex,
    query: Query,
    rows: np.ndarray,
    *,
    head: bool = False,
) -> np.ndarray:
    """The score of the entries at ``rows`` of the index (see the module's docstring)."""
    stats = _stats(cursor, backend, index)
    lengths, mean = (stats.head, stats.head_mean) if head else (stats.full, stats.full_mean)
    norm = K1 * (1 - B + B * lengths[rows] / mean)
    total = np.zeros(len(rows))
    if not len(rows):
        return total
    dense = np.zeros(index.size, np.float32)  # one stem's tf at a time, by row
    stems = query_stems(cursor, backend, query)
    for posting in _postings(stats, cursor, backend, index, stems).values():
        if not posting.entries:
            continue
        idf = np.log(1 + (stats.count - posting.entries + 0.5) / (posting.entries + 0.5))
        weighted = posting.head if head else posting.full
        if len(rows) * SCATTER_RATIO < len(posting.rows):
            # A few matches among a common word's postings: found by a binary search
            # of each (the rows are sorted) rather than by two passes over all of them.
            at = np.minimum(np.searchsorted(posting.rows, rows), len(posting.rows) - 1)
            tf = np.where(posting.rows[at] == rows, weighted[at], 0).astype(np.float64)
        else:
            dense[posting.rows] = weighted
            tf = dense[rows].astype(np.float64)
            dense[posting.rows] = 0
        holds = tf > 0
        total[holds] += idf * tf[holds] * (K1 + 1) / (tf[holds] + norm[holds])
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
