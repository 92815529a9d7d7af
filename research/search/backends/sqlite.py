"""SQLite FTS5 backend: a porter-stemmed FTS5 table (ranked by research/search/ranking.py)."""

# SQL here is assembled from constants, model table names and integer ids only;
# every user value is a bound parameter, and search terms reach FTS5 quoted by query.py.
# ruff: noqa: S608

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import numpy as np
from django.db import transaction

from agreements.models import Agency, AgencyAlias
from research.models import Annotation, Document, Tag
from research.search.backends.base import (
    ENTRY_TABLE,
    FTS_TABLE,
    NOTE_FTS_TABLE,
    PREFIX,
    STATE_TABLE,
    VERSION_TABLE,
    Matches,
    Schema,
    SearchBackend,
    column,
    in_list,
    table,
)
from research.search.query import Query, Term

# bm25 weights of a note's body and tags: a body weighs as a document's body
# (research/search/ranking.py), tags as a summary.
NOTE_WEIGHTS = (1.0, 4.0)
# The tokenizer of the FTS5 tables (migration 0008_search_schema), to stem query words.
TOKENIZER = "'porter unicode61 remove_diacritics 2'"
_COLUMNS = {"title": 0, "summary": 1, "body": 2}

ENTRY_COLUMNS = "id, entry_type, object_id, kind, published, year, publisher, state, status"


def _document_rows(ids: str | None) -> list[str]:
    """Statements that write the entries of the documents with these ids (None: all)."""
    d = {name: column(Document, name) for name in ("kind", "published_on", "publisher")}
    d |= {name: column(Document, name) for name in ("status", "title", "summary", "text")}
    source = f"{table(Document)} d" + (f" WHERE d.id IN ({ids})" if ids is not None else "")
    return [
        f"""INSERT OR REPLACE INTO {ENTRY_TABLE} ({ENTRY_COLUMNS})
        SELECT d.id * 2, 'document', d.id, d.{d["kind"]}, d.{d["published_on"]},
               CAST(substr(d.{d["published_on"]}, 1, 4) AS INTEGER), d.{d["publisher"]}, '',
               d.{d["status"]}
        FROM {source}""",
        f"""INSERT INTO {FTS_TABLE} (rowid, title, summary, body)
        SELECT d.id * 2, d.{d["title"]}, d.{d["summary"]}, d.{d["text"]} FROM {source}""",
    ]


def _agency_rows(ids: str | None) -> list[str]:
    """Statements that write the entries of the agencies with these ids (None: all)."""
    a = {name: column(Agency, name) for name in ("name", "kind", "state", "county_name")}
    a["agency_type"] = column(Agency, "agency_type")
    alias_name, alias_agency = column(AgencyAlias, "name"), column(AgencyAlias, "agency")
    source = f"{table(Agency)} a" + (f" WHERE a.id IN ({ids})" if ids is not None else "")
    return [
        f"""INSERT OR REPLACE INTO {ENTRY_TABLE} ({ENTRY_COLUMNS})
        SELECT a.id * 2 + 1, 'agency', a.id, a.{a["kind"]}, NULL, NULL, '', a.{a["state"]},
               'published'
        FROM {source}""",
        f"""INSERT INTO {FTS_TABLE} (rowid, title, summary, body)
        SELECT a.id * 2 + 1, a.{a["name"]},
               (SELECT group_concat(al.{alias_name}, ' ; ') FROM {table(AgencyAlias)} al
                WHERE al.{alias_agency} = a.id),
               coalesce((SELECT s.name FROM {STATE_TABLE} s WHERE s.code = a.{a["state"]}), '')
                   || ' ' || a.{a["state"]} || ' ' || a.{a["county_name"]}
                   || ' ' || a.{a["agency_type"]}
        FROM {source}""",
    ]


def _note_rows() -> list[str]:
    """Statements that write every note's words, and the tag mirrors they are built from
    (as migration 0013_search_notes does)."""
    tags = Annotation.tags.through
    note, tag = column(tags, "annotation"), column(tags, "tag")
    name, slug = column(Tag, "name"), column(Tag, "slug")
    return [
        f"INSERT INTO search_tag (id, words) SELECT t.id, t.{name} || ' ' || replace(t.{slug}, '-', ' ')"
        f" FROM {table(Tag)} t",
        f"INSERT INTO search_note_tag (annotation_id, tag_id) SELECT {note}, {tag} FROM {table(tags)}",
        f"""INSERT INTO {NOTE_FTS_TABLE} (rowid, body, tags)
        SELECT a.id, a.{column(Annotation, "body")},
            coalesce((SELECT group_concat(s.words, ' ') FROM search_note_tag l
                JOIN search_tag s ON s.id = l.tag_id WHERE l.annotation_id = a.id), '')
        FROM {table(Annotation)} a""",
    ]


