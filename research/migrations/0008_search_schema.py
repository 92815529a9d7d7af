"""The search index schema, frozen here: its tables, indexes, functions and triggers.

Migrations 0002, 0004 and 0005 used to install the index by calling the search
code of the day; they are empty now and this migration is the one source of
truth. It first drops whatever that code installed (a database migrated before
this one), then creates the schema below for the database's vendor and fills
the index from the documents and agencies. ``python manage.py search_check``
compares a database with ``SCHEMA``: a later migration that changes the search
schema holds its own SQL and declares the whole ``SCHEMA`` again, every vendor.

The statements hold the table names of the time (as every migration does); a
later migration that rebuilds one of the watched tables on SQLite (Django copies
a table to alter it, which drops its triggers) must create their triggers again.
"""

from django.db import migrations

# The tables whose writes change what the per-process facet arrays hold
# (research/search/facets.py), with the columns that matter on update: each has
# triggers that give the index's version token a new value.
WATCHED = [
    ("search_entry", ""),
    ("research_documentagency", ""),
    ("research_documentagreement", ""),
    ("agreements_agreement", " OF model, agency_id"),
    ("research_document_tags", ""),
    ("research_tag", " OF slug, name"),
    # Whose text the public may search (research.policy.PUBLIC_TEXT_RIGHTS).
    ("research_document", " OF rights"),
]

ENTRY_COLUMNS = [
    "id",
    "entry_type",
    "object_id",
    "kind",
    "published",
    "year",
    "publisher",
    "state",
    "status",
]

# What the database holds once this migration has run, per vendor: the search
# tables with their columns, and the indexes, functions and (trigger, table)
# pairs named ``search_*``. FTS5 keeps its shadow tables (``search_fts_*``).
SCHEMA = {
    "sqlite": {
        "tables": {
            "search_entry": ENTRY_COLUMNS,
            "search_fts": ["title", "summary", "body"],
            "search_fts_config": None,
            "search_fts_content": None,
            "search_fts_data": None,
            "search_fts_docsize": None,
            "search_fts_idx": None,
            "search_state": ["code", "name"],
            "search_version": ["id", "token"],
        },
        "indexes": ["search_entry_published"],
        "functions": [],
        "triggers": [
            ("search_document_insert", "research_document"),
            ("search_document_update", "research_document"),
            ("search_document_status", "research_document"),
            ("search_document_delete", "research_document"),
            ("search_agency_insert", "agreements_agency"),
            ("search_agency_update", "agreements_agency"),
            ("search_agency_delete", "agreements_agency"),
            ("search_alias_insert", "agreements_agencyalias"),
            ("search_alias_update", "agreements_agencyalias"),
            ("search_alias_delete", "agreements_agencyalias"),
            *(
                (f"search_version_{table}_{event}", table)
                for table, _columns in WATCHED
                for event in ("insert", "update", "delete")
            ),
        ],
    },
    "postgresql": {
        "tables": {
            "search_entry": [*ENTRY_COLUMNS, "head"],
            "search_words": ["id", "vector"],
            "search_state": ["code", "name"],
            "search_version": ["id", "token"],
        },
        "indexes": [
            "search_entry_head",
            "search_entry_pkey",
            "search_entry_published",
            "search_state_pkey",
            "search_version_pkey",
            "search_words_pairs",
            "search_words_pkey",
            "search_words_vector",
        ],
        "functions": [
            "search_agencies_sync",
            "search_agency_sync",
            "search_aliases_sync",
            "search_document_sync",
            "search_index_agencies",
            "search_index_documents",
            "search_pairs",
            "search_reindex",
            "search_truncate_sync",
            "search_vector",
            "search_version_bump",
        ],
        "triggers": [
            ("search_document_sync_row", "research_document"),
            ("search_truncate_sync_truncate", "research_document"),
            ("search_agency_sync_row", "agreements_agency"),
            ("search_agency_insert", "agreements_agency"),
            ("search_agency_delete", "agreements_agency"),
            ("search_truncate_sync_truncate", "agreements_agency"),
            ("search_alias_insert", "agreements_agencyalias"),
            ("search_alias_update", "agreements_agencyalias"),
            ("search_alias_delete", "agreements_agencyalias"),
            *(
                (name, table)
                for table, _columns in WATCHED
                for name in ("search_version_bump", "search_version_bump_truncate")
            ),
        ],
    },
}

