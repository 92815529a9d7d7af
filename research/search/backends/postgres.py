"""PostgreSQL backend: a weighted tsvector with a GIN index, ts_rank_cd and ts_headline."""

# SQL here is assembled from constants and integer ids only; every user value is
# a bound parameter, and search terms reach FTS5/tsquery quoted by query.py.
# ruff: noqa: S608

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

import numpy as np

from research.search.backends.base import (
    ENTRY_TABLE,
    Matches,
    MatchSQL,
    SearchBackend,
    excerpt,
    mark,
    match_pattern,
    state_name_case,
)
from research.search.query import Query, Term, to_tsquery_sql

# Snippets are taken from the first characters of very long texts.
HEADLINE_CHARS = 200_000
# Up to this many allowed matches every one is ranked; past it, a pool (see rank()).
EXACT_RANK_LIMIT = 1_000
RANK_POOL = 300  # candidates ranked when there are more matches (as on SQLite)
# Newest allowed matches checked for a title match first, and at most in all
# (past that, the title matches are rare and their GIN index is cheaper).
HEAD_PROBE = 2_000
MAX_HEAD_PROBE = 12_000
# Most candidates whose phrase is checked one by one among the allowed entries.
VERIFY_LIMIT = 5_000
# ... and only if the filters leave fewer than 1 / WITHIN_GAIN of them: checked by
# primary key, a candidate costs ~1.7 times one rechecked in a bitmap scan.
WITHIN_GAIN = 2
# Excluded words are checked on each match read by primary key (~30 us) up to this
# many matches; past it the words index finds every entry holding them.
VERIFY_BY_KEY = 500

# The words of each entry live in a narrow side table (id and a tsvector kept
# out of line): finding the 95,000 matches of a common word visits its small
# heap (~6 MB) instead of the entry table's (~35 MB), 4-5 times faster.
WORD_TABLE = "search_words"
ENTRY_COLUMNS = (
    "id, entry_type, object_id, kind, published, year, publisher, state, status, head,"
    " states, models"
)
UPSERT = (
    "ON CONFLICT (id) DO UPDATE SET entry_type = EXCLUDED.entry_type,"
    " object_id = EXCLUDED.object_id, kind = EXCLUDED.kind, published = EXCLUDED.published,"
    " year = EXCLUDED.year, publisher = EXCLUDED.publisher, state = EXCLUDED.state,"
    " status = EXCLUDED.status, head = EXCLUDED.head, states = EXCLUDED.states,"
    " models = EXCLUDED.models"
)


def _upsert(select: str) -> str:
    """Insert or update the entries ``select`` gives (entry columns, then ``vector``)."""
    return f"""WITH src AS MATERIALIZED ({select}),
        entries AS (INSERT INTO {ENTRY_TABLE} ({ENTRY_COLUMNS})
            SELECT {ENTRY_COLUMNS} FROM src {UPSERT})
        INSERT INTO {WORD_TABLE} (id, vector) SELECT id, vector FROM src
        ON CONFLICT (id) DO UPDATE SET vector = EXCLUDED.vector"""


def _document_upsert(where: str) -> str:
    return _upsert(f"""SELECT d.id * 2 AS id, 'document' AS entry_type, d.id AS object_id,
               d.kind, d.published_on AS published,
               EXTRACT(YEAR FROM d.published_on)::integer AS year, d.publisher, '' AS state,
               d.status, search_vector(d.title, d.summary, d.text) AS vector,
               search_vector(d.title, d.summary, '') AS head,
               search_document_states(d.id) AS states, search_document_models(d.id) AS models
        FROM research_document d WHERE {where}""")


def _agency_upsert(where: str) -> str:
    return _upsert(f"""SELECT a.id * 2 + 1 AS id, 'agency' AS entry_type, a.id AS object_id,
               a.kind, NULL::date AS published, NULL::integer AS year, '' AS publisher,
               a.state, 'published' AS status,
               search_vector(
                   a.name,
                   (SELECT string_agg(al.name, ' ; ') FROM agreements_agencyalias al
                    WHERE al.agency_id = a.id),
                   {state_name_case("a.state")} || ' ' || a.state || ' ' || a.county_name
                       || ' ' || a.agency_type) AS vector,
               search_vector(a.name, '', '') AS head,
               ARRAY[a.state]::varchar[] AS states, search_agency_models(a.id) AS models
        FROM agreements_agency a WHERE {where}""")


WORDS_INDEX = (
    f"CREATE INDEX IF NOT EXISTS search_words_vector ON {WORD_TABLE} USING gin (vector)"
    " WITH (fastupdate = off)"
)
# Word pairs: each two lexemes at consecutive positions of an entry's words, as
# one lexeme "a b" (a space never occurs inside a parsed lexeme). Derived from
# the stored positions, so a two-word phrase matches exactly when its pair is
# there, just as PostgreSQL's own phrase check on those positions would say.
# The index holds the pairs, the table does not: a plain AND of pairs needs no
# re-check, so the function runs only when an entry is written. (Changing the
# function's body would leave the index stale: give it a new name instead.)
# Bounded so that no text can make a write fail: a pair longer than 55 bytes
# (two words of 27 letters) is left out, as are positions past 16,382 (where
# PostgreSQL piles every later word on one position), so a text has at most
# 16,382 pairs of at most 59 bytes each in the index, under a tsvector's 1 MB.
# Phrases of such words keep the position check.
PAIRS_FUNCTION = """CREATE OR REPLACE FUNCTION search_pairs(v tsvector) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT coalesce(array_to_tsvector(array_agg(a.lexeme || ' ' || b.lexeme)), ''::tsvector)
        FROM (SELECT lexeme, unnest(positions) AS pos FROM unnest(v)) a
        JOIN (SELECT lexeme, unnest(positions) AS pos FROM unnest(v)) b ON b.pos = a.pos + 1
        WHERE b.pos < 16383 AND octet_length(a.lexeme) + octet_length(b.lexeme) <= 54
    $$"""
