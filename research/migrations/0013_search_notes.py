"""Notes in the search index: their bodies and tags, matched as documents are.

A note's words live in their own side table (SQLite: an FTS5 table whose rowid
is the note's id; PostgreSQL: a tsvector table with a GIN index), not in
``search_entry``: the entries' id scheme (2n, 2n + 1) and the per-process facet
arrays stay as they were, and a database without notes searches as before.
Who may read a note is not in the index: search asks research.policy at query
time, as the note pages do.

Triggers keep the words in step with every write of a note's body, its tags or
a tag's name. On SQLite a trigger reads only its own row and ``search_*``
tables (see 0008: SQLite refuses to rename a table while a trigger names a
missing one, the middle of every Django table rebuild), so the tags' words are
mirrored in ``search_tag`` and the note-tag pairs in ``search_note_tag``.

This migration declares the whole search ``SCHEMA`` again: 0008's and the above.
"""

import copy
import importlib

from django.db import migrations

_SCHEMA_0008 = importlib.import_module("research.migrations.0008_search_schema")
ForVendor = _SCHEMA_0008.ForVendor

SCHEMA = copy.deepcopy(_SCHEMA_0008.SCHEMA)
SQLITE_TRIGGERS = [
    ("search_note_insert", "research_annotation"),
    ("search_note_update", "research_annotation"),
    ("search_note_delete", "research_annotation"),
    ("search_note_tag_insert", "research_annotation_tags"),
    ("search_note_tag_update", "research_annotation_tags"),
    ("search_note_tag_delete", "research_annotation_tags"),
    ("search_tag_insert", "research_tag"),
    ("search_tag_update", "research_tag"),
    ("search_tag_delete", "research_tag"),
]
SCHEMA["sqlite"]["tables"] |= {
    "search_note_fts": ["body", "tags"],
    "search_note_fts_config": None,
    "search_note_fts_content": None,
    "search_note_fts_data": None,
    "search_note_fts_docsize": None,
    "search_note_fts_idx": None,
    "search_note_tag": ["annotation_id", "tag_id"],
    "search_tag": ["id", "words"],
}
SCHEMA["sqlite"]["indexes"] = [*SCHEMA["sqlite"]["indexes"], "search_note_tag_tag"]
SCHEMA["sqlite"]["triggers"] = [*SCHEMA["sqlite"]["triggers"], *SQLITE_TRIGGERS]

PG_TRIGGERS = [
    ("search_note_sync_row", "research_annotation"),
    ("search_note_truncate", "research_annotation"),
    ("search_note_tag_insert", "research_annotation_tags"),
    ("search_note_tag_update", "research_annotation_tags"),
    ("search_note_tag_delete", "research_annotation_tags"),
    ("search_tag_sync_row", "research_tag"),
]
SCHEMA["postgresql"]["tables"] |= {"search_note": ["id", "vector"]}
SCHEMA["postgresql"]["indexes"] = [
    *SCHEMA["postgresql"]["indexes"],
    "search_note_pkey",
    "search_note_vector",
]
SCHEMA["postgresql"]["functions"] = [
    *SCHEMA["postgresql"]["functions"],
    "search_index_notes",
    "search_note_sync",
    "search_note_tags_sync",
    "search_note_truncate_sync",
    "search_tag_sync",
]
SCHEMA["postgresql"]["triggers"] = [*SCHEMA["postgresql"]["triggers"], *PG_TRIGGERS]


# --- SQLite --------------------------------------------------------------------------

# A tag is found by its name and by its slug's words ("task-force": task force).
SQLITE_TAG_WORDS = "{0}.name || ' ' || replace({0}.slug, '-', ' ')"
# The words of the tags of the note ``{0}`` (an expression giving its id).
SQLITE_NOTE_TAG_WORDS = """coalesce((SELECT group_concat(s.words, ' ')
        FROM search_note_tag l JOIN search_tag s ON s.id = l.tag_id
        WHERE l.annotation_id = {0}), '')"""
SQLITE_RETAG = (
    "UPDATE search_note_fts SET tags = "
    + SQLITE_NOTE_TAG_WORDS.format("{0}.annotation_id")
    + " WHERE rowid = {0}.annotation_id;"
)
SQLITE_NOTE_WRITE = f"""
    DELETE FROM search_note_fts WHERE rowid = new.id;
    INSERT INTO search_note_fts (rowid, body, tags)
        VALUES (new.id, new.body, {SQLITE_NOTE_TAG_WORDS.format("new.id")});"""

