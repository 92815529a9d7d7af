"""SQLite FTS5 backend: a porter-stemmed FTS5 table ranked with weighted bm25."""

# SQL here is assembled from constants and integer ids only; every user value is
# a bound parameter, and search terms reach FTS5/tsquery quoted by query.py.
# ruff: noqa: S608

from __future__ import annotations

import dataclasses
import json

import numpy as np

from research.search.backends.base import (
    ELLIPSIS,
    ENTRY_TABLE,
    MARK_END,
    MARK_START,
    Matches,
    MatchSQL,
    SearchBackend,
    lead,
    state_name_case,
)
from research.search.facets import VERSION_TABLE, WATCHED
from research.search.query import Query, to_fts5

FTS_TABLE = "search_fts"
# bm25 weights of the title, summary and body columns.
WEIGHTS = (10.0, 4.0, 1.0)
SNIPPET_TOKENS = 24
# FTS5 computes bm25 at ~2.5 us a row: up to this many matches every match is
# ranked; past it, the ranking is over a pool of candidates (see rank()).
EXACT_RANK_LIMIT = 1_000
RANK_POOL = 300  # candidates ranked when there are more matches (as RERANK_CANDIDATES)

ENTRY_COLUMNS = "id, entry_type, object_id, kind, published, year, publisher, state, status"

SCHEMA = [
    f"""CREATE TABLE IF NOT EXISTS {ENTRY_TABLE} (
        id integer PRIMARY KEY,
        entry_type varchar(10) NOT NULL CHECK (entry_type IN ('document', 'agency')),
        object_id bigint NOT NULL,
        kind varchar(20) NOT NULL DEFAULT '',
        published date NULL,
        year integer NULL,
        publisher varchar(255) NOT NULL DEFAULT '',
        state varchar(2) NOT NULL DEFAULT '',
        status varchar(15) NOT NULL DEFAULT 'published',
        CHECK (id = object_id * 2 + (entry_type = 'agency'))
    )""",
    f"CREATE INDEX IF NOT EXISTS search_entry_published ON {ENTRY_TABLE} (published DESC, id DESC)",
    f"""CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5(
        title, summary, body, tokenize = 'porter unicode61 remove_diacritics 2'
    )""",
    f"""CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
        id integer PRIMARY KEY CHECK (id = 1), token bigint NOT NULL
    )""",
    f"INSERT OR IGNORE INTO {VERSION_TABLE} (id, token) VALUES (1, random())",
]


def _document_rows(where: str) -> list[str]:
    """Statements that (re)write the entries of the documents matching ``where`` (alias d)."""
    return [
        f"""INSERT OR REPLACE INTO {ENTRY_TABLE} ({ENTRY_COLUMNS})
        SELECT d.id * 2, 'document', d.id, d.kind, d.published_on,
               CAST(substr(d.published_on, 1, 4) AS INTEGER), d.publisher, '', d.status
        FROM research_document d WHERE {where}""",
        f"""INSERT INTO {FTS_TABLE} (rowid, title, summary, body)
        SELECT d.id * 2, d.title, d.summary, d.text FROM research_document d WHERE {where}""",
    ]


def _agency_rows(where: str) -> list[str]:
    """Statements that (re)write the entries of the agencies matching ``where`` (alias a)."""
    return [
        f"""INSERT OR REPLACE INTO {ENTRY_TABLE} ({ENTRY_COLUMNS})
        SELECT a.id * 2 + 1, 'agency', a.id, a.kind, NULL, NULL, '', a.state, 'published'
        FROM agreements_agency a WHERE {where}""",
        f"""INSERT INTO {FTS_TABLE} (rowid, title, summary, body)
        SELECT a.id * 2 + 1, a.name,
               (SELECT group_concat(al.name, ' ; ') FROM agreements_agencyalias al
                WHERE al.agency_id = a.id),
               {state_name_case("a.state")} || ' ' || a.state || ' ' || a.county_name
                   || ' ' || a.agency_type
        FROM agreements_agency a WHERE {where}""",
    ]


def _forget(entry_id: str) -> list[str]:
    return [
        f"DELETE FROM {FTS_TABLE} WHERE rowid = {entry_id}",
        f"DELETE FROM {ENTRY_TABLE} WHERE id = {entry_id}",
    ]


def _body(statements: list[str]) -> str:
    return "BEGIN " + "; ".join(statements) + "; END"