PAIRS_INDEX = (
    f"CREATE INDEX IF NOT EXISTS search_words_pairs ON {WORD_TABLE}"
    " USING gin (search_pairs(vector)) WITH (fastupdate = off)"
)
# ANALYZE would compute the pairs of 30,000 sampled rows (~20 s) for statistics
# the planner does not need: the pairs index is only ever asked directly.
PAIRS_NO_STATISTICS = "ALTER INDEX search_words_pairs ALTER COLUMN 1 SET STATISTICS 0"

SCHEMA = [
    f"""CREATE TABLE IF NOT EXISTS {ENTRY_TABLE} (
        id bigint PRIMARY KEY,
        entry_type varchar(10) NOT NULL CHECK (entry_type IN ('document', 'agency')),
        object_id bigint NOT NULL,
        kind varchar(20) NOT NULL DEFAULT '',
        published date NULL,
        year integer NULL,
        publisher varchar(255) NOT NULL DEFAULT '',
        state varchar(2) NOT NULL DEFAULT '',
        status varchar(15) NOT NULL DEFAULT 'published',
        head tsvector NOT NULL,
        states varchar(2)[] NOT NULL DEFAULT '{{}}',
        models varchar(3)[] NOT NULL DEFAULT '{{}}',
        CHECK (id = object_id * 2 + (entry_type = 'agency')::integer)
    )""",
    # Stored uncompressed (EXTERNAL): pglz does not shrink a tsvector and lz4
    # saves 2% for reads 2.5 times slower; only phrase checks and the final
    # ranking of a page's candidates read it. The GIN index is updated in place
    # (no pending list that every search would scan).
    f"""CREATE TABLE IF NOT EXISTS {WORD_TABLE} (
        id bigint PRIMARY KEY REFERENCES {ENTRY_TABLE} (id) ON DELETE CASCADE,
        vector tsvector NOT NULL
    )""",
    f"ALTER TABLE {WORD_TABLE} ALTER COLUMN vector SET STORAGE EXTERNAL",
    WORDS_INDEX,
    PAIRS_FUNCTION,
    PAIRS_INDEX,
    PAIRS_NO_STATISTICS,
    # Title and summary matches, the candidates ranked first for common words.
    f"CREATE INDEX IF NOT EXISTS search_entry_head ON {ENTRY_TABLE} USING gin (head)"
    " WITH (fastupdate = off)",
    f"CREATE INDEX IF NOT EXISTS search_entry_published ON {ENTRY_TABLE}"
    " (published DESC NULLS LAST, id DESC)",
    # Title A, summary B, body C. A text too long for one tsvector (1 MB of
    # lexemes) is indexed by its beginning rather than failing the write.
    """CREATE OR REPLACE FUNCTION search_vector(title text, summary text, body text)
    RETURNS tsvector LANGUAGE plpgsql IMMUTABLE AS $$
    BEGIN
        RETURN setweight(to_tsvector('english', coalesce(title, '')), 'A')
            || setweight(to_tsvector('english', coalesce(summary, '')), 'B')
            || setweight(to_tsvector('english', coalesce(body, '')), 'C');
    EXCEPTION WHEN program_limit_exceeded THEN
        RETURN setweight(to_tsvector('english', left(coalesce(title, ''), 2000)), 'A')
            || setweight(to_tsvector('english', left(coalesce(summary, ''), 20000)), 'B')
            || setweight(to_tsvector('english', left(coalesce(body, ''), 200000)), 'C');
    END $$""",
    # The states and models a document is about, through its agency links
    # (rejected ones aside) and agreement links: kept on the entry for facets.
    """CREATE OR REPLACE FUNCTION search_document_states(doc bigint) RETURNS varchar[]
    LANGUAGE sql STABLE AS $$
        SELECT coalesce(array_agg(DISTINCT a.state ORDER BY a.state), '{}')
        FROM research_documentagency da JOIN agreements_agency a ON a.id = da.agency_id
        WHERE da.document_id = doc AND da.status = 'confirmed'
    $$""",
    """CREATE OR REPLACE FUNCTION search_document_models(doc bigint) RETURNS varchar[]
    LANGUAGE sql STABLE AS $$
        SELECT coalesce(array_agg(DISTINCT x.model ORDER BY x.model), '{}') FROM (
            SELECT ag.model FROM research_documentagency da
            JOIN agreements_agreement ag ON ag.agency_id = da.agency_id
            WHERE da.document_id = doc AND da.status = 'confirmed'
            UNION ALL
            SELECT ag.model FROM research_documentagreement dg
            JOIN agreements_agreement ag ON ag.id = dg.agreement_id WHERE dg.document_id = doc
        ) x
    $$""",
    """CREATE OR REPLACE FUNCTION search_agency_models(agency bigint) RETURNS varchar[]
    LANGUAGE sql STABLE AS $$
        SELECT coalesce(array_agg(DISTINCT model ORDER BY model), '{}')
        FROM agreements_agreement WHERE agency_id = agency
    $$""",
    f"""CREATE OR REPLACE FUNCTION search_document_links(doc bigint) RETURNS void
    LANGUAGE sql AS $$
        UPDATE {ENTRY_TABLE} SET states = search_document_states(doc),
            models = search_document_models(doc) WHERE id = doc * 2
    $$""",
    """CREATE OR REPLACE FUNCTION search_links_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN PERFORM search_document_links(OLD.document_id); END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN PERFORM search_document_links(NEW.document_id); END IF;
        RETURN NULL;
    END $$""",
    f"""CREATE OR REPLACE FUNCTION search_agreement_refresh(agreement bigint, agency bigint)
    RETURNS void LANGUAGE sql AS $$
        UPDATE {ENTRY_TABLE} SET models = search_agency_models(agency) WHERE id = agency * 2 + 1;
        UPDATE {ENTRY_TABLE} SET models = search_document_models(object_id)
        WHERE id IN (SELECT da.document_id * 2 FROM research_documentagency da
                     WHERE da.agency_id = agency
                     UNION SELECT dg.document_id * 2 FROM research_documentagreement dg
                     WHERE dg.agreement_id = agreement);
    $$""",
    """CREATE OR REPLACE FUNCTION search_agreement_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            PERFORM search_agreement_refresh(OLD.id, OLD.agency_id);
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            PERFORM search_agreement_refresh(NEW.id, NEW.agency_id);
        END IF;
        RETURN NULL;
    END $$""",
    f"""CREATE OR REPLACE FUNCTION search_document_sync() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND NEW.id = OLD.id
           AND NEW.kind IS NOT DISTINCT FROM OLD.kind
           AND NEW.title IS NOT DISTINCT FROM OLD.title
           AND NEW.publisher IS NOT DISTINCT FROM OLD.publisher
           AND NEW.published_on IS NOT DISTINCT FROM OLD.published_on
           AND NEW.summary IS NOT DISTINCT FROM OLD.summary
           AND NEW.text IS NOT DISTINCT FROM OLD.text THEN
            -- The words are unchanged (e.g. a status change): no need to re-parse the text.
            UPDATE {ENTRY_TABLE} SET status = NEW.status
                WHERE id = NEW.id * 2 AND status IS DISTINCT FROM NEW.status;
            RETURN NULL;
        END IF;
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            DELETE FROM {ENTRY_TABLE} WHERE id = OLD.id * 2;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            {_document_upsert("d.id = NEW.id")};
        END IF;
        RETURN NULL;
    END $$""",
    f"""CREATE OR REPLACE FUNCTION search_agency_refresh(agency bigint) RETURNS void
    LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM {ENTRY_TABLE} WHERE id = agency * 2 + 1;
        {_agency_upsert("a.id = agency")};
    END $$""",
    f"""CREATE OR REPLACE FUNCTION search_agency_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN PERFORM search_agency_refresh(OLD.id); END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN PERFORM search_agency_refresh(NEW.id); END IF;
        IF TG_OP = 'UPDATE' AND NEW.state IS DISTINCT FROM OLD.state THEN
            UPDATE {ENTRY_TABLE} SET states = search_document_states(object_id)
            WHERE id IN (SELECT da.document_id * 2 FROM research_documentagency da
                         WHERE da.agency_id = NEW.id);
        END IF;
        RETURN NULL;
    END $$""",
    f"""CREATE OR REPLACE FUNCTION search_agencies_refresh(agencies bigint[]) RETURNS void
    LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM {ENTRY_TABLE} WHERE id IN (SELECT unnest(agencies) * 2 + 1);
        {_agency_upsert("a.id = ANY(agencies)")};
    END $$""",
    """CREATE OR REPLACE FUNCTION search_agencies_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            PERFORM search_agencies_refresh(ARRAY(SELECT id FROM old_rows));
        ELSE
            PERFORM search_agencies_refresh(ARRAY(SELECT id FROM new_rows));
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE OR REPLACE FUNCTION search_aliases_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            PERFORM search_agencies_refresh(ARRAY(SELECT DISTINCT agency_id FROM new_rows));
        ELSIF TG_OP = 'DELETE' THEN
            PERFORM search_agencies_refresh(ARRAY(SELECT DISTINCT agency_id FROM old_rows));
        ELSE
            PERFORM search_agencies_refresh(ARRAY(
                SELECT agency_id FROM old_rows UNION SELECT agency_id FROM new_rows));
        END IF;
        RETURN NULL;
    END $$""",
    f"""CREATE OR REPLACE FUNCTION search_agreements_refresh(agreements bigint[], agencies bigint[])
    RETURNS void LANGUAGE sql AS $$
        UPDATE {ENTRY_TABLE} SET models = search_agency_models(object_id)
        WHERE id IN (SELECT unnest(agencies) * 2 + 1);
        UPDATE {ENTRY_TABLE} SET models = search_document_models(object_id)
        WHERE id IN (SELECT da.document_id * 2 FROM research_documentagency da
                     WHERE da.agency_id = ANY(agencies)
                     UNION SELECT dg.document_id * 2 FROM research_documentagreement dg
                     WHERE dg.agreement_id = ANY(agreements));
    $$""",
    """CREATE OR REPLACE FUNCTION search_agreements_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            PERFORM search_agreements_refresh(ARRAY(SELECT id FROM old_rows),
                                              ARRAY(SELECT DISTINCT agency_id FROM old_rows));
        ELSE
            PERFORM search_agreements_refresh(ARRAY(SELECT id FROM new_rows),
                                              ARRAY(SELECT DISTINCT agency_id FROM new_rows));
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE OR REPLACE FUNCTION search_alias_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN PERFORM search_agency_refresh(OLD.agency_id); END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN PERFORM search_agency_refresh(NEW.agency_id); END IF;
        RETURN NULL;
    END $$""",
    # TRUNCATE (Django's flush between transactional tests) fires no row triggers.
    f"""CREATE OR REPLACE FUNCTION search_truncate_sync() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_TABLE_NAME = 'research_document' THEN
            DELETE FROM {ENTRY_TABLE} WHERE entry_type = 'document';
        ELSE
            DELETE FROM {ENTRY_TABLE} WHERE entry_type = 'agency';
        END IF;
        RETURN NULL;
    END $$""",
]