SQLITE_SCHEMA = [
    """CREATE VIRTUAL TABLE search_note_fts USING fts5(
        body, tags, tokenize = 'porter unicode61 remove_diacritics 2'
    )""",
    "CREATE TABLE search_tag (id integer PRIMARY KEY, words text NOT NULL)",
    """CREATE TABLE search_note_tag (
        annotation_id bigint NOT NULL,
        tag_id bigint NOT NULL,
        PRIMARY KEY (annotation_id, tag_id)
    )""",
    "CREATE INDEX search_note_tag_tag ON search_note_tag (tag_id)",
    # The notes and tags already there.
    f"INSERT INTO search_tag (id, words) SELECT t.id, {SQLITE_TAG_WORDS.format('t')}"
    " FROM research_tag t",
    """INSERT INTO search_note_tag (annotation_id, tag_id)
        SELECT annotation_id, tag_id FROM research_annotation_tags""",
    f"""INSERT INTO search_note_fts (rowid, body, tags)
        SELECT a.id, a.body, {SQLITE_NOTE_TAG_WORDS.format("a.id")} FROM research_annotation a""",
    f"""CREATE TRIGGER search_note_insert AFTER INSERT ON research_annotation BEGIN
    {SQLITE_NOTE_WRITE}
END""",
    f"""CREATE TRIGGER search_note_update AFTER UPDATE OF id, body ON research_annotation BEGIN
    DELETE FROM search_note_fts WHERE rowid = old.id;
    {SQLITE_NOTE_WRITE}
END""",
    """CREATE TRIGGER search_note_delete AFTER DELETE ON research_annotation BEGIN
    DELETE FROM search_note_fts WHERE rowid = old.id;
    DELETE FROM search_note_tag WHERE annotation_id = old.id;
END""",
    f"""CREATE TRIGGER search_note_tag_insert AFTER INSERT ON research_annotation_tags BEGIN
    INSERT OR IGNORE INTO search_note_tag (annotation_id, tag_id)
        VALUES (new.annotation_id, new.tag_id);
    {SQLITE_RETAG.format("new")}
END""",
    f"""CREATE TRIGGER search_note_tag_update AFTER UPDATE ON research_annotation_tags BEGIN
    DELETE FROM search_note_tag
        WHERE annotation_id = old.annotation_id AND tag_id = old.tag_id;
    INSERT OR IGNORE INTO search_note_tag (annotation_id, tag_id)
        VALUES (new.annotation_id, new.tag_id);
    {SQLITE_RETAG.format("old")}
    {SQLITE_RETAG.format("new")}
END""",
    f"""CREATE TRIGGER search_note_tag_delete AFTER DELETE ON research_annotation_tags BEGIN
    DELETE FROM search_note_tag
        WHERE annotation_id = old.annotation_id AND tag_id = old.tag_id;
    {SQLITE_RETAG.format("old")}
END""",
    f"""CREATE TRIGGER search_tag_insert AFTER INSERT ON research_tag BEGIN
    INSERT OR REPLACE INTO search_tag (id, words) VALUES (new.id, {SQLITE_TAG_WORDS.format("new")});
END""",
    f"""CREATE TRIGGER search_tag_update AFTER UPDATE OF id, name, slug ON research_tag BEGIN
    DELETE FROM search_tag WHERE id = old.id;
    INSERT OR REPLACE INTO search_tag (id, words) VALUES (new.id, {SQLITE_TAG_WORDS.format("new")});
    UPDATE search_note_tag SET tag_id = new.id WHERE tag_id = old.id;
    UPDATE search_note_fts SET tags = {SQLITE_NOTE_TAG_WORDS.format("search_note_fts.rowid")}
        WHERE rowid IN (SELECT annotation_id FROM search_note_tag WHERE tag_id = new.id);
END""",
    """CREATE TRIGGER search_tag_delete AFTER DELETE ON research_tag BEGIN
    DELETE FROM search_tag WHERE id = old.id;
END""",
]