# A trigger reads only its own table's row (new/old) and writes only the search
# tables: SQLite refuses to rename a table while any trigger names a table
# that is missing, which is the middle of every Django table rebuild.
_DOCUMENT_WRITE = [
    f"""INSERT OR REPLACE INTO {ENTRY_TABLE} ({ENTRY_COLUMNS}) VALUES (new.id * 2, 'document',
        new.id, new.kind, new.published_on, CAST(substr(new.published_on, 1, 4) AS INTEGER),
        new.publisher, '', new.status)""",
    f"""INSERT INTO {FTS_TABLE} (rowid, title, summary, body)
        VALUES (new.id * 2, new.title, new.summary, new.text)""",
]
_AGENCY_BODY = (
    f"{state_name_case('new.state')} || ' ' || new.state || ' ' || new.county_name"
    " || ' ' || new.agency_type"
)
_ALIASES = (
    f"UPDATE {FTS_TABLE} SET summary = coalesce((SELECT group_concat(al.name, ' ; ')"
    " FROM agreements_agencyalias al WHERE al.agency_id = {0}), '') WHERE rowid = {0} * 2 + 1"
)

TRIGGERS = {
    "search_document_insert": (
        "AFTER INSERT ON research_document",
        [*_forget("new.id * 2"), *_DOCUMENT_WRITE],
    ),
    "search_document_update": (
        "AFTER UPDATE OF id, kind, title, publisher, published_on, summary, text"
        " ON research_document",
        [*_forget("old.id * 2"), *_forget("new.id * 2"), *_DOCUMENT_WRITE],
    ),
    "search_document_status": (
        "AFTER UPDATE OF status ON research_document",
        [f"UPDATE {ENTRY_TABLE} SET status = new.status WHERE id = new.id * 2"],
    ),
    "search_document_delete": ("AFTER DELETE ON research_document", _forget("old.id * 2")),
    "search_agency_insert": (
        "AFTER INSERT ON agreements_agency",
        [
            *_forget("new.id * 2 + 1"),
            f"""INSERT INTO {ENTRY_TABLE} ({ENTRY_COLUMNS}) VALUES (new.id * 2 + 1, 'agency',
                new.id, new.kind, NULL, NULL, '', new.state, 'published')""",
            f"""INSERT INTO {FTS_TABLE} (rowid, title, summary, body)
                VALUES (new.id * 2 + 1, new.name, '', {_AGENCY_BODY})""",
        ],
    ),
    "search_agency_update": (
        "AFTER UPDATE OF name, kind, state, county_name, agency_type ON agreements_agency",
        [
            f"""UPDATE {ENTRY_TABLE} SET kind = new.kind, state = new.state
                WHERE id = new.id * 2 + 1""",
            f"""UPDATE {FTS_TABLE} SET title = new.name, body = {_AGENCY_BODY}
                WHERE rowid = new.id * 2 + 1""",
        ],
    ),
    "search_agency_delete": ("AFTER DELETE ON agreements_agency", _forget("old.id * 2 + 1")),
    "search_alias_insert": (
        "AFTER INSERT ON agreements_agencyalias",
        [_ALIASES.format("new.agency_id")],
    ),
    "search_alias_update": (
        "AFTER UPDATE OF name, agency_id ON agreements_agencyalias",
        [_ALIASES.format("old.agency_id"), _ALIASES.format("new.agency_id")],
    ),
    "search_alias_delete": (
        "AFTER DELETE ON agreements_agencyalias",
        [_ALIASES.format("old.agency_id")],
    ),
}


# A new random token on every write that changes what the facet arrays hold
# (see research/search/facets.py); random, so a rollback never brings back a
# token that a process may have cached with other data.
_BUMP = f"UPDATE {VERSION_TABLE} SET token = random() WHERE id = 1"
for _table, _columns in WATCHED.items():
    _of = f" OF {', '.join(_columns)}" if _columns else ""
    TRIGGERS[f"search_version_{_table}_insert"] = (f"AFTER INSERT ON {_table}", [_BUMP])
    TRIGGERS[f"search_version_{_table}_update"] = (f"AFTER UPDATE{_of} ON {_table}", [_BUMP])
    TRIGGERS[f"search_version_{_table}_delete"] = (f"AFTER DELETE ON {_table}", [_BUMP])


def _in_list(ids: list[int]) -> str:
    return ", ".join(str(int(i)) for i in ids) or "NULL"


