"""PostgreSQL backend: a weighted tsvector with a GIN index, ts_rank_cd and ts_headline."""

# SQL here is assembled from constants and integer ids only; every user value is
# a bound parameter, and search terms reach FTS5/tsquery quoted by query.py.
# ruff: noqa: S608

from __future__ import annotations

import dataclasses

from research.search.backends.base import (
    ENTRY_TABLE,
    MatchSQL,
    SearchBackend,
    excerpt,
    mark,
    match_pattern,
    state_name_case,
)
from research.search.query import Query, to_tsquery_sql

# Snippets are taken from the first characters of very long texts.
HEADLINE_CHARS = 200_000

ENTRY_COLUMNS = (
    "id, entry_type, object_id, kind, published, year, publisher, state, status, vector, head,"
    " states, models"
)
UPSERT = (
    "ON CONFLICT (id) DO UPDATE SET entry_type = EXCLUDED.entry_type,"
    " object_id = EXCLUDED.object_id, kind = EXCLUDED.kind, published = EXCLUDED.published,"
    " year = EXCLUDED.year, publisher = EXCLUDED.publisher, state = EXCLUDED.state,"
    " status = EXCLUDED.status,"
    " vector = EXCLUDED.vector, head = EXCLUDED.head, states = EXCLUDED.states,"
    " models = EXCLUDED.models"
)


def _document_upsert(where: str) -> str:
    return f"""INSERT INTO {ENTRY_TABLE} ({ENTRY_COLUMNS})
        SELECT d.id * 2, 'document', d.id, d.kind, d.published_on,
               EXTRACT(YEAR FROM d.published_on)::integer, d.publisher, '', d.status,
               search_vector(d.title, d.summary, d.text), search_vector(d.title, d.summary, ''),
               search_document_states(d.id), search_document_models(d.id)
        FROM research_document d WHERE {where} {UPSERT}"""


