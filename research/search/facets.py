"""Facet counts, filters and date order from arrays kept in each process.

Counting seven facets in SQL touches every match and every link of every
match, over a second for a common word on SQLite (BENCHMARKS.md). Instead, the
facet values of every index entry (type, kind, year, publisher, status, and
the state, model and tag links) are loaded once per process into numpy arrays
(a few MB for 100,000 documents). A search then only asks the database which
entries match its words; the filters are boolean masks, the counts are
``np.bincount`` over the matched rows and the date order is a rank computed at
load time. The counts are exact.

The arrays are reloaded when the index's version token changes. Database
triggers give the token a new value on every write to the index and to the
tables its arrays read (agency links, agreement links, agreements, tags, the
documents' rights), whatever made the write (services, admin,
``QuerySet.update()``, bulk operations, raw SQL) and in whichever process, so
one read of one row per search tells whether this process's arrays are current.
It is a token, not a counter: a rolled-back transaction would take a counter
back to a value that a cache may already have seen with other data.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from agreements.models import Agency, Agreement
from research.models import Document, DocumentAgency, DocumentAgreement, Tag
from research.policy import PUBLIC_TEXT_RIGHTS
from research.search.backends.base import ENTRY_TABLE, SearchBackend, column, table

FACET_LIMIT = 20  # values shown for the open-ended facets (publisher, tag)

_ENTRY_COLUMNS = [
    ("id", int),
    ("kind", str),
    ("year", int),
    ("publisher", str),
    ("status", str),
    ("state", str),
    ("published", str),
]


def _sources() -> dict[str, tuple]:
    """(table, [(column, type)], condition) of each link table the facets read."""
    tags = Document.tags.through
    return {
        "confirmed_links": (
            table(DocumentAgency),
            [(column(DocumentAgency, "document"), int), (column(DocumentAgency, "agency"), int)],
            (column(DocumentAgency, "status"), DocumentAgency.Status.CONFIRMED.value),
        ),
        "agencies": (table(Agency), [("id", int), (column(Agency, "state"), str)], ()),
        "agreements": (
            table(Agreement),
            [("id", int), (column(Agreement, "agency"), int), (column(Agreement, "model"), str)],
            (),
        ),
        "agreement_links": (
            table(DocumentAgreement),
            [
                (column(DocumentAgreement, "document"), int),
                (column(DocumentAgreement, "agreement"), int),
            ],
            (),
        ),
        "tag_links": (
            table(tags),
            [(column(tags, "document"), int), (column(tags, "tag"), int)],
            (),
        ),
        "rights": (table(Document), [("id", int), (column(Document, "rights"), str)], ()),
        "tags": (
            table(Tag),
            [("id", int), (column(Tag, "slug"), str), (column(Tag, "name"), str)],
            (),
        ),
    }


def _codes(values: list, vocabulary: dict) -> np.ndarray:
    """Each value's position in ``vocabulary`` (extended with new values)."""
    if not values:
        return np.zeros(0, np.int32)
    # Fixed-width strings sort in C: much faster than a dict lookup per value.
    unique, inverse = np.unique(np.array(values, dtype=str), return_inverse=True)
    code = vocabulary.setdefault
    positions = np.array([code(v, len(vocabulary)) for v in unique.tolist()], np.int32)
    return positions[inverse.ravel()]


def _distinct(values: np.ndarray) -> np.ndarray:
    """The sorted distinct values of an int64 array."""
    values = np.sort(values)
    return values[np.concatenate(([True], values[1:] != values[:-1]))] if len(values) else values


def _lookup(keys: np.ndarray, values: np.ndarray, wanted: np.ndarray) -> tuple:
    """(found, value) for each of ``wanted`` among ``keys`` (unique) mapping to ``values``."""
    if not len(keys):
        return np.zeros(len(wanted), bool), np.zeros(len(wanted), values.dtype)
    order = np.argsort(keys)
    keys, values = keys[order], values[order]
    at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return keys[at] == wanted, values[at]


# A many-valued facet is counted from the selected rows' own pairs when they are
# fewer than its pairs by this factor, else by one pass over all its pairs.
SPARSE = 8