def _forget(entry_ids: str) -> list[str]:
    return [
        f"DELETE FROM {FTS_TABLE} WHERE rowid IN ({entry_ids})",
        f"DELETE FROM {ENTRY_TABLE} WHERE id IN ({entry_ids})",
    ]


# A new random token, as the triggers give it (see migration 0008_search_schema).
_BUMP = f"UPDATE {VERSION_TABLE} SET token = random() WHERE id = 1"


# --- The query, in FTS5's language ------------------------------------------------


def _fts5_term(term: Term) -> str:
    # Words are \w+ runs, so they never contain a double quote; quoting each
    # one makes FTS5 read it as a string, never as an operator or column filter.
    return '"' + " ".join(term.words) + '"'


def _fts5_any(terms: tuple[Term, ...]) -> str:
    if len(terms) == 1:
        return _fts5_term(terms[0])
    return "(" + " OR ".join(_fts5_term(t) for t in terms) + ")"


def to_fts5(query: Query) -> tuple[str, str]:
    """(positive, negative) SQLite FTS5 MATCH expressions; either may be empty."""
    positive = " AND ".join(_fts5_any(group) for group in query.groups)
    negative = _fts5_any(query.excluded) if query.excluded else ""
    return positive, negative


def _ids(cursor, expression: str, fts: str = FTS_TABLE) -> np.ndarray:
    """Rowids of the FTS5 matches of ``expression``, read as one string (fast for 100k ids)."""
    cursor.execute(f"SELECT group_concat(rowid) FROM {fts} WHERE {fts} MATCH %s", [expression])
    text = cursor.fetchone()[0]
    return np.fromstring(text, dtype=np.int64, sep=",") if text else np.zeros(0, np.int64)


def _head(expression: str) -> str:
    """``expression`` restricted to the title and summary columns."""
    return "{title summary} : (" + expression + ")"


