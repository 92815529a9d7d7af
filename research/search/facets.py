"""Facet counts, filters and date order from arrays kept in each process.

Counting seven facets in SQL touches every match and every link of every
match: 1.3 s for the 95,000 matches of a common word on SQLite. Instead, the
facet values of every index entry (type, kind, year, publisher, status, and
the state, model and tag links) are loaded once per process into numpy arrays
(a few MB for 100,000 documents). A search then only asks the database which
entries match its words; the filters are boolean masks, the counts are
``np.bincount`` over the matched rows and the date order is a rank computed at
load time. The counts are exact.

The arrays are reloaded when the index's version token changes. Database
triggers give the token a new value on every write to the index and to the
tables its facets read (agency links, agreement links, agreements, tags),
whatever made the write (services, admin, ``QuerySet.update()``, bulk
operations, raw SQL) and in whichever process, so one read of one row per
search tells whether this process's arrays are current. It is a token, not a
counter: a rolled-back transaction would take a counter back to a value that a
cache may already have seen with other data.
"""

# SQL here is assembled from constants only.
# ruff: noqa: S608

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from research.search.backends.base import ENTRY_TABLE

VERSION_TABLE = "search_version"
PUBLISHED = "published"
CONFIRMED = "confirmed"
FACET_LIMIT = 20  # values shown for the open-ended facets (publisher, tag)

# The tables whose writes change what the arrays hold, and (for tables with
# columns the arrays never read) the columns that matter on update.
WATCHED = {
    ENTRY_TABLE: None,
    "research_documentagency": None,
    "research_documentagreement": None,
    "agreements_agreement": ("model", "agency_id"),
    "research_document_tags": None,
    "research_tag": ("slug", "name"),
}

_ENTRIES = f"SELECT id, kind, year, publisher, status, state FROM {ENTRY_TABLE} ORDER BY id"
_DATE_ORDER = f"SELECT id FROM {ENTRY_TABLE} ORDER BY published DESC NULLS LAST, id DESC"
# A document is about the states and models of the agencies a curator
# confirmed, and the models of the agreements it is linked to; an agency is
# about its own state and the models of its agreements.
_STATES = f"""
SELECT DISTINCT da.document_id * 2, a.state FROM research_documentagency da
    JOIN agreements_agency a ON a.id = da.agency_id WHERE da.status = '{CONFIRMED}'
"""
_MODELS = f"""
SELECT da.document_id * 2, ag.model FROM research_documentagency da
    JOIN agreements_agreement ag ON ag.agency_id = da.agency_id WHERE da.status = '{CONFIRMED}'
UNION SELECT dg.document_id * 2, ag.model FROM research_documentagreement dg
    JOIN agreements_agreement ag ON ag.id = dg.agreement_id
UNION SELECT ag.agency_id * 2 + 1, ag.model FROM agreements_agreement ag
"""
_TAGS = "SELECT dt.document_id * 2, dt.tag_id FROM research_document_tags dt"
_TAG_NAMES = "SELECT id, slug, name FROM research_tag"


# PostgreSQL: statement-level triggers (cheap for bulk writes, and they see
# TRUNCATE); the token comes from a sequence, which a rollback never rewinds.
# (SQLite keeps its version triggers with the others in backends/sqlite.py.)
_PG_VERSION = [
    f"CREATE SEQUENCE IF NOT EXISTS {VERSION_TABLE}_seq",
    f"""CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
        id integer PRIMARY KEY CHECK (id = 1), token bigint NOT NULL
    )""",
    f"""INSERT INTO {VERSION_TABLE} (id, token) VALUES (1, nextval('{VERSION_TABLE}_seq'))
        ON CONFLICT (id) DO NOTHING""",
    f"""CREATE OR REPLACE FUNCTION {VERSION_TABLE}_bump() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE {VERSION_TABLE} SET token = nextval('{VERSION_TABLE}_seq') WHERE id = 1;
        RETURN NULL;
    END $$""",
]


def install_version(cursor, vendor: str) -> None:
    """Create (or repair) the version token and its triggers on PostgreSQL; idempotent."""
    if vendor != "postgresql":
        return
    for statement in _PG_VERSION:
        cursor.execute(statement)
    for table, columns in WATCHED.items():
        of = f" OF {', '.join(columns)}" if columns else ""
        name = f"{VERSION_TABLE}_bump"
        cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        cursor.execute(f"DROP TRIGGER IF EXISTS {name}_truncate ON {table}")
        cursor.execute(
            f"CREATE TRIGGER {name} AFTER INSERT OR DELETE OR UPDATE{of} ON {table}"
            f" FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
        )
        cursor.execute(
            f"CREATE TRIGGER {name}_truncate AFTER TRUNCATE ON {table}"
            f" FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
        )


def read_token(cursor) -> int | None:
    """The index's current version token (None before the version table exists)."""
    cursor.execute(f"SELECT token FROM {VERSION_TABLE} WHERE id = 1")
    row = cursor.fetchone()
    return row[0] if row else None


def _codes(values: list, vocabulary: dict) -> np.ndarray:
    """Each value's position in ``vocabulary`` (extended with new values)."""
    return np.fromiter(
        (vocabulary.setdefault(v, len(vocabulary)) for v in values), np.int32, len(values)
    )