SQLITE_DROP = [
    *(f"DROP TRIGGER IF EXISTS {name}" for name, _table in SQLITE_TRIGGERS),
    "DROP TABLE IF EXISTS search_note_fts",
    "DROP TABLE IF EXISTS search_note_tag",
    "DROP TABLE IF EXISTS search_tag",
]


# --- PostgreSQL ----------------------------------------------------------------------

PG_SCHEMA = [
    # Tags weigh as a summary (B), the body as a document's body (C): a note does
    # not crowd out the documents whose title matches.
    "CREATE TABLE search_note (id bigint PRIMARY KEY, vector tsvector NOT NULL)",
    """CREATE FUNCTION search_index_notes(ids bigint[]) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM search_note WHERE id IN (SELECT unnest(ids));
        INSERT INTO search_note (id, vector)
        SELECT a.id, search_vector(
            '',
            (SELECT string_agg(t.name || ' ' || replace(t.slug, '-', ' '), ' ')
             FROM research_annotation_tags l JOIN research_tag t ON t.id = l.tag_id
             WHERE l.annotation_id = a.id),
            a.body)
        FROM research_annotation a WHERE a.id IN (SELECT unnest(ids));
    END $$""",
    """CREATE FUNCTION search_note_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            PERFORM search_index_notes(ARRAY[NEW.id]);
        ELSIF TG_OP = 'DELETE' THEN
            PERFORM search_index_notes(ARRAY[OLD.id]);
        ELSE
            PERFORM search_index_notes(ARRAY[OLD.id, NEW.id]);
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE FUNCTION search_note_tags_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            PERFORM search_index_notes(ARRAY(SELECT DISTINCT annotation_id FROM new_rows));
        ELSIF TG_OP = 'DELETE' THEN
            PERFORM search_index_notes(ARRAY(SELECT DISTINCT annotation_id FROM old_rows));
        ELSE
            PERFORM search_index_notes(ARRAY(
                SELECT annotation_id FROM old_rows UNION SELECT annotation_id FROM new_rows));
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE FUNCTION search_tag_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM search_index_notes(ARRAY(
            SELECT annotation_id FROM research_annotation_tags WHERE tag_id = NEW.id));
        RETURN NULL;
    END $$""",
    # TRUNCATE (Django's flush between transactional tests) fires no row triggers.
    """CREATE FUNCTION search_note_truncate_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM search_note;
        RETURN NULL;
    END $$""",
    "SELECT search_index_notes(ARRAY(SELECT id FROM research_annotation))",
    "CREATE INDEX search_note_vector ON search_note USING gin (vector)",
    """CREATE TRIGGER search_note_sync_row AFTER INSERT OR DELETE OR UPDATE OF id, body
        ON research_annotation FOR EACH ROW EXECUTE FUNCTION search_note_sync()""",
    """CREATE TRIGGER search_note_truncate AFTER TRUNCATE ON research_annotation
        FOR EACH STATEMENT EXECUTE FUNCTION search_note_truncate_sync()""",
    """CREATE TRIGGER search_note_tag_insert AFTER INSERT ON research_annotation_tags
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION search_note_tags_sync()""",
    """CREATE TRIGGER search_note_tag_update AFTER UPDATE ON research_annotation_tags
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION search_note_tags_sync()""",
    """CREATE TRIGGER search_note_tag_delete AFTER DELETE ON research_annotation_tags
        REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION search_note_tags_sync()""",
    """CREATE TRIGGER search_tag_sync_row AFTER UPDATE OF name, slug ON research_tag
        FOR EACH ROW EXECUTE FUNCTION search_tag_sync()""",
]

PG_DROP = [
    *(f"DROP TRIGGER IF EXISTS {name} ON {table}" for name, table in PG_TRIGGERS),
    "DROP TABLE IF EXISTS search_note",
    "DROP FUNCTION IF EXISTS search_index_notes(bigint[]), search_note_sync(),"
    " search_note_tags_sync(), search_tag_sync(), search_note_truncate_sync()",
]


class Migration(migrations.Migration):
    dependencies = [
        ("research", "0012_annotation_roles"),
    ]

    operations = [
        ForVendor("sqlite", SQLITE_SCHEMA, SQLITE_DROP),
        ForVendor("postgresql", PG_SCHEMA, PG_DROP),
    ]
