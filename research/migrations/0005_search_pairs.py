"""Search on PostgreSQL: an index of word pairs, so that a phrase is found without
re-reading the positions of every entry that holds its words.

Building it reads every entry's words once (about 3 minutes for 100,000
documents); SQLite's FTS5 index already holds positions and needs nothing.
"""

from django.db import migrations


def install(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    from research.search.backends import backend_for

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        backend_for(connection).install(cursor)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("DROP INDEX IF EXISTS search_words_pairs")
            cursor.execute("DROP FUNCTION IF EXISTS search_pairs(tsvector)")


class Migration(migrations.Migration):
    dependencies = [
        ("research", "0004_search_version"),
    ]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