class SqliteBackend(SearchBackend):
    vendor = "sqlite"
    note_table = NOTE_FTS_TABLE

    def reindex(self, cursor) -> None:
        cursor.execute(f"DELETE FROM {FTS_TABLE}")
        cursor.execute(f"DELETE FROM {ENTRY_TABLE}")
        for table_name in (NOTE_FTS_TABLE, "search_note_tag", "search_tag"):
            cursor.execute(f"DELETE FROM {table_name}")
        for statement in [*_document_rows(None), *_agency_rows(None), *_note_rows()]:
            cursor.execute(statement)
        cursor.execute(f"INSERT INTO {FTS_TABLE} ({FTS_TABLE}) VALUES ('optimize')")
        cursor.execute(_BUMP)  # the triggers may have been paused for a bulk load

    def index_documents(self, cursor, ids: list[int]) -> None:
        for statement in _forget(in_list([i * 2 for i in ids])):
            cursor.execute(statement)
        for statement in _document_rows(in_list(ids)):
            cursor.execute(statement)

    def index_agencies(self, cursor, ids: list[int]) -> None:
        for statement in _forget(in_list([i * 2 + 1 for i in ids])):
            cursor.execute(statement)
        for statement in _agency_rows(in_list(ids)):
            cursor.execute(statement)

    @contextlib.contextmanager
    def paused(self, cursor) -> Iterator[None]:
        # SQLite cannot disable a trigger: they are dropped, and created again
        # from the SQL the database itself kept for them.
        cursor.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
            " AND substr(name, 1, %s) = %s",
            [len(PREFIX), PREFIX],
        )
        triggers = cursor.fetchall()
        for name, _sql in triggers:
            cursor.execute(f'DROP TRIGGER "{name}"')
        try:
            yield
        finally:
            for _name, sql in triggers:
                cursor.execute(sql)

    def schema(self, cursor) -> Schema:
        found = Schema()
        cursor.execute(
            "SELECT type, name, tbl_name FROM sqlite_master WHERE substr(name, 1, %s) = %s",
            [len(PREFIX), PREFIX],
        )
        for kind, name, on_table in cursor.fetchall():
            if kind == "table":
                cursor.execute(f"SELECT name FROM pragma_table_info('{name}')")
                found.tables[name] = [row[0] for row in cursor.fetchall()]
            elif kind == "index":
                found.indexes.add(name)
            elif kind == "trigger":
                found.triggers.add((name, on_table))
        return found

    @contextlib.contextmanager
    def not_waiting(self, cursor) -> Iterator[None]:
        # One transaction (BEGIN IMMEDIATE takes the write lock at once), which
        # gives up at once if another connection writes.
        cursor.execute("PRAGMA busy_timeout")
        (previous,) = cursor.fetchone()
        cursor.execute("PRAGMA busy_timeout = 0")
        try:
            with transaction.atomic(using=cursor.db.alias):
                yield
        finally:
            cursor.execute(f"PRAGMA busy_timeout = {int(previous)}")

    def joined(self, expression: str, separator: str) -> str:
        return f"group_concat({expression}, '{separator}')"

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

    def octets(self, expression: str) -> str:
        return f"length(CAST({expression} AS BLOB))"  # octet_length() is SQLite 3.43+

    def stems(self, cursor, words: list[str]) -> list[list[str]]:
        """The index's own tokenizer stems them: a row a word in an FTS5 table, and its
        vocabulary."""
        if not words:
            return []
        cursor.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.search_stem"
            f" USING fts5(word, tokenize = {TOKENIZER})"
        )
        cursor.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.search_stem_terms"
            " USING fts5vocab(temp, search_stem, instance)"
        )
        cursor.execute("DELETE FROM temp.search_stem")
        rows = ", ".join(["(%s, %s)"] * len(words))
        cursor.execute(
            f"INSERT INTO temp.search_stem (rowid, word) VALUES {rows}",
            [value for i, word in enumerate(words) for value in (i, word)],
        )
        cursor.execute("SELECT doc, term FROM temp.search_stem_terms ORDER BY doc, offset")
        stems: list[list[str]] = [[] for _ in words]
        for doc, term in cursor.fetchall():
            stems[doc].append(term)
        return stems

    def postings(self, cursor, stems: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Counted from FTS5's instance vocabulary (one row per occurrence of a stem)."""
        cursor.execute(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.{FTS_TABLE}_instances"
            f" USING fts5vocab(main, {FTS_TABLE}, instance)"
        )
        cursor.execute(
            f"SELECT term, doc, col, count(*) FROM temp.{FTS_TABLE}_instances"
            f" WHERE term IN ({', '.join(['%s'] * len(stems))}) GROUP BY term, doc, col",
            list(stems),
        )
        rows: dict[str, list] = {stem: [] for stem in stems}
        for term, *row in cursor.fetchall():
            rows[term].append(row)
        result = {}
        for stem, found in rows.items():
            docs = np.array([row[0] for row in found], np.int64)
            columns = np.array([_COLUMNS[row[1]] for row in found], np.int64)
            ids, at = np.unique(docs, return_inverse=True)
            counts = np.zeros((len(ids), 3), np.int64)
            counts[at.ravel(), columns] = [row[2] for row in found]
            result[stem] = (ids, counts)
        return result

    # --- Notes --------------------------------------------------------------------

    def match_note_ids(self, cursor, query: Query) -> Matches | None:
        positive, negative = to_fts5(query)
        if positive:
            expression = f"({positive}) NOT {negative}" if negative else positive
            return Matches(_ids(cursor, expression, NOTE_FTS_TABLE))
        if negative:
            return Matches(_ids(cursor, negative, NOTE_FTS_TABLE), excluded=True)
        return None

    def rank_notes(self, cursor, query: Query, note_ids: np.ndarray) -> list[tuple[int, float]]:
        if len(note_ids) == 0:
            return []
        positive, negative = to_fts5(query)
        expression = f"({positive}) NOT {negative}" if negative else positive
        weights = ", ".join(str(w) for w in NOTE_WEIGHTS)
        cursor.execute(
            f"SELECT rowid, -bm25({NOTE_FTS_TABLE}, {weights}) FROM {NOTE_FTS_TABLE}"
            f" WHERE {NOTE_FTS_TABLE} MATCH %s AND +rowid IN (SELECT value FROM json_each(%s))",
            [expression, json.dumps(np.asarray(note_ids).tolist())],
        )
        scored = cursor.fetchall()
        scored.sort(key=lambda row: (-row[1], -row[0]))
        return [(int(note_id), float(score)) for note_id, score in scored]