# (name, function, table, events, level, transition tables). Inserts and
# deletes of agencies, aliases and agreements (a first import writes ~1,800 of
# each in one statement) are indexed once per statement, over the rows it wrote.
TRIGGERS = [
    (
        "search_document_sync_row",
        "search_document_sync",
        "research_document",
        "AFTER INSERT OR UPDATE OR DELETE",
        "ROW",
        "",
    ),
    (
        "search_truncate_sync_truncate",
        "search_truncate_sync",
        "research_document",
        "AFTER TRUNCATE",
        "STATEMENT",
        "",
    ),
    # Only the columns the index reads: an import touches every agreement's
    # last_listed_at, which must not re-index anything. (PostgreSQL allows no
    # transition tables with a column list, so these updates stay row by row.)
    (
        "search_agency_sync_row",
        "search_agency_sync",
        "agreements_agency",
        "AFTER UPDATE OF name, kind, state, county_name, agency_type",
        "ROW",
        "",
    ),
    (
        "search_agency_insert",
        "search_agencies_sync",
        "agreements_agency",
        "AFTER INSERT",
        "STATEMENT",
        "REFERENCING NEW TABLE AS new_rows",
    ),
    (
        "search_agency_delete",
        "search_agencies_sync",
        "agreements_agency",
        "AFTER DELETE",
        "STATEMENT",
        "REFERENCING OLD TABLE AS old_rows",
    ),
    (
        "search_truncate_sync_truncate",
        "search_truncate_sync",
        "agreements_agency",
        "AFTER TRUNCATE",
        "STATEMENT",
        "",
    ),
    (
        "search_alias_insert",
        "search_aliases_sync",
        "agreements_agencyalias",
        "AFTER INSERT",
        "STATEMENT",
        "REFERENCING NEW TABLE AS new_rows",
    ),
    (
        "search_alias_update",
        "search_aliases_sync",
        "agreements_agencyalias",
        "AFTER UPDATE",
        "STATEMENT",
        "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    ),
    (
        "search_alias_delete",
        "search_aliases_sync",
        "agreements_agencyalias",
        "AFTER DELETE",
        "STATEMENT",
        "REFERENCING OLD TABLE AS old_rows",
    ),
    (
        "search_links_sync_row",
        "search_links_sync",
        "research_documentagency",
        "AFTER INSERT OR UPDATE OR DELETE",
        "ROW",
        "",
    ),
    (
        "search_links_sync_row",
        "search_links_sync",
        "research_documentagreement",
        "AFTER INSERT OR UPDATE OR DELETE",
        "ROW",
        "",
    ),
    (
        "search_agreement_sync_row",
        "search_agreement_sync",
        "agreements_agreement",
        "AFTER UPDATE OF model, agency_id",
        "ROW",
        "",
    ),
    (
        "search_agreement_insert",
        "search_agreements_sync",
        "agreements_agreement",
        "AFTER INSERT",
        "STATEMENT",
        "REFERENCING NEW TABLE AS new_rows",
    ),
    (
        "search_agreement_delete",
        "search_agreements_sync",
        "agreements_agreement",
        "AFTER DELETE",
        "STATEMENT",
        "REFERENCING OLD TABLE AS old_rows",
    ),
]
# Triggers of earlier versions that the ones above replace.
OLD_TRIGGERS = [("search_alias_sync_row", "agreements_agencyalias")]


def _id_array(text: str | None) -> np.ndarray:
    """Entry ids aggregated by ``string_agg(id::text, ',')``: parsing one string is
    ~8 times cheaper than fetching 95,000 rows."""
    return np.fromstring(text, dtype=np.int64, sep=",") if text else np.zeros(0, np.int64)


def _id_param(ids: np.ndarray) -> str:
    """Entry ids as one array literal parameter: adapting a list of 1,000 ints one
    by one cost ~2 ms."""
    return "{" + ",".join(map(str, ids.tolist())) + "}"


@contextlib.contextmanager
def _words_index_rebuilt(cursor) -> Iterator[None]:
    """Drop the GIN indexes of the words for a bulk write and build them once after:
    several times faster than updating them row by row."""
    cursor.execute("DROP INDEX IF EXISTS search_words_vector")
    cursor.execute("DROP INDEX IF EXISTS search_words_pairs")
    yield
    # Sorting the ~20 million pairs of 100,000 entries in memory rather than in
    # runs on disk (the setting lasts until the end of the transaction).
    cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
    cursor.execute(WORDS_INDEX)
    cursor.execute(PAIRS_INDEX)
    cursor.execute(PAIRS_NO_STATISTICS)


def _any_sql(terms, params: list, function: str) -> str:
    """Any of ``terms``, each through ``function`` (phraseto_tsquery or plainto_tsquery)."""
    params += [" ".join(term.words) for term in terms]
    return "(" + " || ".join(f"{function}('english', %s)" for _term in terms) + ")"


def _gin_ids(cursor, tsquery: str, params: list) -> np.ndarray:
    cursor.execute(
        f"SELECT string_agg(w.id::text, ',') FROM {WORD_TABLE} w WHERE w.vector @@ ({tsquery})",
        params,
    )
    return _id_array(cursor.fetchone()[0])


def _verified(cursor, ids: np.ndarray, tsquery: str, params: list) -> np.ndarray:
    """The ``ids`` whose words match ``tsquery``, each checked on its positions."""
    if len(ids) == 0:
        return ids
    # Read by primary key, each row once: left to itself the planner may scan the
    # GIN index for the phrase instead and re-check all its (23,000) candidates.
    cursor.execute(
        f"WITH c AS MATERIALIZED (SELECT w.id, w.vector FROM {WORD_TABLE} w"
        f" WHERE w.id = ANY(%s::bigint[]))"
        f" SELECT string_agg(c.id::text, ',') FROM c WHERE c.vector @@ ({tsquery})",
        [_id_param(ids), *params],
    )
    return _id_array(cursor.fetchone()[0])


def _match_within(cursor, query: Query, within: np.ndarray, phrases: set[Term]) -> Matches | None:
    """The matches among ``within`` of a query with ``phrases``, or None if that costs more.

    Checking a phrase reads each candidate's positions (~30-50 us). The GIN
    index finds, without reading them, the entries that hold all the words of
    each phrase (and none of the excluded plain words); of those, only the
    ones the filters allow are checked: for 'officer -"would excuse"' in one
    state, a few hundred instead of 21,900.
    """
    if not phrases:
        return None  # the GIN index alone answers exactly
    plain_out = [t for t in query.excluded if t not in phrases]
    phrase_out = [t for t in query.excluded if t in phrases]
    candidates = np.zeros(0, np.int64)
    if not query.groups:
        if plain_out:
            return None
        found = within
    else:
        params: list = []
        loose = " && ".join(_any_sql(g, params, "plainto_tsquery") for g in query.groups)
        if plain_out:
            loose = f"({loose}) && !!{_any_sql(plain_out, params, 'plainto_tsquery')}"
        candidates = _gin_ids(cursor, loose, params)
        found = np.intersect1d(candidates, within, assume_unique=True)
        if phrases.intersection(query.terms()):
            if len(found) > VERIFY_LIMIT or WITHIN_GAIN * len(found) > len(candidates):
                return None
            params = []
            strict = " && ".join(_any_sql(g, params, "phraseto_tsquery") for g in query.groups)
            found = _verified(cursor, found, strict, params)
    if not phrase_out:
        return Matches(found)
    params = []
    out = _gin_ids(cursor, _any_sql(phrase_out, params, "plainto_tsquery"), params)
    excluded = np.intersect1d(out, found, assume_unique=True)
    unfiltered = np.intersect1d(out, candidates, assume_unique=True) if query.groups else out
    if len(excluded) > VERIFY_LIMIT or WITHIN_GAIN * len(excluded) > len(unfiltered):
        return None
    params = []
    excluded = _verified(cursor, excluded, _any_sql(phrase_out, params, "phraseto_tsquery"), params)
    if not query.groups:
        return Matches(excluded, excluded=True)
    return Matches(np.setdiff1d(found, excluded, assume_unique=True))


def _sorted_unique(ids: np.ndarray) -> np.ndarray:
    """``np.unique`` by sorting (numpy 2's hashing ``unique`` is ~100 times slower here)."""
    ids = np.sort(ids)
    return ids[np.concatenate(([True], ids[1:] != ids[:-1]))] if len(ids) else ids


@dataclasses.dataclass(frozen=True)
class _Pairs:
    """A phrase's consecutive word pairs, each as the one lexeme "a b" of the pairs index."""

    keys: tuple[str, ...]
    # A phrase of exactly one pair matches wherever its pair is: no positions to check.
    exact: bool

    @property
    def tsquery(self) -> str:
        """Every pair, each quoted as one lexeme (tsquery quoting: '' and \\)."""
        quoted = (key.replace("\\", "\\\\").replace("'", "''") for key in self.keys)
        return " & ".join(f"'{key}'" for key in quoted)


def _phrase_pairs(cursor, terms: list[Term]) -> dict[Term, _Pairs]:
    """The ``terms`` that stay phrases once stop words are dropped ("the jail" does not),
    with their word pairs.

    The pairs come from the positions ``to_tsvector`` gives the phrase, as the
    entries' pairs come from theirs; a phrase whose words are never adjacent
    ("stake over hear": a stop word between) has none.
    """
    if not terms:
        return {}
    cursor.execute(
        "SELECT position('<' in phraseto_tsquery('english', t)::text) > 0,"
        " tsvector_to_array(search_pairs(to_tsvector('english', t))),"
        " (SELECT count(*) FROM unnest(to_tsvector('english', t)) u, unnest(u.positions) p)"
        " FROM unnest(%s::text[]) t",
        [[" ".join(term.words) for term in terms]],
    )
    return {
        term: _Pairs(tuple(keys), exact=len(keys) == 1 and positions == 2)
        for term, (phrase, keys, positions) in zip(terms, cursor.fetchall(), strict=True)
        if phrase
    }


def _phrase_ids(cursor, term: Term, pairs: _Pairs, among: np.ndarray | None = None) -> np.ndarray:
    """The entries (sorted ids) where ``term`` matches as a phrase; if not exact, only
    those among ``among`` are checked."""
    cursor.execute(
        f"SELECT string_agg(w.id::text, ',') FROM {WORD_TABLE} w"
        " WHERE search_pairs(w.vector) @@ %s::tsquery",
        [pairs.tsquery],
    )
    ids = np.sort(_id_array(cursor.fetchone()[0]))
    if pairs.exact:
        return ids
    if among is not None:
        ids = np.intersect1d(ids, among, assume_unique=True)
    params: list = []
    return np.sort(_verified(cursor, ids, _any_sql([term], params, "phraseto_tsquery"), params))


def _match_by_pairs(
    cursor, query: Query, within: np.ndarray | None, pairs: dict[Term, _Pairs]
) -> Matches | None:
    """The matches of a query with phrases, each phrase found by its word pairs.

    Without the pairs, a phrase re-reads the positions of every entry holding
    all its words: 19,353 entries and 170 ms for "his serves said" on 100,000
    documents, where its one pair finds the 141 matches in 2 ms. A longer
    phrase checks only the entries holding all its pairs. The plain terms are
    matched together by the words index, as without phrases; a phrase with no
    adjacent words gives None (the caller re-checks positions instead).
    """
    if not query.groups or not pairs or not all(p.keys for p in pairs.values()):
        return None
    plain_groups = [g for g in query.groups if not any(t in pairs for t in g)]
    plain_out = [t for t in query.excluded if t not in pairs]
    found: np.ndarray | None = None
    if plain_groups:
        params: list = []
        tsquery = " && ".join(_any_sql(g, params, "phraseto_tsquery") for g in plain_groups)
        if plain_out:
            tsquery = f"({tsquery}) && !!{_any_sql(plain_out, params, 'phraseto_tsquery')}"
            plain_out = []
        found = np.sort(_gin_ids(cursor, tsquery, params))
    for group in query.groups:
        if group in plain_groups:
            continue
        among = found if found is not None else within
        parts = [_phrase_ids(cursor, t, pairs[t], among) for t in group if t in pairs]
        others = [t for t in group if t not in pairs]
        if others:
            params = []
            parts.append(_gin_ids(cursor, _any_sql(others, params, "phraseto_tsquery"), params))
        ids = _sorted_unique(np.concatenate(parts))
        found = ids if found is None else np.intersect1d(found, ids, assume_unique=True)
    if plain_out:  # excluded words, and only phrases to match: checked on the few, else indexed
        params = []
        tsquery = _any_sql(plain_out, params, "phraseto_tsquery")
        if len(found) <= VERIFY_BY_KEY:
            out = _verified(cursor, found, tsquery, params)
        else:
            out = _gin_ids(cursor, tsquery, params)
        found = np.setdiff1d(found, out, assume_unique=True)
    for term in query.excluded:
        if term in pairs:
            out = _phrase_ids(cursor, term, pairs[term], among=found)
            found = np.setdiff1d(found, out, assume_unique=True)
    return Matches(found)


def _has_column(cursor, table: str, column: str) -> bool:
    cursor.execute(
        "SELECT 1 FROM information_schema.columns WHERE table_name = %s AND column_name = %s",
        [table, column],
    )
    return cursor.fetchone() is not None


def _words_match(tsquery: str) -> str:
    """The entries (alias e) whose words match ``tsquery``, found with the GIN index."""
    return f"e.id IN (SELECT w.id FROM {WORD_TABLE} w WHERE w.vector @@ ({tsquery}))"


def _rank(tsquery: str) -> str:
    """ts_rank_cd of an entry's words (alias e): reads its long vector, so only for a few."""
    return f"ts_rank_cd((SELECT w.vector FROM {WORD_TABLE} w WHERE w.id = e.id), {tsquery})"


def _in_list(ids: list[int]) -> str:
    return ", ".join(str(int(i)) for i in ids) or "NULL"


class PostgresBackend(SearchBackend):
    vendor = "postgresql"
    link_arrays = True
    in_transaction = True
    supports_ids = True

    def install(self, cursor) -> None:
        upgrade = not _has_column(cursor, ENTRY_TABLE, "models")
        if upgrade:  # an index from an earlier version (or none at all)
            cursor.execute(f"DROP TABLE IF EXISTS {WORD_TABLE}, {ENTRY_TABLE}")
        # Before the words had their own table, they were a column of the entries.
        move_words = not upgrade and _has_column(cursor, ENTRY_TABLE, "vector")
        for statement in SCHEMA:
            cursor.execute(statement)
        if move_words:
            with _words_index_rebuilt(cursor):
                cursor.execute(
                    f"INSERT INTO {WORD_TABLE} (id, vector) SELECT id, vector FROM {ENTRY_TABLE}"
                    " ON CONFLICT (id) DO NOTHING"
                )
            cursor.execute(f"ALTER TABLE {ENTRY_TABLE} DROP COLUMN vector")
            cursor.execute(f"ANALYZE {WORD_TABLE}")
        for name, table in OLD_TRIGGERS:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        for name, function, table, events, level, transition in TRIGGERS:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            cursor.execute(
                f"CREATE TRIGGER {name} {events} ON {table} {transition} "
                f"FOR EACH {level} EXECUTE FUNCTION {function}()"
            )
        if upgrade:
            self.reindex(cursor)

    def pause(self, cursor) -> None:
        for name, _function, table, _events, _level, _transition in TRIGGERS:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {name}")

    def reindex(self, cursor) -> None:
        cursor.execute(f"TRUNCATE {WORD_TABLE}, {ENTRY_TABLE}")
        with _words_index_rebuilt(cursor):
            cursor.execute(_document_upsert("TRUE"))
            cursor.execute(_agency_upsert("TRUE"))
        cursor.execute(f"ANALYZE {ENTRY_TABLE}")
        cursor.execute(f"ANALYZE {WORD_TABLE}")

    def index_documents(self, cursor, ids: list[int]) -> None:
        cursor.execute(f"DELETE FROM {ENTRY_TABLE} WHERE id IN ({_in_list([i * 2 for i in ids])})")
        cursor.execute(_document_upsert(f"d.id IN ({_in_list(ids)})"))

    def index_agencies(self, cursor, ids: list[int]) -> None:
        entry_ids = _in_list([i * 2 + 1 for i in ids])
        cursor.execute(f"DELETE FROM {ENTRY_TABLE} WHERE id IN ({entry_ids})")
        cursor.execute(_agency_upsert(f"a.id IN ({_in_list(ids)})"))

    def match(self, query: Query, *, ranked: bool) -> MatchSQL:
        positive, pos_params, negative, neg_params = to_tsquery_sql(query)
        if positive:
            tsquery = f"({positive}) && !!({negative})" if negative else positive
            params = [*pos_params, *neg_params]
            return MatchSQL(
                from_sql=f"{ENTRY_TABLE} e",
                where_sql=_words_match(tsquery),
                params=params,
                rank_sql=_rank(positive) if ranked else "0",
                rank_params=list(pos_params) if ranked else [],
                prerank_sql=f"ts_rank_cd(e.head, {positive})" if ranked else "",
                prerank_params=list(pos_params) if ranked else [],
            )
        if negative:
            return MatchSQL(
                f"{ENTRY_TABLE} e", f"NOT {_words_match(negative)}", neg_params, "0", []
            )
        return MatchSQL(f"{ENTRY_TABLE} e", "TRUE", [], "0", [])

    def materialize(
        self, cursor, match: MatchSQL, where: str, params: list
    ) -> tuple[MatchSQL, str, list]:
        # Match with the GIN index, once. The planner does not count the cost
        # of reading long (TOASTed) tsvectors and may prefer a sequential scan,
        # so it is switched off for this statement only; the facet joins that
        # follow then run over a small table with hash joins.
        cursor.execute("DROP TABLE IF EXISTS pg_temp.search_matches")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            "CREATE TEMP TABLE search_matches ON COMMIT DROP AS"
            " SELECT e.id, e.entry_type, e.object_id, e.kind, e.year, e.publisher, e.state,"
            f" e.published, e.states, e.models FROM {match.from_sql} WHERE {match.where_sql} AND {where}",
            [*match.params, *params],
        )
        cursor.execute("SET LOCAL enable_seqscan = on")
        materialized = dataclasses.replace(
            match,
            from_sql=f"search_matches m JOIN {ENTRY_TABLE} e ON e.id = m.id",
            where_sql="TRUE",
            params=[],
            matched_table="search_matches",
            link_arrays=True,
        )
        return materialized, "TRUE", []

    def match_ids(
        self, cursor, query: Query, within: np.ndarray | None = None, *, head: bool = False
    ) -> Matches | None:
        """One GIN bitmap scan of the narrow words table, read as one string.

        The GIN index answers plain words, OR and exclusions exactly; a phrase
        needs the positions, so the rows it may match are re-read (detoasted)
        and checked. PostgreSQL keeps that "check again" flag per heap page,
        and the words table holds ~130 rows a page: one possible phrase match
        on a page makes every match on it be re-read. So an excluded phrase is
        checked only among the rows that also hold all its words
        (``P AND NOT id IN (P && N)``), not over every match of ``P`` (1.3 s to
        0.14 s for ``destination -"her inherits toward"`` on 100,000 documents).
        """
        positive, pos_params, negative, neg_params = to_tsquery_sql(query)
        if not positive and not negative:
            return None
        if head:
            return self._match_head(cursor, positive, pos_params, negative, neg_params)
        # The planner does not count the reading of long vectors; JIT compiling
        # a statement that runs in milliseconds costs more than it saves; and the
        # ids an excluded phrase removes must fit a hashed NOT IN (run as a
        # plain subplan, it would be read again for every match).
        cursor.execute(
            "SELECT set_config('enable_seqscan', 'off', true), set_config('jit', 'off', true),"
            " set_config('work_mem', '32MB', true)"
        )
        several = [t for t in dict.fromkeys([*query.terms(), *query.excluded]) if len(t.words) > 1]
        if several:
            pairs = _phrase_pairs(cursor, several)
            matches = _match_by_pairs(cursor, query, within, pairs)
            if matches is None and within is not None:
                matches = _match_within(cursor, query, within, set(pairs))
            if matches is not None:
                return matches
        select = f"SELECT string_agg(w.id::text, ',') FROM {WORD_TABLE} w WHERE"
        if not positive:
            cursor.execute(f"{select} w.vector @@ ({negative})", neg_params)
            return Matches(_id_array(cursor.fetchone()[0]), excluded=True)
        if negative and any(len(term.words) > 1 for term in query.excluded):
            cursor.execute(
                f"{select} w.vector @@ ({positive}) AND w.id NOT IN (SELECT x.id"
                f" FROM {WORD_TABLE} x WHERE x.vector @@ (({positive}) && ({negative})))",
                [*pos_params, *pos_params, *neg_params],
            )
        elif negative:
            cursor.execute(
                f"{select} w.vector @@ (({positive}) && !!({negative}))",
                [*pos_params, *neg_params],
            )
        else:
            cursor.execute(f"{select} w.vector @@ ({positive})", pos_params)
        return Matches(_id_array(cursor.fetchone()[0]))

    def _match_head(
        self, cursor, positive: str, pos_params: list, negative: str, neg_params: list
    ) -> Matches:
        """The entries whose title and summary match: the GIN index of ``head`` (short
        vectors, so phrases are checked on the spot)."""
        select = f"SELECT string_agg(e.id::text, ',') FROM {ENTRY_TABLE} e WHERE"
        if not positive:
            cursor.execute(f"{select} e.head @@ ({negative})", neg_params)
            return Matches(_id_array(cursor.fetchone()[0]), excluded=True)
        if negative:
            cursor.execute(
                f"{select} e.head @@ (({positive}) && !!({negative}))", [*pos_params, *neg_params]
            )
        else:
            cursor.execute(f"{select} e.head @@ ({positive})", pos_params)
        return Matches(_id_array(cursor.fetchone()[0]))

    def rank(
        self, cursor, query: Query, matches: Matches, limit: int, *, head: bool = False
    ) -> list[tuple[int, float]]:
        """ts_rank_cd over the whole words: exact up to ``EXACT_RANK_LIMIT`` allowed matches.

        Each score reads a long vector (~25 us), so for a common word (95,000
        matches) only a pool is ranked: the ``RANK_POOL`` most recently indexed
        allowed matches whose title or summary match (a GIN index on ``head``),
        then the other matches follow, newest first, as on SQLite.
        """
        allowed = matches.ids
        if len(allowed) == 0:
            return []
        positive, pos_params, _negative, _neg_params = to_tsquery_sql(query)
        # (match_ids, which always runs first in the transaction, turned JIT off.)
        pool = allowed
        rest = np.zeros(0, np.int64)
        if len(allowed) > EXACT_RANK_LIMIT:
            size = max(RANK_POOL, limit)
            if head:  # every one of them is a title or summary match
                pool = np.sort(allowed)[::-1][:size]
            else:
                pool = self._newest_head_matches(cursor, positive, pos_params, allowed, size)
            if len(pool) < limit:
                rest = np.setdiff1d(allowed, pool, assume_unique=True)[::-1][: limit - len(pool)]
        vector, table = ("e.head", f"{ENTRY_TABLE} e") if head else ("w.vector", f"{WORD_TABLE} w")
        cursor.execute(
            f"SELECT {vector[0]}.id, ts_rank_cd({vector}, {positive}) FROM {table}"
            f" WHERE {vector[0]}.id = ANY(%s::bigint[])",
            [*pos_params, _id_param(pool)],
        )
        scored = cursor.fetchall()
        floor = min((score for _id, score in scored), default=0.0)
        # After every title and summary match, newest first.
        scored += [(int(entry_id), floor - 1 - i * 1e-9) for i, entry_id in enumerate(rest)]
        scored.sort(key=lambda row: (-row[1], -row[0]))
        return [(int(entry_id), float(score)) for entry_id, score in scored[:limit]]

    def _newest_head_matches(
        self, cursor, positive: str, params: list, allowed: np.ndarray, size: int
    ) -> np.ndarray:
        """The ``size`` newest (highest) ids of ``allowed`` whose title or summary match.

        Title matches are often dense among the matches (half of the 95,000
        matches of "sheriff"): then the entries in the id range of the newest
        few thousand allowed ids hold enough of them (a range of the primary
        key, ~2 ms), in ranges sized by the density seen so far. When they are
        sparse, the GIN index of ``head`` finds every one (reading all 49,000
        title matches of "sheriff" that way took 70 ms).
        """
        newest = np.sort(allowed)[::-1]
        found = np.zeros(0, np.int64)
        probed = 0
        batch = HEAD_PROBE
        while len(found) < size and probed < len(newest):
            if probed + batch > MAX_HEAD_PROBE:
                cursor.execute(
                    f"SELECT string_agg(e.id::text, ',') FROM {ENTRY_TABLE} e"
                    f" WHERE e.head @@ ({positive})",
                    params,
                )
                heads = _id_array(cursor.fetchone()[0])
                return np.intersect1d(heads, allowed, assume_unique=True)[::-1][:size]
            chunk = newest[probed : probed + batch]
            cursor.execute(
                f"SELECT string_agg(e.id::text, ',') FROM {ENTRY_TABLE} e"
                f" WHERE e.id BETWEEN %s AND %s AND e.head @@ ({positive})",
                [int(chunk[-1]), int(chunk[0]), *params],
            )
            heads = _id_array(cursor.fetchone()[0])
            found = np.concatenate([found, heads[np.isin(heads, chunk, assume_unique=True)]])
            probed += len(chunk)
            # Enough ids to reach ``size`` at the density seen so far, with a margin.
            batch = int((size - len(found)) * probed / max(len(found), 1) * 1.2) + 100
        return np.sort(found)[::-1][:size]

    def highlights(self, cursor, query: Query, entry_ids: list[int]) -> dict[int, tuple[str, str]]:
        # ts_headline parses every text it is given, which costs more than the
        # whole search for long documents: the words are stemmed here by
        # PostgreSQL, and the excerpt is cut and marked in Python.
        if not entry_ids:
            return {}
        doc_ids = _in_list([i // 2 for i in entry_ids if i % 2 == 0])
        agency_ids = _in_list([i // 2 for i in entry_ids if i % 2 == 1])
        words = sorted({w for term in query.terms() for w in term.words})
        # The words' stems come first, in the same statement (the row with no id).
        stems_sql, params = "", []
        if words:
            stems_sql = (
                "SELECT NULL::bigint, array_to_string(tsvector_to_array("
                "to_tsvector('english', %s)), ' '), NULL, NULL UNION ALL "
            )
            params = [" ".join(words)]
        cursor.execute(
            f"""{stems_sql}SELECT d.id * 2, d.title, d.summary, left(d.text, {HEADLINE_CHARS})
            FROM research_document d WHERE d.id IN ({doc_ids})
            UNION ALL
            SELECT a.id * 2 + 1, a.name, coalesce((SELECT string_agg(al.name, ' ; ')
                FROM agreements_agencyalias al WHERE al.agency_id = a.id), ''), a.county_name
            FROM agreements_agency a WHERE a.id IN ({agency_ids})""",
            params,
        )
        rows = cursor.fetchall()
        stems = next((title.split() for entry_id, title, *_ in rows if entry_id is None), [])
        pattern = match_pattern([*stems, *words]) if stems else None
        return {
            entry_id: (mark(title or "", pattern), excerpt(summary or "", body or "", pattern))
            for entry_id, title, summary, body in rows
            if entry_id is not None
        }