def _agency_upsert(where: str) -> str:
    return f"""INSERT INTO {ENTRY_TABLE} ({ENTRY_COLUMNS})
        SELECT a.id * 2 + 1, 'agency', a.id, a.kind, NULL, NULL, '', a.state, 'published',
               search_vector(
                   a.name,
                   (SELECT string_agg(al.name, ' ; ') FROM agreements_agencyalias al
                    WHERE al.agency_id = a.id),
                   {state_name_case("a.state")} || ' ' || a.state || ' ' || a.county_name
                       || ' ' || a.agency_type),
               search_vector(a.name, '', ''),
               ARRAY[a.state]::varchar[], search_agency_models(a.id)
        FROM agreements_agency a WHERE {where} {UPSERT}"""


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
        vector tsvector NOT NULL,
        head tsvector NOT NULL,
        states varchar(2)[] NOT NULL DEFAULT '{{}}',
        models varchar(3)[] NOT NULL DEFAULT '{{}}',
        CHECK (id = object_id * 2 + (entry_type = 'agency')::integer)
    )""",
    f"CREATE INDEX IF NOT EXISTS search_entry_vector ON {ENTRY_TABLE} USING gin (vector)",
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
        WHERE da.document_id = doc AND da.status <> 'rejected'
    $$""",
    """CREATE OR REPLACE FUNCTION search_document_models(doc bigint) RETURNS varchar[]
    LANGUAGE sql STABLE AS $$
        SELECT coalesce(array_agg(DISTINCT x.model ORDER BY x.model), '{}') FROM (
            SELECT ag.model FROM research_documentagency da
            JOIN agreements_agreement ag ON ag.agency_id = da.agency_id
            WHERE da.document_id = doc AND da.status <> 'rejected'
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

TRIGGERS = [
    ("search_document_sync", "research_document", "AFTER INSERT OR UPDATE OR DELETE", "ROW"),
    ("search_truncate_sync", "research_document", "AFTER TRUNCATE", "STATEMENT"),
    # Only the columns the index reads: an import touches every agreement's
    # last_listed_at, which must not re-index anything.
    (
        "search_agency_sync",
        "agreements_agency",
        "AFTER INSERT OR DELETE OR UPDATE OF name, kind, state, county_name, agency_type",
        "ROW",
    ),
    ("search_truncate_sync", "agreements_agency", "AFTER TRUNCATE", "STATEMENT"),
    ("search_alias_sync", "agreements_agencyalias", "AFTER INSERT OR UPDATE OR DELETE", "ROW"),
    ("search_links_sync", "research_documentagency", "AFTER INSERT OR UPDATE OR DELETE", "ROW"),
    ("search_links_sync", "research_documentagreement", "AFTER INSERT OR UPDATE OR DELETE", "ROW"),
    (
        "search_agreement_sync",
        "agreements_agreement",
        "AFTER INSERT OR DELETE OR UPDATE OF model, agency_id",
        "ROW",
    ),
]


def _trigger_name(function: str, events: str) -> str:
    return f"{function}_{'truncate' if 'TRUNCATE' in events else 'row'}"


def _in_list(ids: list[int]) -> str:
    return ", ".join(str(int(i)) for i in ids) or "NULL"


class PostgresBackend(SearchBackend):
    vendor = "postgresql"
    link_arrays = True
    in_transaction = True

    def install(self, cursor) -> None:
        cursor.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_name = %s AND column_name = %s",
            [ENTRY_TABLE, "models"],
        )
        upgrade = cursor.fetchone() is None
        if upgrade:  # an index from an earlier version (or none at all)
            cursor.execute(f"DROP TABLE IF EXISTS {ENTRY_TABLE}")
        for statement in SCHEMA:
            cursor.execute(statement)
        for function, table, events, level in TRIGGERS:
            name = _trigger_name(function, events)
            cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            cursor.execute(
                f"CREATE TRIGGER {name} {events} ON {table} "
                f"FOR EACH {level} EXECUTE FUNCTION {function}()"
            )
        if upgrade:
            self.reindex(cursor)

    def pause(self, cursor) -> None:
        for function, table, events, _level in TRIGGERS:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {_trigger_name(function, events)}")

    def reindex(self, cursor) -> None:
        cursor.execute(f"TRUNCATE {ENTRY_TABLE}")
        cursor.execute(_document_upsert("TRUE"))
        cursor.execute(_agency_upsert("TRUE"))
        cursor.execute(f"ANALYZE {ENTRY_TABLE}")

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
                where_sql=f"e.vector @@ ({tsquery})",
                params=params,
                rank_sql=f"ts_rank_cd(e.vector, {positive})" if ranked else "0",
                rank_params=list(pos_params) if ranked else [],
                prerank_sql=f"ts_rank_cd(e.head, {positive})" if ranked else "",
                prerank_params=list(pos_params) if ranked else [],
            )
        if negative:
            return MatchSQL(
                f"{ENTRY_TABLE} e", f"NOT (e.vector @@ ({negative}))", neg_params, "0", []
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

    def highlights(self, cursor, query: Query, entry_ids: list[int]) -> dict[int, tuple[str, str]]:
        # ts_headline parses every text it is given, which costs more than the
        # whole search for long documents: the words are stemmed here by
        # PostgreSQL, and the excerpt is cut and marked in Python.
        if not entry_ids:
            return {}
        doc_ids = _in_list([i // 2 for i in entry_ids if i % 2 == 0])
        agency_ids = _in_list([i // 2 for i in entry_ids if i % 2 == 1])
        words = sorted({w for term in query.terms() for w in term.words})
        stems: list[str] = []
        if words:
            cursor.execute(
                "SELECT unnest(tsvector_to_array(to_tsvector('english', %s)))", [" ".join(words)]
            )
            stems = [row[0] for row in cursor.fetchall()]
        pattern = match_pattern([*stems, *words]) if stems else None
        cursor.execute(
            f"""SELECT d.id * 2, d.title, d.summary, left(d.text, {HEADLINE_CHARS})
            FROM research_document d WHERE d.id IN ({doc_ids})
            UNION ALL
            SELECT a.id * 2 + 1, a.name, coalesce((SELECT string_agg(al.name, ' ; ')
                FROM agreements_agencyalias al WHERE al.agency_id = a.id), ''), a.county_name
            FROM agreements_agency a WHERE a.id IN ({agency_ids})"""
        )
        return {
            entry_id: (mark(title or "", pattern), excerpt(summary or "", body or "", pattern))
            for entry_id, title, summary, body in cursor.fetchall()
        }