@dataclass(frozen=True)
class Links:
    """A many-valued facet as pairs: entry row ``rows[i]`` has value ``values[codes[i]]``."""

    rows: np.ndarray
    codes: np.ndarray
    values: list

    @classmethod
    def build(cls, index: FacetIndex, entry_ids: np.ndarray, codes: np.ndarray, values) -> Links:
        """From (entry id, code) pairs; pairs of unknown entries and repeats are dropped."""
        values = list(values)
        rows = index.locate(entry_ids) if len(entry_ids) else np.zeros(0, np.int64)
        known = rows >= 0
        width = len(values) + 1
        # One pair per (row, value), whatever the number of paths to it.
        key = _distinct(rows[known] * width + codes[known])
        return cls(key // width, (key % width).astype(np.int32), values)

    def count(self, selected: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """How many selected rows have each value (``rows``: the selected rows, sorted)."""
        if len(rows) * SPARSE >= len(self.rows):
            return np.bincount(self.codes[selected[self.rows]], minlength=len(self.values))
        # A few rows: their pairs are found by a binary search (pairs are sorted by row).
        start = np.searchsorted(self.rows, rows, "left")
        lengths = np.searchsorted(self.rows, rows, "right") - start
        at = np.arange(lengths.sum()) + np.repeat(start - np.cumsum(lengths) + lengths, lengths)
        return np.bincount(self.codes[at], minlength=len(self.values))

    def having(self, wanted: set, size: int) -> np.ndarray:
        """Rows with any of the ``wanted`` values, as a mask."""
        codes = [i for i, v in enumerate(self.values) if v in wanted]
        mask = np.zeros(size, bool)
        mask[self.rows[np.isin(self.codes, codes)]] = True
        return mask


class FacetIndex:
    """Every index entry's facet values, as arrays aligned on the sorted entry ids."""

    def __init__(self, cursor, token: int | None, backend: SearchBackend):
        self.token = token
        sources = _sources()

        def read(name: str) -> list:
            return backend.read_columns(cursor, *sources[name])

        ids, kinds, years, publishers, statuses, states, published = backend.read_columns(
            cursor, ENTRY_TABLE, _ENTRY_COLUMNS
        )
        order = np.argsort(ids, kind="stable")
        self.ids = ids = ids[order]
        n = self.size = len(ids)

        def aligned(values: list) -> list:
            return [values[i] for i in order.tolist()]

        # id -> row table when ids are dense enough (they are ~2 x the row count).
        self.row_of = None
        if n and ids[-1] < 8 * n + 1024:
            self.row_of = np.full(int(ids[-1]) + 1, -1, np.int64)
            self.row_of[ids] = np.arange(n)
        self.is_agency = (ids % 2) == 1
        self.kind_values: dict = {}
        self.kind = _codes(aligned(kinds), self.kind_values)
        self.year = years[order].astype(np.int32)
        self.publisher_values: dict = {"": 0}
        self.publisher = _codes(aligned(publishers), self.publisher_values)
        self.is_published = np.array(
            [s == Document.Status.PUBLISHED for s in aligned(statuses)], bool
        )
        # Documents whose body only readers allowed the full text may search.
        documents, rights = read("rights")
        public = np.isin(np.array(rights, dtype=str), sorted(PUBLIC_TEXT_RIGHTS))
        self.restricted_text = self.mask_of(self.locate(documents[~public] * 2))
        # Newest first, undated last, then by id descending.
        days = np.array([d[:10] or "NaT" for d in aligned(published)], "datetime64[D]")
        self.undated = undated = np.isnat(days)
        # Days since 1970, to merge this order with the notes' (research/search/notes.py).
        self.days = days = np.where(undated, 0, days.astype(np.int64))
        self.date_rank = np.empty(n, np.int32)
        self.date_rank[np.lexsort((-ids, -days, undated))] = np.arange(n, dtype=np.int32)

        self._links(read, ids, aligned(states))
        tag_ids, slugs, names = read("tags")
        self.tag_names = dict(zip(tag_ids.tolist(), zip(slugs, names, strict=True), strict=True))
        documents, tag_ids = read("tag_links")
        tag_values = sorted(self.tag_names)
        found, tag_codes = _lookup(
            np.array(tag_values, np.int64), np.arange(len(tag_values)), tag_ids
        )
        self.tags = Links.build(self, documents[found] * 2, tag_codes[found], tag_values)

    def _links(self, read, ids: np.ndarray, states: list) -> None:
        """The state and model pairs, joined in numpy from the link tables."""
        agency_ids, agency_states = read("agencies")
        documents, linked = read("confirmed_links")
        agreements, agreement_agencies, models = read("agreements")
        linked_documents, linked_agreements = read("agreement_links")

        # States: an agency's own; a document's through its confirmed links.
        state_values: dict = {}
        agency_codes = _codes(agency_states, state_values)
        own = self.is_agency & np.array([bool(s) for s in states], bool)
        own_codes = _codes(
            [s for s, keep in zip(states, own.tolist(), strict=True) if keep], state_values
        )
        found, link_codes = _lookup(agency_ids, agency_codes, linked)
        entries = np.concatenate([ids[own], documents[found] * 2])
        codes = np.concatenate([own_codes, link_codes[found]])
        blank = np.array([v == "" for v in state_values], bool)
        keep = ~blank[codes] if len(codes) else np.zeros(0, bool)
        self.states = Links.build(self, entries[keep], codes[keep], state_values)

        # Models: an agency's agreements; a document's through its confirmed
        # agencies' agreements and its own agreement links.
        model_values: dict = {}
        model_codes = _codes(models, model_values)
        by_agency = np.argsort(agreement_agencies, kind="stable")
        sorted_agencies = agreement_agencies[by_agency]
        start = np.searchsorted(sorted_agencies, linked, "left")
        end = np.searchsorted(sorted_agencies, linked, "right")
        counts = end - start
        # Every (link, agreement of its agency) pair, without a Python loop.
        offsets = np.repeat(start - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
        via_agency = model_codes[by_agency[offsets]]
        found, direct = _lookup(agreements, model_codes, linked_agreements)
        entries = np.concatenate(
            [
                agreement_agencies * 2 + 1,
                np.repeat(documents, counts) * 2,
                linked_documents[found] * 2,
            ]
        )
        codes = np.concatenate([model_codes, via_agency, direct[found]])
        self.models = Links.build(self, entries, codes, model_values)

    # --- Selecting -------------------------------------------------------------

    def locate(self, entry_ids: np.ndarray) -> np.ndarray:
        """The row of each entry id, -1 for ids the arrays do not know (written since)."""
        entry_ids = np.asarray(entry_ids, np.int64)
        if not self.size:
            return np.full(len(entry_ids), -1, np.int64)
        if self.row_of is not None:  # a direct lookup: ten times faster than a search
            inside = (entry_ids >= 0) & (entry_ids < len(self.row_of))
            return np.where(inside, self.row_of[np.where(inside, entry_ids, 0)], -1)
        rows = np.minimum(np.searchsorted(self.ids, entry_ids), self.size - 1)
        return np.where(self.ids[rows] == entry_ids, rows, -1)

    def mask_of(self, rows: np.ndarray) -> np.ndarray:
        """A mask with the given rows (from :meth:`locate`) set."""
        mask = np.zeros(self.size, bool)
        mask[rows[rows >= 0]] = True
        return mask

    def filter_mask(self, filters: dict[str, list[str]], *, visible: np.ndarray) -> np.ndarray:
        """The rows among ``visible`` (a mask) that pass ``filters`` (normalized)."""
        mask = visible.copy()
        documents = ~self.is_agency
        for name, values in filters.items():
            wanted = set(values)
            if name == "type":
                passing = np.zeros(self.size, bool)
                if "document" in wanted:
                    passing |= documents
                if "agency" in wanted:
                    passing |= self.is_agency
            elif name == "kind":
                codes = [c for v, c in self.kind_values.items() if v in wanted]
                passing = documents & np.isin(self.kind, codes)
            elif name == "year":
                passing = np.isin(self.year, [int(v) for v in values])
            elif name == "publisher":
                codes = [c for v, c in self.publisher_values.items() if v in wanted and v]
                passing = np.isin(self.publisher, codes)
            elif name == "state":
                passing = self.states.having(wanted, self.size)
            elif name == "model":
                passing = self.models.having(wanted, self.size)
            elif name == "tag":
                tag_ids = {i for i, (slug, _name) in self.tag_names.items() if slug in wanted}
                passing = self.tags.having(tag_ids, self.size) & documents
            else:
                continue
            mask &= passing
        return mask

    # --- Counting and ordering ---------------------------------------------------

    def counts(
        self, selected: np.ndarray, extra_tags: dict[int, int] | None = None
    ) -> tuple[int, dict[str, list[tuple[str, str, int]]]]:
        """(total, facet -> [(value, label, count)]) over the selected rows.

        ``extra_tags`` (tag id -> count) adds results that are not index entries
        (notes) to the tag counts before the largest are kept.
        """
        documents = selected & ~self.is_agency
        rows = np.flatnonzero(selected)
        document_rows = rows[~self.is_agency[rows]]
        total = len(rows)
        agencies = total - len(document_rows)
        counts: dict[str, list[tuple[str, str, int]]] = {}
        counts["type"] = [
            (value, "", n)
            for value, n in (("document", total - agencies), ("agency", agencies))
            if n
        ]
        counts["kind"] = _nonzero(
            np.bincount(self.kind[document_rows], minlength=len(self.kind_values)),
            self.kind_values,
        )
        years = self.year[rows]
        years = np.bincount(years[years > 0])
        counts["year"] = [(str(y), "", int(years[y])) for y in np.flatnonzero(years)]
        publishers = np.bincount(self.publisher[rows], minlength=len(self.publisher_values))
        publishers[0] = 0  # no publisher
        counts["publisher"] = _top(_nonzero(publishers, self.publisher_values))
        counts["state"] = _nonzero(self.states.count(selected, rows), self.states.values)
        counts["model"] = _nonzero(self.models.count(selected, rows), self.models.values)
        tags = self.tags.count(documents, document_rows)
        by_tag = {tag_id: int(tags[code]) for code, tag_id in enumerate(self.tags.values)}
        for tag_id, n in (extra_tags or {}).items():
            by_tag[tag_id] = by_tag.get(tag_id, 0) + n
        counts["tag"] = _top(
            [
                (*self.tag_names[tag_id], n)
                for tag_id, n in by_tag.items()
                if n and tag_id in self.tag_names
            ]
        )
        return total, counts

    def newest(self, selected: np.ndarray, offset: int, limit: int) -> list[int]:
        """Entry ids of the selected rows ``offset`` to ``offset + limit`` by date, newest first."""
        rows = np.flatnonzero(selected)
        end = offset + limit
        if len(rows) > end:
            rows = rows[np.argpartition(self.date_rank[rows], end - 1)[:end]]
        rows = rows[np.argsort(self.date_rank[rows], kind="stable")]
        return self.ids[rows[offset:end]].tolist()


def _nonzero(counts: np.ndarray, values) -> list[tuple[str, str, int]]:
    values = list(values)
    return [(str(values[i]), "", int(counts[i])) for i in np.flatnonzero(counts)]


def _top(rows: list[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    """The ``FACET_LIMIT`` largest, ties by value."""
    return sorted(rows, key=lambda r: (-r[2], r[0]))[:FACET_LIMIT]


_cache: dict[tuple, FacetIndex] = {}
_lock = threading.Lock()


def facet_index(connection, cursor, backend: SearchBackend, token: int | None = None) -> FacetIndex:
    """This process's arrays for ``connection``'s database, reloaded if the index
    changed; ``token``: its version token, if the caller has just read it."""
    if token is None:
        token = backend.version(cursor)
    key = (connection.alias, connection.vendor, str(connection.settings_dict.get("NAME")))
    index = _cache.get(key)
    if index is not None and token is not None and index.token == token:
        return index
    with _lock:
        index = _cache.get(key)
        if index is None or token is None or index.token != token:
            # The token was read before the rows: the arrays are never older than it.
            index = _cache[key] = FacetIndex(cursor, token, backend)
    return index