def _ids(cursor, expression: str) -> np.ndarray:
    """Rowids of the FTS5 matches of ``expression``, read as one string (fast for 100k ids)."""
    cursor.execute(
        f"SELECT group_concat(rowid) FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s", [expression]
    )
    text = cursor.fetchone()[0]
    return np.fromstring(text, dtype=np.int64, sep=",") if text else np.zeros(0, np.int64)


def _head(expression: str) -> str:
    """``expression`` restricted to the title and summary columns."""
    return "{title summary} : (" + expression + ")"


class SqliteBackend(SearchBackend):
    vendor = "sqlite"
    supports_ids = True

    def install(self, cursor) -> None:
        for statement in SCHEMA:
            cursor.execute(statement)
        cursor.execute(f"PRAGMA table_info({ENTRY_TABLE})")
        if "status" not in {row[1] for row in cursor.fetchall()}:  # an index from before status
            cursor.execute(
                f"ALTER TABLE {ENTRY_TABLE} ADD COLUMN status varchar(15) NOT NULL DEFAULT ''"
            )
            self.reindex(cursor)
        for name, (event, statements) in TRIGGERS.items():
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
            cursor.execute(f"CREATE TRIGGER {name} {event} {_body(statements)}")

    def pause(self, cursor) -> None:
        for name in TRIGGERS:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")

    def reindex(self, cursor) -> None:
        cursor.execute(f"DELETE FROM {FTS_TABLE}")
        cursor.execute(f"DELETE FROM {ENTRY_TABLE}")
        for statement in [*_document_rows("1 = 1"), *_agency_rows("1 = 1")]:
            cursor.execute(statement)
        cursor.execute(f"INSERT INTO {FTS_TABLE} ({FTS_TABLE}) VALUES ('optimize')")
        cursor.execute(_BUMP)  # the triggers may have been paused for a bulk load

    def index_documents(self, cursor, ids: list[int]) -> None:
        entry_ids = _in_list([i * 2 for i in ids])
        cursor.execute(f"DELETE FROM {FTS_TABLE} WHERE rowid IN ({entry_ids})")
        cursor.execute(f"DELETE FROM {ENTRY_TABLE} WHERE id IN ({entry_ids})")
        for statement in _document_rows(f"d.id IN ({_in_list(ids)})"):
            cursor.execute(statement)

    def index_agencies(self, cursor, ids: list[int]) -> None:
        entry_ids = _in_list([i * 2 + 1 for i in ids])
        cursor.execute(f"DELETE FROM {FTS_TABLE} WHERE rowid IN ({entry_ids})")
        cursor.execute(f"DELETE FROM {ENTRY_TABLE} WHERE id IN ({entry_ids})")
        for statement in _agency_rows(f"a.id IN ({_in_list(ids)})"):
            cursor.execute(statement)

    def match(self, query: Query, *, ranked: bool) -> MatchSQL:
        positive, negative = to_fts5(query)
        if positive:
            expression = f"({positive}) NOT {negative}" if negative else positive
            weights = ", ".join(str(w) for w in WEIGHTS)
            return MatchSQL(
                from_sql=f"{FTS_TABLE} JOIN {ENTRY_TABLE} e ON e.id = {FTS_TABLE}.rowid",
                where_sql=f"{FTS_TABLE} MATCH %s",
                params=[expression],
                rank_sql=f"-bm25({FTS_TABLE}, {weights})" if ranked else "0",
                rank_params=[],
            )
        if negative:
            return MatchSQL(
                from_sql=f"{ENTRY_TABLE} e",
                where_sql=f"e.id NOT IN (SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s)",
                params=[negative],
                rank_sql="0",
                rank_params=[],
            )
        return MatchSQL(f"{ENTRY_TABLE} e", "1 = 1", [], "0", [])

    def materialize(
        self, cursor, match: MatchSQL, where: str, params: list
    ) -> tuple[MatchSQL, str, list]:
        # Match and score once into a temporary table (private to this
        # connection, outside the main database file: no lock is taken), for
        # the facet counts and the page that follow.
        cursor.execute("DROP TABLE IF EXISTS temp.search_matches")
        cursor.execute(
            "CREATE TEMP TABLE search_matches AS"
            " SELECT e.id, e.entry_type, e.object_id, e.kind, e.year, e.publisher, e.state,"
            f" e.published, {match.rank_sql} AS score"
            f" FROM {match.from_sql} WHERE {match.where_sql} AND {where}",
            [*match.rank_params, *match.params, *params],
        )
        materialized = dataclasses.replace(
            match,
            from_sql="temp.search_matches e",
            where_sql="1 = 1",
            params=[],
            rank_sql="e.score",
            rank_params=[],
            matched_table="temp.search_matches",
        )
        return materialized, "1 = 1", []

    def match_ids(self, cursor, query: Query, within=None, *, head: bool = False) -> Matches | None:
        # FTS5 finds all matches faster than it could test ``within``.
        positive, negative = to_fts5(query)
        scope = _head if head else str
        if positive:
            expression = f"({positive}) NOT {negative}" if negative else positive
            return Matches(_ids(cursor, scope(expression)))
        if negative:
            return Matches(_ids(cursor, scope(negative)), excluded=True)
        return None

    def rank(
        self, cursor, query: Query, matches: Matches, limit: int, *, head: bool = False
    ) -> list[tuple[int, float]]:
        """Weighted bm25: exact over up to ``EXACT_RANK_LIMIT`` allowed matches.

        FTS5 computes bm25 at ~2.5 us a row, so ranking the 95,000 matches of
        a common word would take ~250 ms. Only the allowed matches (visible,
        passing the filters) are scored: they are given to the statement as a
        JSON array and tested with ``+rowid IN``, which SQLite applies to the
        rows FTS5 returns (a rowid constraint FTS5 itself would take restarts
        the query, and bm25's counting of matches, once per id). Past the
        limit, the ranked pool is the ``RANK_POOL`` most recently indexed
        allowed matches whose title or summary match, scored on those columns;
        the other matches follow, newest first (the PostgreSQL backend re-ranks
        a title and summary pre-ranking the same way).
        """
        allowed = matches.ids
        if len(allowed) == 0:
            return []
        positive, negative = to_fts5(query)
        expression = f"({positive}) NOT {negative}" if negative else positive
        if head:
            expression = _head(expression)
        weights = ", ".join(str(w) for w in WEIGHTS)
        select = f"SELECT rowid, -bm25({FTS_TABLE}, {weights}) FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s"
        params: list = []
        if len(allowed) < matches.found:  # narrowed by visibility or filters
            select += " AND +rowid IN (SELECT value FROM json_each(%s))"
            params = [json.dumps(allowed.tolist())]
        if len(allowed) <= EXACT_RANK_LIMIT:
            cursor.execute(select, [expression, *params])
            pool = cursor.fetchall()
        else:
            recent = f"{select} ORDER BY rowid DESC LIMIT %s"
            cursor.execute(recent, [expression if head else _head(expression), *params, RANK_POOL])
            pool = cursor.fetchall()
            if len(pool) < limit:
                seen = {row[0] for row in pool}
                cursor.execute(recent, [expression, *params, limit + len(pool)])
                floor = min((score for _id, score in pool), default=0.0)
                rest = [row[0] for row in cursor.fetchall() if row[0] not in seen]
                # After every title and summary match, newest first.
                pool += [(entry_id, floor - 1 - i * 1e-9) for i, entry_id in enumerate(rest)]
        pool.sort(key=lambda row: (-row[1], -row[0]))
        return [(int(entry_id), float(score)) for entry_id, score in pool[:limit]]

    def highlights(self, cursor, query: Query, entry_ids: list[int]) -> dict[int, tuple[str, str]]:
        if not entry_ids:
            return {}
        ids = _in_list(entry_ids)
        positive, _negative = to_fts5(query)
        if not positive:
            cursor.execute(
                f"SELECT rowid, title, summary, substr(body, 1, 400) FROM {FTS_TABLE} "
                f"WHERE rowid IN ({ids})"
            )
            return {row[0]: (row[1] or "", lead(row[2] or row[3] or "")) for row in cursor}
        marks = f"'{MARK_START}', '{MARK_END}'"
        cursor.execute(
            f"SELECT rowid, highlight({FTS_TABLE}, 0, {marks}),"
            f" snippet({FTS_TABLE}, 1, {marks}, '{ELLIPSIS}', {SNIPPET_TOKENS}),"
            f" snippet({FTS_TABLE}, 2, {marks}, '{ELLIPSIS}', {SNIPPET_TOKENS})"
            f" FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s AND rowid IN ({ids})",
            [positive],
        )
        result = {}
        for rowid, title, summary, body in cursor:
            snippet = next(
                (s for s in (body, summary) if s and MARK_START in s), body or summary or ""
            )
            result[rowid] = (title or "", snippet)
        return result