STATE_NAMES = """INSERT INTO search_state (code, name) VALUES
    ('AL', 'Alabama'), ('AK', 'Alaska'), ('AZ', 'Arizona'), ('AR', 'Arkansas'),
    ('CA', 'California'), ('CO', 'Colorado'), ('CT', 'Connecticut'), ('DE', 'Delaware'),
    ('FL', 'Florida'), ('GA', 'Georgia'), ('HI', 'Hawaii'), ('ID', 'Idaho'), ('IL', 'Illinois'),
    ('IN', 'Indiana'), ('IA', 'Iowa'), ('KS', 'Kansas'), ('KY', 'Kentucky'),
    ('LA', 'Louisiana'), ('ME', 'Maine'), ('MD', 'Maryland'), ('MA', 'Massachusetts'),
    ('MI', 'Michigan'), ('MN', 'Minnesota'), ('MS', 'Mississippi'), ('MO', 'Missouri'),
    ('MT', 'Montana'), ('NE', 'Nebraska'), ('NV', 'Nevada'), ('NH', 'New Hampshire'),
    ('NJ', 'New Jersey'), ('NM', 'New Mexico'), ('NY', 'New York'), ('NC', 'North Carolina'),
    ('ND', 'North Dakota'), ('OH', 'Ohio'), ('OK', 'Oklahoma'), ('OR', 'Oregon'),
    ('PA', 'Pennsylvania'), ('RI', 'Rhode Island'), ('SC', 'South Carolina'),
    ('SD', 'South Dakota'), ('TN', 'Tennessee'), ('TX', 'Texas'), ('UT', 'Utah'),
    ('VT', 'Vermont'), ('VA', 'Virginia'), ('WA', 'Washington'), ('WV', 'West Virginia'),
    ('WI', 'Wisconsin'), ('WY', 'Wyoming'), ('AS', 'American Samoa'), ('GU', 'Guam'),
    ('MP', 'Northern Mariana Islands'), ('PR', 'Puerto Rico'), ('VI', 'Virgin Islands'),
    ('DC', 'District of Columbia')"""


# --- SQLite: an FTS5 table (porter stemming) beside an entry table -------------------

# A trigger reads only its own table's row (new/old), the aliases and the state
# names, and writes only the search tables: SQLite refuses to rename a table while
# a trigger names a table that is missing, the middle of every Django table rebuild.
SQLITE_DOCUMENT_WRITE = """
    INSERT OR REPLACE INTO search_entry
        (id, entry_type, object_id, kind, published, year, publisher, state, status)
        VALUES (new.id * 2, 'document', new.id, new.kind, new.published_on,
            CAST(substr(new.published_on, 1, 4) AS INTEGER), new.publisher, '', new.status);
    INSERT INTO search_fts (rowid, title, summary, body)
        VALUES (new.id * 2, new.title, new.summary, new.text);"""
SQLITE_AGENCY_BODY = """coalesce((SELECT s.name FROM search_state s WHERE s.code = new.state), '')
            || ' ' || new.state || ' ' || new.county_name || ' ' || new.agency_type"""
SQLITE_ALIASES = """UPDATE search_fts SET summary = coalesce((SELECT group_concat(al.name, ' ; ')
        FROM agreements_agencyalias al WHERE al.agency_id = {0}.agency_id), '')
        WHERE rowid = {0}.agency_id * 2 + 1;"""
# A new random token on every write that changes what the per-process facet
# arrays hold (research/search/facets.py); random, so that a rollback never
# brings back a token a process may have cached with other data.
SQLITE_BUMP = "UPDATE search_version SET token = random() WHERE id = 1;"

