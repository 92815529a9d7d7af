"""What every search backend provides, and the SQL they share.

The index is one table, ``search_entry``, with a row per document and per
agency. Its id is ``2 * object id`` for a document and ``2 * object id + 1``
for an agency, so triggers and queries never need a lookup to find it. The
rows carry the columns that results are filtered, sorted and faceted by;
the words live in a ``tsvector`` column (PostgreSQL) or an FTS5 table
(SQLite). Database triggers on the document, agency and alias tables keep it
in step with every write, including ``QuerySet.update()`` and raw SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import us

from research.search.query import Query

ENTRY_TABLE = "search_entry"


def state_name_case(column: str) -> str:
    """A SQL CASE expression giving the full state name of a USPS code column."""
    states = [*us.states.STATES_AND_TERRITORIES, us.states.DC]
    whens = " ".join(
        f"WHEN '{s.abbr}' THEN '{s.name.replace(chr(39), chr(39) * 2)}'" for s in states
    )
    return f"(CASE {column} {whens} ELSE '' END)"


@dataclass(frozen=True)
class MatchSQL:
    """How to join and filter ``search_entry e`` for a query, and how to rank it."""

    from_sql: str  # FROM clause that defines alias e
    where_sql: str  # condition (may be "1=1")
    params: list
    rank_sql: str  # higher is better
    rank_params: list
    # A cheaper score over title and summary only: with many matches, the best
    # candidates by it (then by date) are re-ranked by ``rank_sql``.
    prerank_sql: str = ""
    prerank_params: list | None = None
    # Set when the matches were copied into a table with the facet columns.
    matched_table: str = ""
    # Set when the matched table has ``states`` and ``models`` arrays.
    link_arrays: bool = False


@dataclass(frozen=True)
class Matches:
    """The entries a query's words match, for the facet engine (research/search/facets.py)."""

    ids: np.ndarray  # int64 entry ids
    # An optional cheap score per id (aligned with ``ids``, higher is better)
    # that a backend may use in :meth:`SearchBackend.rank` to pick candidates.
    scores: np.ndarray | None = None
    # True when the query matches every entry *except* ``ids`` (only exclusions).
    excluded: bool = False
    # How many entries the words matched, before visibility and filters.
    found: int = -1

    def __post_init__(self):
        if self.found < 0:
            object.__setattr__(self, "found", len(self.ids))

    def narrowed(self, keep: np.ndarray) -> Matches:
        """The matches where the boolean array ``keep`` (aligned with ids) is true."""
        scores = self.scores[keep] if self.scores is not None else None
        return Matches(self.ids[keep], scores, self.excluded, self.found)


class SearchBackend:
    """The interface: schema, bulk reindex, matching and snippets."""

    vendor = ""
    # Entries carry ``states`` and ``models`` arrays (kept by triggers).
    link_arrays = False
    # Searches run in a transaction (needed for SET LOCAL and ON COMMIT DROP);
    # on SQLite a transaction would take the database's write lock.
    in_transaction = False
    # The backend implements :meth:`match_ids` and :meth:`rank`: search() then
    # filters, counts facets and sorts by date from per-process arrays, and
    # asks the database only which entries match and which rank best.
    supports_ids = False

    def install(self, cursor) -> None:
        """Create (or repair) the index tables, indexes and triggers; idempotent."""
        raise NotImplementedError

    def reindex(self, cursor) -> None:
        """Rebuild the whole index from the document and agency tables."""
        raise NotImplementedError

    def pause(self, cursor) -> None:
        """Stop the triggers (for a bulk load followed by :meth:`reindex`)."""
        raise NotImplementedError

    def index_documents(self, cursor, ids: list[int]) -> None:
        """Rebuild the entries of these documents (deleting those that no longer exist)."""
        raise NotImplementedError

    def index_agencies(self, cursor, ids: list[int]) -> None:
        raise NotImplementedError

    def match(self, query: Query, *, ranked: bool) -> MatchSQL:
        raise NotImplementedError

    def materialize(
        self, cursor, match: MatchSQL, where: str, params: list
    ) -> tuple[MatchSQL, str, list]:
        """Optionally compute the matches once (in a transaction) for the queries that follow.

        Returns the (match, where, params) those queries should use.
        """
        return match, where, params

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

    def rank(
        self, cursor, query: Query, matches: Matches, limit: int, *, head: bool = False
    ) -> list[tuple[int, float]]:
        """The best ``limit`` (entry id, score) of ``matches``, best first, ties by id descending.

        ``matches`` is already narrowed to what the user may see and the filters
        pass; the query has positive terms. With ``head`` the score reads only
        the title and summary.
        """
        raise NotImplementedError

    def highlights(self, cursor, query: Query, entry_ids: list[int]) -> dict[int, tuple[str, str]]:
        """entry id -> (title, snippet) with matches between ``MARK_START``/``MARK_END``."""
        raise NotImplementedError


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
    the lower-cased text and confirming it with the regex: a regex scan of a
    5,000-character text that holds no match costs ~280 us, the finds ~11 us.
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
