"""Search: an index version token for the per-process facet arrays; confirmed links only.

Creates the version table and its triggers (SQLite: with the other index
triggers; PostgreSQL: statement-level), and on PostgreSQL rebuilds the index so
that the entries' state and model arrays count only confirmed agency links
(SQLite keeps no such arrays in the database).
"""

from django.db import migrations


def install(apps, schema_editor):
    from research.search.backends import backend_for
    from research.search.facets import install_version

    connection = schema_editor.connection
    with connection.cursor() as cursor:
        backend = backend_for(connection)
        backend.install(cursor)
        install_version(cursor, connection.vendor)
        if connection.vendor == "postgresql":  # the entries' state and model arrays
            backend.reindex(cursor)


def uninstall(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("DROP TABLE IF EXISTS search_version")
            cursor.execute("DROP FUNCTION IF EXISTS search_version_bump() CASCADE")
            cursor.execute("DROP SEQUENCE IF EXISTS search_version_seq")
        else:
            from research.search.backends.sqlite import TRIGGERS

            for name in TRIGGERS:
                if name.startswith("search_version_"):
                    cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
            cursor.execute("DROP TABLE IF EXISTS search_version")


class Migration(migrations.Migration):
    dependencies = [
        ("research", "0003_document_ingest_fields"),
    ]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