SQLITE_SCHEMA = [
    """CREATE TABLE search_entry (
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
    "CREATE INDEX search_entry_published ON search_entry (published DESC, id DESC)",
    """CREATE VIRTUAL TABLE search_fts USING fts5(
        title, summary, body, tokenize = 'porter unicode61 remove_diacritics 2'
    )""",
    "CREATE TABLE search_version (id integer PRIMARY KEY CHECK (id = 1), token bigint NOT NULL)",
    "INSERT INTO search_version (id, token) VALUES (1, random())",
    "CREATE TABLE search_state (code varchar(2) PRIMARY KEY, name varchar(40) NOT NULL)",
    STATE_NAMES,
    # The index of the documents and agencies already there.
    """INSERT INTO search_entry
        (id, entry_type, object_id, kind, published, year, publisher, state, status)
        SELECT d.id * 2, 'document', d.id, d.kind, d.published_on,
            CAST(substr(d.published_on, 1, 4) AS INTEGER), d.publisher, '', d.status
        FROM research_document d""",
    """INSERT INTO search_fts (rowid, title, summary, body)
        SELECT d.id * 2, d.title, d.summary, d.text FROM research_document d""",
    """INSERT INTO search_entry
        (id, entry_type, object_id, kind, published, year, publisher, state, status)
        SELECT a.id * 2 + 1, 'agency', a.id, a.kind, NULL, NULL, '', a.state, 'published'
        FROM agreements_agency a""",
    """INSERT INTO search_fts (rowid, title, summary, body)
        SELECT a.id * 2 + 1, a.name,
            (SELECT group_concat(al.name, ' ; ') FROM agreements_agencyalias al
             WHERE al.agency_id = a.id),
            coalesce((SELECT s.name FROM search_state s WHERE s.code = a.state), '')
                || ' ' || a.state || ' ' || a.county_name || ' ' || a.agency_type
        FROM agreements_agency a""",
    "INSERT INTO search_fts (search_fts) VALUES ('optimize')",
    f"""CREATE TRIGGER search_document_insert AFTER INSERT ON research_document BEGIN
    DELETE FROM search_fts WHERE rowid = new.id * 2;
    DELETE FROM search_entry WHERE id = new.id * 2;{SQLITE_DOCUMENT_WRITE}
END""",
    f"""CREATE TRIGGER search_document_update
    AFTER UPDATE OF id, kind, title, publisher, published_on, summary, text ON research_document
BEGIN
    DELETE FROM search_fts WHERE rowid = old.id * 2;
    DELETE FROM search_entry WHERE id = old.id * 2;
    DELETE FROM search_fts WHERE rowid = new.id * 2;
    DELETE FROM search_entry WHERE id = new.id * 2;{SQLITE_DOCUMENT_WRITE}
END""",
    """CREATE TRIGGER search_document_status AFTER UPDATE OF status ON research_document BEGIN
    UPDATE search_entry SET status = new.status WHERE id = new.id * 2;
END""",
    """CREATE TRIGGER search_document_delete AFTER DELETE ON research_document BEGIN
    DELETE FROM search_fts WHERE rowid = old.id * 2;
    DELETE FROM search_entry WHERE id = old.id * 2;
END""",
    f"""CREATE TRIGGER search_agency_insert AFTER INSERT ON agreements_agency BEGIN
    DELETE FROM search_fts WHERE rowid = new.id * 2 + 1;
    DELETE FROM search_entry WHERE id = new.id * 2 + 1;
    INSERT INTO search_entry
        (id, entry_type, object_id, kind, published, year, publisher, state, status)
        VALUES (new.id * 2 + 1, 'agency', new.id, new.kind, NULL, NULL, '', new.state,
            'published');
    INSERT INTO search_fts (rowid, title, summary, body)
        VALUES (new.id * 2 + 1, new.name, '', {SQLITE_AGENCY_BODY});
END""",
    f"""CREATE TRIGGER search_agency_update
    AFTER UPDATE OF name, kind, state, county_name, agency_type ON agreements_agency
BEGIN
    UPDATE search_entry SET kind = new.kind, state = new.state WHERE id = new.id * 2 + 1;
    UPDATE search_fts SET title = new.name, body = {SQLITE_AGENCY_BODY}
        WHERE rowid = new.id * 2 + 1;
END""",
    """CREATE TRIGGER search_agency_delete AFTER DELETE ON agreements_agency BEGIN
    DELETE FROM search_fts WHERE rowid = old.id * 2 + 1;
    DELETE FROM search_entry WHERE id = old.id * 2 + 1;
END""",
    f"""CREATE TRIGGER search_alias_insert AFTER INSERT ON agreements_agencyalias BEGIN
    {SQLITE_ALIASES.format("new")}
END""",
    f"""CREATE TRIGGER search_alias_update
    AFTER UPDATE OF name, agency_id ON agreements_agencyalias
BEGIN
    {SQLITE_ALIASES.format("old")}
    {SQLITE_ALIASES.format("new")}
END""",
    f"""CREATE TRIGGER search_alias_delete AFTER DELETE ON agreements_agencyalias BEGIN
    {SQLITE_ALIASES.format("old")}
END""",
    *(
        f"CREATE TRIGGER search_version_{table}_{event.lower()}"
        f" AFTER {event}{columns if event == 'UPDATE' else ''} ON {table}"
        f" BEGIN {SQLITE_BUMP} END"
        for table, columns in WATCHED
        for event in ("INSERT", "UPDATE", "DELETE")
    ),
]

# IF EXISTS: a database whose index was damaged can still be migrated back.
SQLITE_DROP = [
    *(f"DROP TRIGGER IF EXISTS {name}" for name, _table in SCHEMA["sqlite"]["triggers"]),
    "DROP TABLE IF EXISTS search_fts",
    "DROP TABLE IF EXISTS search_entry",
    "DROP TABLE IF EXISTS search_version",
    "DROP TABLE IF EXISTS search_state",
]


# --- PostgreSQL: weighted tsvectors with GIN indexes ---------------------------------

# An entry's words (title A, summary B, body C) and the document or agency rows
# they come from, written by one statement (``ids`` may hold ids that are gone).
PG_UPSERT = """WITH src AS MATERIALIZED ({select}),
        entries AS (
            INSERT INTO search_entry (id, entry_type, object_id, kind, published, year,
                publisher, state, status, head)
            SELECT id, entry_type, object_id, kind, published, year, publisher, state,
                status, head FROM src
            ON CONFLICT (id) DO UPDATE SET entry_type = EXCLUDED.entry_type,
                object_id = EXCLUDED.object_id, kind = EXCLUDED.kind,
                published = EXCLUDED.published, year = EXCLUDED.year,
                publisher = EXCLUDED.publisher, state = EXCLUDED.state,
                status = EXCLUDED.status, head = EXCLUDED.head)
        INSERT INTO search_words (id, vector) SELECT id, vector FROM src
        ON CONFLICT (id) DO UPDATE SET vector = EXCLUDED.vector"""
PG_DOCUMENTS = """SELECT d.id * 2 AS id, 'document' AS entry_type, d.id AS object_id, d.kind,
            d.published_on AS published, EXTRACT(YEAR FROM d.published_on)::integer AS year,
            d.publisher, '' AS state, d.status,
            search_vector(d.title, d.summary, d.text) AS vector,
            search_vector(d.title, d.summary, '') AS head
        FROM research_document d WHERE d.id IN (SELECT unnest(ids))"""
PG_AGENCIES = """SELECT a.id * 2 + 1 AS id, 'agency' AS entry_type, a.id AS object_id, a.kind,
            NULL::date AS published, NULL::integer AS year, '' AS publisher, a.state,
            'published' AS status,
            search_vector(
                a.name,
                (SELECT string_agg(al.name, ' ; ') FROM agreements_agencyalias al
                 WHERE al.agency_id = a.id),
                coalesce((SELECT s.name FROM search_state s WHERE s.code = a.state), '')
                    || ' ' || a.state || ' ' || a.county_name || ' ' || a.agency_type
            ) AS vector,
            search_vector(a.name, '', '') AS head
        FROM agreements_agency a WHERE a.id IN (SELECT unnest(ids))"""
PG_WORDS_INDEXES = """
    CREATE INDEX search_words_vector ON search_words USING gin (vector)
        WITH (fastupdate = off);
    CREATE INDEX search_words_pairs ON search_words USING gin (search_pairs(vector))
        WITH (fastupdate = off);
    -- ANALYZE would compute the pairs of 30,000 sampled rows for statistics the
    -- planner does not need: the pairs index is only ever asked directly.
    ALTER INDEX search_words_pairs ALTER COLUMN 1 SET STATISTICS 0;"""

PG_SCHEMA = [
    """CREATE TABLE search_entry (
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
        CHECK (id = object_id * 2 + (entry_type = 'agency')::integer)
    )""",
    # Each entry's words in a narrow side table: finding the matches of a common
    # word visits its small heap rather than the entries'. Stored uncompressed
    # (pglz does not shrink a tsvector; lz4 saves 2% for reads 2.5 times slower).
    """CREATE TABLE search_words (
        id bigint PRIMARY KEY REFERENCES search_entry (id) ON DELETE CASCADE,
        vector tsvector NOT NULL
    )""",
    "ALTER TABLE search_words ALTER COLUMN vector SET STORAGE EXTERNAL",
    # Title and summary matches: the candidates ranked first for common words.
    "CREATE INDEX search_entry_head ON search_entry USING gin (head) WITH (fastupdate = off)",
    "CREATE INDEX search_entry_published ON search_entry (published DESC NULLS LAST, id DESC)",
    "CREATE TABLE search_state (code varchar(2) PRIMARY KEY, name varchar(40) NOT NULL)",
    STATE_NAMES,
    # The version token of the facet arrays comes from a sequence, which a
    # rollback never rewinds, started at random: a schema created again must not
    # repeat a token that a process may have cached with other data.
    "CREATE SEQUENCE search_version_seq",
    "SELECT setval('search_version_seq', floor(random() * 1e15)::bigint + 1)",
    """CREATE TABLE search_version (id integer PRIMARY KEY CHECK (id = 1), token bigint NOT NULL)""",
    "INSERT INTO search_version (id, token) VALUES (1, nextval('search_version_seq'))",
    """CREATE FUNCTION search_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE search_version SET token = nextval('search_version_seq') WHERE id = 1;
        RETURN NULL;
    END $$""",
    # A text too long for one tsvector (1 MB of lexemes) is indexed by its
    # beginning rather than failing the write.
    """CREATE FUNCTION search_vector(title text, summary text, body text)
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
    # Word pairs: each two lexemes at consecutive positions, as one lexeme "a b",
    # so that a two-word phrase matches exactly where its pair is. Bounded so that
    # no text can make a write fail (a pair past 54 bytes or position 16,382 is
    # left out; phrases of such words keep the position check). Changing the body
    # would leave the index stale: a new body takes a new name.
    """CREATE FUNCTION search_pairs(v tsvector) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT coalesce(array_to_tsvector(array_agg(a.lexeme || ' ' || b.lexeme)), ''::tsvector)
        FROM (SELECT lexeme, unnest(positions) AS pos FROM unnest(v)) a
        JOIN (SELECT lexeme, unnest(positions) AS pos FROM unnest(v)) b ON b.pos = a.pos + 1
        WHERE b.pos < 16383 AND octet_length(a.lexeme) + octet_length(b.lexeme) <= 54
    $$""",
    f"""CREATE FUNCTION search_index_documents(ids bigint[]) RETURNS void
    LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM search_entry WHERE id IN (SELECT unnest(ids) * 2);
        {PG_UPSERT.format(select=PG_DOCUMENTS)};
    END $$""",
    f"""CREATE FUNCTION search_index_agencies(ids bigint[]) RETURNS void
    LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM search_entry WHERE id IN (SELECT unnest(ids) * 2 + 1);
        {PG_UPSERT.format(select=PG_AGENCIES)};
    END $$""",
    # The whole index at once, the words' GIN indexes built after the rows:
    # several times faster than updating them row by row.
    f"""CREATE FUNCTION search_reindex() RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        TRUNCATE search_words, search_entry;
        DROP INDEX search_words_vector;
        DROP INDEX search_words_pairs;
        PERFORM search_index_documents(ARRAY(SELECT id FROM research_document));
        PERFORM search_index_agencies(ARRAY(SELECT id FROM agreements_agency));
        -- The pairs of 100,000 entries sorted in memory rather than on disk.
        PERFORM set_config('maintenance_work_mem', '256MB', true);
        {PG_WORDS_INDEXES}
        ANALYZE search_entry;
        ANALYZE search_words;
    END $$""",
    """CREATE FUNCTION search_document_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND NEW.id = OLD.id
           AND NEW.kind IS NOT DISTINCT FROM OLD.kind
           AND NEW.title IS NOT DISTINCT FROM OLD.title
           AND NEW.publisher IS NOT DISTINCT FROM OLD.publisher
           AND NEW.published_on IS NOT DISTINCT FROM OLD.published_on
           AND NEW.summary IS NOT DISTINCT FROM OLD.summary
           AND NEW.text IS NOT DISTINCT FROM OLD.text THEN
            -- The words are unchanged (e.g. a status change): no need to re-parse the text.
            UPDATE search_entry SET status = NEW.status
                WHERE id = NEW.id * 2 AND status IS DISTINCT FROM NEW.status;
            RETURN NULL;
        END IF;
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            DELETE FROM search_entry WHERE id = OLD.id * 2;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            PERFORM search_index_documents(ARRAY[NEW.id]);
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE FUNCTION search_agency_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM search_index_agencies(ARRAY[OLD.id, NEW.id]);
        RETURN NULL;
    END $$""",
    """CREATE FUNCTION search_agencies_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            PERFORM search_index_agencies(ARRAY(SELECT id FROM old_rows));
        ELSE
            PERFORM search_index_agencies(ARRAY(SELECT id FROM new_rows));
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE FUNCTION search_aliases_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            PERFORM search_index_agencies(ARRAY(SELECT DISTINCT agency_id FROM new_rows));
        ELSIF TG_OP = 'DELETE' THEN
            PERFORM search_index_agencies(ARRAY(SELECT DISTINCT agency_id FROM old_rows));
        ELSE
            PERFORM search_index_agencies(ARRAY(
                SELECT agency_id FROM old_rows UNION SELECT agency_id FROM new_rows));
        END IF;
        RETURN NULL;
    END $$""",
    # TRUNCATE (Django's flush between transactional tests) fires no row triggers.
    """CREATE FUNCTION search_truncate_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_TABLE_NAME = 'research_document' THEN
            DELETE FROM search_entry WHERE entry_type = 'document';
        ELSE
            DELETE FROM search_entry WHERE entry_type = 'agency';
        END IF;
        RETURN NULL;
    END $$""",
    f"""DO $$ BEGIN
        PERFORM set_config('maintenance_work_mem', '256MB', true);
        PERFORM search_index_documents(ARRAY(SELECT id FROM research_document));
        PERFORM search_index_agencies(ARRAY(SELECT id FROM agreements_agency));
        {PG_WORDS_INDEXES}
    END $$""",
    """CREATE TRIGGER search_document_sync_row AFTER INSERT OR UPDATE OR DELETE
        ON research_document FOR EACH ROW EXECUTE FUNCTION search_document_sync()""",
    """CREATE TRIGGER search_truncate_sync_truncate AFTER TRUNCATE
        ON research_document FOR EACH STATEMENT EXECUTE FUNCTION search_truncate_sync()""",
    # Only the columns the index reads: an import touches every agency's
    # timestamps, which must not re-index anything. Inserts and deletes (an
    # import writes ~1,800 agencies in one statement) are indexed once per
    # statement over the rows it wrote.
    """CREATE TRIGGER search_agency_sync_row
        AFTER UPDATE OF name, kind, state, county_name, agency_type ON agreements_agency
        FOR EACH ROW EXECUTE FUNCTION search_agency_sync()""",
    """CREATE TRIGGER search_agency_insert AFTER INSERT ON agreements_agency
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION search_agencies_sync()""",
    """CREATE TRIGGER search_agency_delete AFTER DELETE ON agreements_agency
        REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION search_agencies_sync()""",
    """CREATE TRIGGER search_truncate_sync_truncate AFTER TRUNCATE
        ON agreements_agency FOR EACH STATEMENT EXECUTE FUNCTION search_truncate_sync()""",
    """CREATE TRIGGER search_alias_insert AFTER INSERT ON agreements_agencyalias
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION search_aliases_sync()""",
    """CREATE TRIGGER search_alias_update AFTER UPDATE ON agreements_agencyalias
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION search_aliases_sync()""",
    """CREATE TRIGGER search_alias_delete AFTER DELETE ON agreements_agencyalias
        REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION search_aliases_sync()""",
    *(
        statement
        for table, columns in WATCHED
        for statement in (
            f"""CREATE TRIGGER search_version_bump AFTER INSERT OR DELETE OR UPDATE{columns}
            ON {table} FOR EACH STATEMENT EXECUTE FUNCTION search_version_bump()""",
            f"""CREATE TRIGGER search_version_bump_truncate AFTER TRUNCATE
            ON {table} FOR EACH STATEMENT EXECUTE FUNCTION search_version_bump()""",
        )
    ),
]

