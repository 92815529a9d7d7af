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

from research.policy import PUBLIC_TEXT_RIGHTS
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
    # Whose text the public may search (research.policy.SearchScope).
    "research_document": ("rights",),
}

# Each query returns its columns as comma- (numbers) or unit-separator- (text)
# joined strings, one row in all: parsing them with numpy is ten times faster
# than fetching 100,000 rows of tuples. The aggregates of one query see the
# rows in one order, so their columns stay aligned.
_SEP = "\x1f"
_ENTRY_COLUMNS = [
    ("id", int),
    ("kind", str),
    ("coalesce(year, 0)", int),
    ("publisher", str),
    ("status", str),
    ("state", str),
    ("coalesce(CAST(published AS text), '')", str),
]
_CONFIRMED_LINKS = (
    [("document_id", int), ("agency_id", int)],
    f"research_documentagency WHERE status = '{CONFIRMED}'",
)
_AGENCIES = ([("id", int), ("state", str)], "agreements_agency")
_AGREEMENTS = ([("id", int), ("agency_id", int), ("model", str)], "agreements_agreement")
_AGREEMENT_LINKS = ([("document_id", int), ("agreement_id", int)], "research_documentagreement")
_TAG_LINKS = ([("document_id", int), ("tag_id", int)], "research_document_tags")
_TAG_NAMES = "SELECT id, slug, name FROM research_tag"
_RESTRICTED_TEXT = (
    [("id", int)],
    "research_document WHERE rights NOT IN ("
    + ", ".join(f"'{rights}'" for rights in sorted(PUBLIC_TEXT_RIGHTS))
    + ")",
)


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
    """The index's current version token (None if its row is missing: the SQL path is used).

    The table itself is created by migration 0004 and repaired after every migrate.
    """
    cursor.execute(f"SELECT token FROM {VERSION_TABLE} WHERE id = 1")
    row = cursor.fetchone()
    return row[0] if row else None


def _columns(cursor, vendor: str, columns: list, source: str) -> list | None:
    """The columns of ``source`` (a table and condition), each as an array or a list of str.

    None when a text value holds the separator (the caller reads rows instead).
    """

    def aggregate(expression: str, kind) -> str:
        sep = "," if kind is int else _SEP
        if vendor == "postgresql":
            return f"string_agg(CAST({expression} AS text), '{sep}')"
        return f"group_concat({expression}, '{sep}')"

    select = ", ".join(aggregate(expression, kind) for expression, kind in columns)
    cursor.execute(f"SELECT count(*), {select} FROM {source}")
    count, *texts = cursor.fetchone()
    result = []
    for (_expression, kind), text in zip(columns, texts, strict=True):
        if kind is int:
            values = np.fromstring(text, np.int64, sep=",") if text else np.zeros(0, np.int64)
        else:
            values = text.split(_SEP) if text is not None else []
        if len(values) != count:
            return None
        result.append(values)
    return result


def _read(cursor, vendor: str, columns: list, source: str) -> list:
    """:func:`_columns`, falling back to reading rows when a text holds the separator."""
    found = _columns(cursor, vendor, columns, source)
    if found is not None:
        return found
    cursor.execute(f"SELECT {', '.join(e for e, _kind in columns)} FROM {source}")
    rows = cursor.fetchall()
    values = list(zip(*rows, strict=True)) if rows else [[] for _ in columns]
    return [
        np.array(v, np.int64) if kind is int else [str(x) for x in v]
        for v, (_e, kind) in zip(values, columns, strict=True)
    ]


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

    def __init__(self, cursor, token: int | None, vendor: str = "sqlite"):
        self.token = token
        ids, kinds, years, publishers, statuses, states, published = _read(
            cursor, vendor, _ENTRY_COLUMNS, ENTRY_TABLE
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
        self.visible = np.array([s == PUBLISHED for s in aligned(statuses)], bool)
        # Documents whose body only readers allowed the full text may search.
        (restricted,) = _read(cursor, vendor, *_RESTRICTED_TEXT)
        self.restricted_text = self.mask_of(self.locate(restricted * 2))
        # Newest first, undated last, then by id descending (as the SQL path sorts).
        days = np.array([d[:10] or "NaT" for d in aligned(published)], "datetime64[D]")
        undated = np.isnat(days)
        days = np.where(undated, 0, days.astype(np.int64))
        self.date_rank = np.empty(n, np.int32)
        self.date_rank[np.lexsort((-ids, -days, undated))] = np.arange(n, dtype=np.int32)

        self._links(cursor, vendor, ids, aligned(states))
        cursor.execute(_TAG_NAMES)
        self.tag_names = {tag_id: (slug, name) for tag_id, slug, name in cursor.fetchall()}
        documents, tag_ids = _read(cursor, vendor, *_TAG_LINKS)
        tag_values = sorted(self.tag_names)
        found, tag_codes = _lookup(
            np.array(tag_values, np.int64), np.arange(len(tag_values)), tag_ids
        )
        self.tags = Links.build(self, documents[found] * 2, tag_codes[found], tag_values)

    def _links(self, cursor, vendor: str, ids: np.ndarray, states: list) -> None:
        """The state and model pairs, joined in numpy from the link tables."""
        agency_ids, agency_states = _read(cursor, vendor, *_AGENCIES)
        documents, linked = _read(cursor, vendor, *_CONFIRMED_LINKS)
        agreements, agreement_agencies, models = _read(cursor, vendor, *_AGREEMENTS)
        linked_documents, linked_agreements = _read(cursor, vendor, *_AGREEMENT_LINKS)

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
        """The rows that pass ``filters`` (normalized) among the ``visible`` ones (a mask)."""
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

    None when the version table has no row (search() then counts in SQL).
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
            index = _cache[key] = FacetIndex(cursor, token, connection.vendor)
    return index
