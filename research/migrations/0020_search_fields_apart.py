"""On PostgreSQL, a phrase no longer runs from one field into the next.

``tsvector || tsvector`` numbers the second vector's words on from the last of
the first, so a title's last word and a summary's first stood side by side and
``"rallies reasonable"`` matched a title ending in "rallies" above a summary
starting with "reasonable" (one document of the 1,000,000 in BENCHMARKS.md).
SQLite's FTS5 keeps its columns apart, as does the ranking benchmark's reference.
``search_vector`` now leaves 100 positions between the fields, held by a lexeme
that no text can give (a space) and removed at once; the index is rebuilt with it.
"""

import importlib

from django.db import migrations

_SCHEMA_0008 = importlib.import_module("research.migrations.0008_search_schema")
ForVendor = _SCHEMA_0008.ForVendor

_FIELDS_APART = """CREATE OR REPLACE FUNCTION search_vector(title text, summary text, body text)
    RETURNS tsvector LANGUAGE plpgsql IMMUTABLE AS $$
    DECLARE
        gap constant tsvector := ''' '':100';
    BEGIN
        RETURN ts_delete(setweight(to_tsvector('english', coalesce(title, '')), 'A') || gap
            || setweight(to_tsvector('english', coalesce(summary, '')), 'B') || gap
            || setweight(to_tsvector('english', coalesce(body, '')), 'C'), ' ');
    EXCEPTION WHEN program_limit_exceeded THEN
        RETURN ts_delete(setweight(to_tsvector('english', left(coalesce(title, ''), 2000)), 'A')
            || gap || setweight(to_tsvector('english', left(coalesce(summary, ''), 20000)), 'B')
            || gap || setweight(to_tsvector('english', left(coalesce(body, ''), 200000)), 'C'),
            ' ');
    END $$"""
_SIDE_BY_SIDE = next(
    statement.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
    for statement in _SCHEMA_0008.PG_SCHEMA
    if statement.startswith("CREATE FUNCTION search_vector(")
)
# What PostgresBackend.reindex runs: the entries, then the notes (whose tags and
# body are fields too).
_REINDEX = [
    "SELECT search_reindex()",
    "TRUNCATE search_note",
    "SELECT search_index_notes(ARRAY(SELECT id FROM research_annotation))",
]


class Migration(migrations.Migration):
    dependencies = [
        ("research", "0019_sqlite_alias_writes_bump_version"),
    ]

    operations = [
        ForVendor("postgresql", [_FIELDS_APART, *_REINDEX], [_SIDE_BY_SIDE, *_REINDEX]),
    ]
