"""What every search backend provides, and what they share.

The index is one table, ``search_entry``, with a row per document and per
agency. Its id is ``2 * object id`` for a document and ``2 * object id + 1``
for an agency, so triggers and queries never need a lookup to find it. The
rows carry the columns that results are filtered, sorted and faceted by;
the words live in a side table (PostgreSQL) or an FTS5 table (SQLite).
Database triggers on the document, agency and alias tables keep it in step
with every write, including ``QuerySet.update()`` and raw SQL.

Notes (annotations) have their own side table, keyed by the note's id and
kept in step by triggers on notes, their tags and tag names (research
migration 0013); research/search/notes.py merges them with the entries.

The schema (tables, indexes, functions, triggers) is created by the research
migrations, which hold its SQL; a backend reads and writes rows, never schema.
"""

# SQL here is assembled from constants and model table and column names only.
# ruff: noqa: S608

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from django.db import DatabaseError

from agreements.models import Agency
from research.models import Document
from research.search.query import Query

# The search side tables, named once here (migration 0008_search_schema creates them).
ENTRY_TABLE = "search_entry"
VERSION_TABLE = "search_version"
STATE_TABLE = "search_state"  # USPS code -> state name, for the agencies' words
WORD_TABLE = "search_words"  # PostgreSQL: each entry's tsvector
FTS_TABLE = "search_fts"  # SQLite: the FTS5 table (rowid = entry id)
# Notes' words (migration 0013_search_notes), keyed by the note's own id.
NOTE_WORD_TABLE = "search_note"  # PostgreSQL: each note's tsvector
NOTE_FTS_TABLE = "search_note_fts"  # SQLite: the FTS5 table (rowid = note id)
# Ranking's postings of common words for every process (migration 0017_search_postings).
POSTINGS_TABLE = "search_postings"
# Every table, index, function and trigger of the search schema is named so.
PREFIX = "search_"
# How much of a text its excerpt is looked for in (a text can be 10 MB).
HEADLINE_CHARS = 200_000
LEAD_CHARS = 2_000  # ... and a text's lead, when there is no word to look for
STEMS_KEPT = 20_000  # words whose stems a process remembers
_word_stems: dict[tuple[str, str], tuple[str, ...]] = {}  # (vendor, word) -> its stems


def table(model) -> str:
    """The database table of a model."""
    return model._meta.db_table


def column(model, name: str) -> str:
    """The database column of a model's field ("pk": its primary key)."""
    return (model._meta.pk if name == "pk" else model._meta.get_field(name)).column


def in_list(ids: list[int]) -> str:
    """Integer ids as the inside of SQL's ``IN (...)`` (NULL for none: matches nothing)."""
    return ", ".join(str(int(i)) for i in ids) or "NULL"


@dataclass(frozen=True)
class Matches:
    """The entries a query's words match, for the facet engine (research/search/facets.py)."""

    ids: np.ndarray  # int64 entry ids
    # True when the query matches every entry *except* ``ids`` (only exclusions).
    excluded: bool = False


@dataclass
class Schema:
    """The search objects (named ``search_*``) a database holds, or a migration declares."""

    tables: dict[str, list[str] | None] = field(default_factory=dict)  # None: columns unchecked
    indexes: set[str] = field(default_factory=set)
    functions: set[str] = field(default_factory=set)
    triggers: set[tuple[str, str]] = field(default_factory=set)  # (trigger, table)

    @classmethod
    def declared(cls, declaration: dict) -> Schema:
        """From a migration's ``SCHEMA[vendor]`` dictionary."""
        return cls(
            tables=dict(declaration["tables"]),
            indexes=set(declaration["indexes"]),
            functions=set(declaration["functions"]),
            triggers={tuple(pair) for pair in declaration["triggers"]},
        )


class SearchState(NamedTuple):
    """What a search reads first (:meth:`SearchBackend.search_state`)."""

    token: int | None
    any_notes: bool
    own_unpublished: list[int] | None  # None when not asked