@dataclass(frozen=True)
class Links:
    """A many-valued facet as pairs: entry row ``rows[i]`` has value ``values[codes[i]]``."""

    rows: np.ndarray
    codes: np.ndarray
    values: list

    @classmethod
    def build(cls, ids: np.ndarray, pairs: list, vocabulary: dict | None = None) -> Links:
        vocabulary = {} if vocabulary is None else vocabulary
        if not pairs:
            return cls(np.zeros(0, np.int64), np.zeros(0, np.int32), list(vocabulary))
        entry_ids = np.fromiter((p[0] for p in pairs), np.int64, len(pairs))
        codes = _codes([p[1] for p in pairs], vocabulary)
        rows = np.minimum(np.searchsorted(ids, entry_ids), max(len(ids) - 1, 0))
        known = (ids[rows] == entry_ids) if len(ids) else np.zeros(len(pairs), bool)
        # One pair per (row, value), whatever the number of paths to it.
        key = np.unique(rows[known] * (len(vocabulary) + 1) + codes[known])
        return cls(
            key // (len(vocabulary) + 1),
            (key % (len(vocabulary) + 1)).astype(np.int32),
            list(vocabulary),
        )

    def count(self, selected: np.ndarray) -> np.ndarray:
        """How many selected rows have each value."""
        return np.bincount(self.codes[selected[self.rows]], minlength=len(self.values))

    def having(self, wanted: set, size: int) -> np.ndarray:
        """Rows with any of the ``wanted`` values, as a mask."""
        codes = [i for i, v in enumerate(self.values) if v in wanted]
        mask = np.zeros(size, bool)
        mask[self.rows[np.isin(self.codes, codes)]] = True
        return mask


class FacetIndex:
    """Every index entry's facet values, as arrays aligned on the sorted entry ids."""

    def __init__(self, cursor, token: int | None):
        self.token = token
        cursor.execute(_ENTRIES)
        entries = cursor.fetchall()
        n = len(entries)
        self.size = n
        columns = list(zip(*entries, strict=True)) if entries else [[]] * 6
        ids, kinds, years, publishers, statuses, states = columns
        self.ids = np.fromiter(ids, np.int64, n)
        # id -> row table when ids are dense enough (they are ~2 x the row count).
        self.row_of = None
        if n and self.ids[-1] < 8 * n + 1024:
            self.row_of = np.full(int(self.ids[-1]) + 1, -1, np.int64)
            self.row_of[self.ids] = np.arange(n)
        self.is_agency = (self.ids % 2) == 1
        self.kind_values: dict = {}
        self.kind = _codes(list(kinds), self.kind_values)
        self.year = np.fromiter((y or 0 for y in years), np.int32, n)
        self.publisher_values: dict = {"": 0}
        self.publisher = _codes(list(publishers), self.publisher_values)
        self.visible = np.fromiter((s == PUBLISHED for s in statuses), bool, n)

        cursor.execute(_DATE_ORDER)
        order = np.fromiter((row[0] for row in cursor.fetchall()), np.int64, n)
        self.date_rank = np.empty(n, np.int32)
        self.date_rank[np.searchsorted(self.ids, order)] = np.arange(n, dtype=np.int32)

        cursor.execute(_STATES)
        agency_states = [(i, s) for i, s in zip(ids, states, strict=True) if i % 2 and s]
        self.states = Links.build(self.ids, [*cursor.fetchall(), *agency_states])
        cursor.execute(_MODELS)
        self.models = Links.build(self.ids, cursor.fetchall())
        cursor.execute(_TAG_NAMES)
        self.tag_names = {tag_id: (slug, name) for tag_id, slug, name in cursor.fetchall()}
        cursor.execute(_TAGS)
        self.tags = Links.build(self.ids, cursor.fetchall())

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

    def filter_mask(self, filters: dict[str, list[str]], *, public: bool) -> np.ndarray:
        """The rows that pass ``filters`` (normalized) and, if ``public``, are published."""
        mask = self.visible.copy() if public else np.ones(self.size, bool)
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

    def counts(self, selected: np.ndarray) -> tuple[int, dict[str, list[tuple[str, str, int]]]]:
        """(total, facet -> [(value, label, count)]) over the selected rows."""
        documents = selected & ~self.is_agency
        agencies = int(np.count_nonzero(selected & self.is_agency))
        total = int(np.count_nonzero(selected))
        counts: dict[str, list[tuple[str, str, int]]] = {}
        counts["type"] = [
            (value, "", n)
            for value, n in (("document", total - agencies), ("agency", agencies))
            if n
        ]
        counts["kind"] = _nonzero(
            np.bincount(self.kind[documents], minlength=len(self.kind_values)), self.kind_values
        )
        years = np.bincount(self.year[selected & (self.year > 0)])
        counts["year"] = [(str(y), "", int(years[y])) for y in np.flatnonzero(years)]
        publishers = np.bincount(self.publisher[selected], minlength=len(self.publisher_values))
        publishers[0] = 0  # no publisher
        counts["publisher"] = _top(_nonzero(publishers, self.publisher_values))
        counts["state"] = _nonzero(self.states.count(selected), self.states.values)
        counts["model"] = _nonzero(self.models.count(selected), self.models.values)
        tags = self.tags.count(documents)
        counts["tag"] = _top(
            [
                (*self.tag_names[tag_id], int(tags[code]))
                for code, tag_id in enumerate(self.tags.values)
                if tags[code] and tag_id in self.tag_names
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


def facet_index(connection, cursor) -> FacetIndex | None:
    """This process's arrays for ``connection``'s database, reloaded if the index changed.

    None when the database has no version table yet (an index from before it).
    """
    token = read_token(cursor)
    if token is None:
        return None
    key = (connection.alias, connection.vendor, str(connection.settings_dict.get("NAME")))
    index = _cache.get(key)
    if index is not None and index.token == token:
        return index
    with _lock:
        index = _cache.get(key)
        if index is None or index.token != token:
            # The token was read before the rows: the arrays are never older than it.
            index = _cache[key] = FacetIndex(cursor, token)
    return index