PG_DROP = [
    *(
        f"DROP TRIGGER IF EXISTS {name} ON {table}"
        for name, table in SCHEMA["postgresql"]["triggers"]
    ),
    "DROP TABLE IF EXISTS search_words, search_entry, search_version, search_state",
    "DROP SEQUENCE IF EXISTS search_version_seq",
    "DROP FUNCTION IF EXISTS search_reindex(), search_index_documents(bigint[]),"
    " search_index_agencies(bigint[]), search_document_sync(), search_agency_sync(),"
    " search_agencies_sync(), search_aliases_sync(), search_truncate_sync(),"
    " search_version_bump(), search_vector(text, text, text), search_pairs(tsvector)",
]


def drop_earlier_index(apps, schema_editor) -> None:
    """Drop every ``search_*`` object that the code before this migration installed."""
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'search\\_%'"
                " ESCAPE '\\'"
            )
            for (name,) in cursor.fetchall():
                cursor.execute(f'DROP TRIGGER "{name}"')
            for table in ("search_fts", "search_entry", "search_version"):
                cursor.execute(f"DROP TABLE IF EXISTS {table}")
        elif connection.vendor == "postgresql":
            cursor.execute(
                "DROP TABLE IF EXISTS search_words, search_entry, search_version CASCADE"
            )
            cursor.execute("DROP SEQUENCE IF EXISTS search_version_seq")
            # Dropping the functions drops the triggers that call them.
            cursor.execute(
                "SELECT p.oid::regprocedure::text FROM pg_proc p"
                " JOIN pg_namespace n ON n.oid = p.pronamespace"
                " WHERE n.nspname = current_schema() AND p.proname LIKE 'search\\_%'"
            )
            for (signature,) in cursor.fetchall():
                cursor.execute(f"DROP FUNCTION IF EXISTS {signature} CASCADE")


class ForVendor(migrations.RunSQL):
    """RunSQL that runs on one database vendor only."""

    def __init__(self, vendor: str, sql, reverse_sql):
        super().__init__(sql, reverse_sql, elidable=False)
        self.vendor = vendor

    def deconstruct(self):
        _name, args, kwargs = super().deconstruct()
        return self.__class__.__name__, args, {**kwargs, "vendor": self.vendor}

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == self.vendor:
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == self.vendor:
            super().database_backwards(app_label, schema_editor, from_state, to_state)

    def describe(self) -> str:
        return f"Search index schema ({self.vendor})"


class Migration(migrations.Migration):
    dependencies = [
        ("research", "0007_moa_list_evidence"),
        ("agreements", "0009_agreement_ending_in_question"),
    ]

    operations = [
        migrations.RunPython(drop_earlier_index, migrations.RunPython.noop, elidable=False),
        ForVendor("sqlite", SQLITE_SCHEMA, SQLITE_DROP),
        ForVendor("postgresql", PG_SCHEMA, PG_DROP),
    ]