class SearchBackend:
    """The one interface of a search backend: keep the index, match, rank, highlight.

    ``search()`` (research/search/selectors.py) asks the backend only which
    entries match a query, for the stems and their occurrences that the score
    is computed from (research/search/ranking.py), and for snippets; it
    filters, counts facets and sorts by date from per-process arrays
    (research/search/facets.py), whose values the backend reads.
    """

    vendor = ""
    note_table = ""  # a row for each indexed note

    # --- Keeping the index --------------------------------------------------------

    def reindex(self, cursor) -> None:
        """Rebuild the whole index from the document, agency and note tables."""
        raise NotImplementedError

    def index_documents(self, cursor, ids: list[int]) -> None:
        """Rebuild the entries of these documents (deleting those that no longer exist)."""
        raise NotImplementedError

    def index_agencies(self, cursor, ids: list[int]) -> None:
        """Rebuild the entries of these agencies (deleting those that no longer exist)."""
        raise NotImplementedError

    def paused(self, cursor) -> contextlib.AbstractContextManager[None]:
        """The index triggers off inside the block (a bulk load, then :meth:`reindex`)."""
        raise NotImplementedError

    def schema(self, cursor) -> Schema:
        """The search objects the database holds now (for ``search_check``)."""
        raise NotImplementedError

    # --- Reading ------------------------------------------------------------------

    def version(self, cursor) -> int | None:
        """The index's version token: it changes on every write to the entries or their words
        (what the facet arrays and the postings kept at a token hold)."""
        cursor.execute(f"SELECT token FROM {VERSION_TABLE} WHERE id = 1")
        row = cursor.fetchone()
        return row[0] if row else None

    def search_state(self, cursor, own_unpublished: tuple[str, list] | None = None) -> SearchState:
        """What a search reads first, in one round trip: the index's version token,
        whether any note is indexed (without one, it never asks about notes) and,
        given their (SQL, parameters), the reader's unpublished documents
        (research.policy.own_unpublished_query)."""
        own, params = ("NULL", [])
        if own_unpublished is not None:
            sql, params = own_unpublished
            own = f"(SELECT {self.joined('o.id', ',')} FROM ({sql}) o)"
        cursor.execute(
            f"SELECT (SELECT token FROM {VERSION_TABLE} WHERE id = 1),"
            f" EXISTS (SELECT 1 FROM {self.note_table}), {own}",
            params,
        )
        token, notes, ids = cursor.fetchone()
        return SearchState(
            token,
            bool(notes),
            None if own_unpublished is None else [int(i) for i in (ids or "").split(",") if i],
        )

    def entry_counts(self, cursor) -> dict[str, int]:
        """How many entries the index holds, by type ("document", "agency")."""
        cursor.execute(f"SELECT entry_type, COUNT(*) FROM {ENTRY_TABLE} GROUP BY entry_type")
        return dict(cursor.fetchall())

    def read_columns(
        self, cursor, source: str, columns: list[tuple[str, type]], where: tuple = ()
    ) -> list:
        """The columns of table ``source`` (rows where ``where`` = (column, value) holds):
        int columns as int64 arrays (NULL as 0), text columns as lists of str (NULL as "").

        Each column comes as one joined string, one row in all: parsing that with
        numpy is ten times faster than fetching 100,000 rows of tuples. The
        aggregates of one query see the rows in one order, so columns stay aligned.
        """
        condition, params = (f" WHERE {where[0]} = %s", [where[1]]) if where else ("", [])
        expressions = [
            f"coalesce({name}, 0)" if kind is int else f"coalesce(CAST({name} AS text), '')"
            for name, kind in columns
        ]
        select = ", ".join(
            self.joined(expression, "," if kind is int else _SEP)
            for expression, (_name, kind) in zip(expressions, columns, strict=True)
        )
        cursor.execute(f"SELECT count(*), {select} FROM {source}{condition}", params)
        count, *texts = cursor.fetchone()
        result = []
        for (_name, kind), text in zip(columns, texts, strict=True):
            if kind is int:
                values = np.fromstring(text, np.int64, sep=",") if text else np.zeros(0, np.int64)
            else:
                values = text.split(_SEP) if text is not None else []
            result.append(values)
        if all(len(values) == count for values in result):
            return result
        # A text held the separator: read rows instead.
        cursor.execute(f"SELECT {', '.join(expressions)} FROM {source}{condition}", params)
        rows = cursor.fetchall()
        values = list(zip(*rows, strict=True)) if rows else [[] for _ in columns]
        return [
            np.array(v, np.int64) if kind is int else [str(x) for x in v]
            for v, (_name, kind) in zip(values, columns, strict=True)
        ]

    def among(self, column: str, ids: list[int]) -> tuple[str, list]:
        """(SQL true where ``column`` holds one of ``ids``, its parameters)."""
        return f"{column} IN ({in_list(ids)})", []

    def joined(self, expression: str, separator: str) -> str:
        """SQL aggregating ``expression`` (text) over the rows into one ``separator``-joined string."""
        raise NotImplementedError

    def match_ids(
        self, cursor, query: Query, within: np.ndarray | None = None, *, head: bool = False
    ) -> Matches | None:
        """The entries matching the query's terms; None when it has no terms (all match).

        ``within``, when given, holds the (sorted) entry ids that visibility and
        the filters allow: the backend may leave out matches outside them.
        With ``head`` only the title and summary count (what the public may
        search of a copyrighted text, see research.policy.SearchScope).
        """
        raise NotImplementedError

    def stems(self, cursor, words: list[str]) -> list[list[str]]:
        """Each query word's stems, as the index holds them (none for a stop word)."""
        raise NotImplementedError

    def word_stems(self, cursor, words: list[str]) -> dict[str, tuple[str, ...]]:
        """Each of ``words``' stems (``stems``), remembered by the process."""
        missing = list(dict.fromkeys(w for w in words if (self.vendor, w) not in _word_stems))
        if missing:
            if len(_word_stems) > STEMS_KEPT:
                _word_stems.clear()
            for word, stems in zip(missing, self.stems(cursor, missing), strict=True):
                _word_stems[(self.vendor, word)] = tuple(stems)
        return {word: _word_stems[(self.vendor, word)] for word in words}

    def word_pattern(self, cursor, query: Query) -> StemPattern | None:
        """What marks the query's words in a hit: their stems, and the words as typed."""
        words = sorted({word for term in query.terms() for word in term.words})
        stems = [stem for found in self.word_stems(cursor, words).values() for stem in found]
        return match_pattern([*stems, *words]) if stems else None

    def postings(self, cursor, stems: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """stem -> (entry ids, occurrences in title, summary and body: an (n, 3) array)."""
        raise NotImplementedError

    def shared_postings(self, cursor, token: int, stems: list[str]) -> dict[str, tuple]:
        """stem -> (ids, counts) as packed by research/search/ranking.py, of the
        ``stems`` kept in the database at version ``token``."""
        if not stems:
            return {}
        cursor.execute(
            f"SELECT stem, ids, counts FROM {POSTINGS_TABLE} WHERE token = %s"
            f" AND stem IN ({', '.join(['%s'] * len(stems))})",
            [token, *stems],
        )
        return {stem: (bytes(ids), bytes(counts)) for stem, ids, counts in cursor.fetchall()}

    def current_postings(self, cursor, token: int) -> list[str]:
        """The stems kept at version ``token``, the most entries first."""
        cursor.execute(
            f"SELECT stem FROM {POSTINGS_TABLE} WHERE token = %s"
            f" ORDER BY {self.octets('ids')} DESC",
            [token],
        )
        return [row[0] for row in cursor.fetchall()]

    def stale_postings(self, cursor, token: int) -> list[str]:
        """The stems kept at another version than ``token``."""
        cursor.execute(
            f"SELECT stem FROM {POSTINGS_TABLE} WHERE token <> %s ORDER BY stem", [token]
        )
        return [row[0] for row in cursor.fetchall()]

    def keep_postings(self, cursor, token: int, packed: dict[str, tuple]) -> None:
        """Keep ``packed`` postings (stem -> (ids, counts)) read at version ``token``.

        A search does not wait for a writer to keep them: if the table is locked
        (or the database refuses writes), nothing is kept.
        """
        with contextlib.suppress(DatabaseError), self.not_waiting(cursor):
            cursor.executemany(
                f"INSERT INTO {POSTINGS_TABLE} (stem, token, ids, counts)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (stem) DO UPDATE SET"
                " token = excluded.token, ids = excluded.ids, counts = excluded.counts",
                [(stem, token, ids, counts) for stem, (ids, counts) in packed.items()],
            )

    def forget_postings(self, cursor, stems: list[str]) -> None:
        """Drop the kept postings of ``stems``."""
        if stems:
            cursor.execute(
                f"DELETE FROM {POSTINGS_TABLE} WHERE stem IN ({', '.join(['%s'] * len(stems))})",
                list(stems),
            )

    @contextlib.contextmanager
    def not_waiting(self, cursor) -> Iterator[None]:
        """Statements that fail at once, rolled back, rather than wait for a lock."""
        yield

    def octets(self, expression: str) -> str:
        """SQL: the UTF-8 bytes of a text expression (read from its header where stored)."""
        return f"octet_length({expression})"

    def field_lengths(self, cursor) -> tuple[np.ndarray, np.ndarray]:
        """(entry ids, bytes of title, summary and body: an (n, 3) array) of every entry.

        The length research/search/ranking.py divides by: bytes, not words, because
        a text's size is known without reading it (PostgreSQL: 4 ms for 10,000
        documents, against 0.5 s to count their spaces).
        """
        from agreements.models import AgencyAlias

        def size(expression: str) -> str:
            return self.octets(f"coalesce({expression}, '')")

        document = [("id * 2", int)] + [
            (size(column(Document, name)), int) for name in ("title", "summary", "text")
        ]
        alias_agency, alias_name = column(AgencyAlias, "agency"), column(AgencyAlias, "name")
        a = {name: column(Agency, name) for name in ("name", "state", "county_name", "agency_type")}
        aliases = (
            f"(SELECT sum({size('al.' + alias_name)}) FROM {table(AgencyAlias)} al"
            f" WHERE al.{alias_agency} = a.id)"
        )
        # As the index's agency body: state name, state code, county, type.
        state_name = f"(SELECT s.name FROM {STATE_TABLE} s WHERE s.code = a.{a['state']})"
        body = size(
            f"coalesce({state_name}, '') || ' ' || a.{a['state']} || ' ' || a.{a['county_name']}"
            f" || ' ' || a.{a['agency_type']}"
        )
        agency = [("a.id * 2 + 1", int), (size("a." + a["name"]), int), (aliases, int), (body, int)]
        parts = [
            self.read_columns(cursor, table(Document), document),
            self.read_columns(cursor, f"{table(Agency)} a", agency),
        ]
        ids = np.concatenate([part[0] for part in parts])
        lengths = np.concatenate([np.stack(part[1:], axis=1) for part in parts])
        return ids, lengths.reshape(-1, 3)

    # --- Notes (their own side table; research/search/notes.py) ---------------------

    def match_note_ids(self, cursor, query: Query) -> Matches | None:
        """The notes whose body or tags match the query's terms; None when it has no terms."""
        raise NotImplementedError

    def rank_notes(self, cursor, query: Query, note_ids: np.ndarray) -> list[tuple[int, float]]:
        """(note id, score) of these notes (matches of a query with positive terms),
        best first, ties by id descending; scores compare with :meth:`rank`'s."""
        raise NotImplementedError


# Joins the text values of a column: a control character no title or name holds.
_SEP = "\x1f"


# Private-use characters mark matches in titles and snippets; the text is
# escaped first and only then are they turned into <mark> elements.
MARK_START = "\ue000"
MARK_END = "\ue001"
ELLIPSIS = "\u2026"


def lead(text: str, words: int = 30) -> str:
    """The first ``words`` words of a text, as an unhighlighted snippet."""
    parts = text.split()
    return " ".join(parts[:words]) + (f" {ELLIPSIS}" if len(parts) > words else "")


class StemPattern:
    """Words starting with any of some stems (detain: detained, detainers), case aside.

    ``search`` finds the first one by looking for each stem with ``str.find`` in
    the lower-cased text and confirming it with the regex: on a text that holds no
    match, the finds are far cheaper than a regex scan.
    """

    def __init__(self, stems: list[str]):
        self.stems = sorted({s.lower() for s in stems if s}, key=len, reverse=True)
        alternatives = "|".join(re.escape(s) for s in self.stems)
        self.regex = re.compile(rf"\b(?:{alternatives})\w*", re.IGNORECASE)

    def search(self, text: str) -> re.Match | None:
        lowered = text.lower()
        if len(lowered) != len(text):  # lower-casing moved the offsets (e.g. "İ")
            return self.regex.search(text)
        first = None
        for stem in self.stems:
            at = lowered.find(stem)
            while at >= 0 and (first is None or at < first):
                found = self.regex.match(text, at)  # \b looks at the character before
                if found:
                    first = at
                    break
                at = lowered.find(stem, at + 1)
        return self.regex.match(text, first) if first is not None else None

    def sub(self, replacement, text: str) -> str:
        return self.regex.sub(replacement, text)


def match_pattern(stems: list[str]) -> StemPattern:
    """A pattern for words starting with any of ``stems`` (detain: detained, detainers)."""
    return StemPattern(stems)


def mark(text: str, pattern: StemPattern | None) -> str:
    """``text`` with every match of ``pattern`` between MARK_START and MARK_END."""
    text = text.replace(MARK_START, "").replace(MARK_END, "")
    if pattern is None:
        return text
    return pattern.sub(lambda m: f"{MARK_START}{m.group(0)}{MARK_END}", text)


def _words_before(text: str, end: int, count: int) -> tuple[list[str], bool]:
    """The last ``count`` words of ``text[:end]``, and whether more words precede them."""
    start = end
    while True:  # a window of ~12 characters a word, widened until it holds enough
        start = max(0, start - 12 * (count + 1))
        preceding = text[start:end].split()
        # The window's first word may be cut: it counts only as "more before".
        cut = start > 0 and not text[start - 1].isspace()
        if len(preceding) > count + cut or start == 0:
            more = len(preceding) > count or (start > 0 and bool(text[:start].strip()))
            return preceding[-count:] if count else [], more


def _words_from(text: str, start: int, count: int) -> tuple[list[str], bool]:
    """The first ``count`` words of ``text[start:]``, and whether more words follow them."""
    end = start
    while True:
        end = min(len(text), end + 12 * (count + 1))
        following = text[start:end].split()
        cut = end < len(text) and not text[end].isspace()
        if len(following) > count + cut or end == len(text):
            more = len(following) > count or (end < len(text) and bool(text[end:].strip()))
            return following[:count], more


def excerpt(summary: str, body: str, pattern: StemPattern | None, words: int = 30) -> str:
    """About ``words`` words around the first match in the summary or body, marked.

    Only the words near the match are split out: a body can be 200,000 characters.
    """
    for text in (body, summary):
        found = pattern.search(text) if pattern and text else None
        if found:
            before, more_before = _words_before(text, found.start(), words // 3)
            after, more_after = _words_from(text, found.start(), words - len(before))
            clip = " ".join(before + after)
            head = ELLIPSIS + " " if more_before else ""
            tail = " " + ELLIPSIS if more_after else ""
            return head + mark(clip, pattern) + tail
    return lead(summary or body, words)
