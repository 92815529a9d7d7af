"""Full-text search index: tables, indexes and triggers (PostgreSQL or SQLite).

The schema lives in research/search/backends/ so that the post_migrate repair
and this migration install exactly the same thing.
"""

from django.db import migrations


def install(apps, schema_editor):
    from research.search.backends import backend_for

    connection = schema_editor.connection
    with connection.cursor() as cursor:
        backend = backend_for(connection)
        backend.install(cursor)
        backend.reindex(cursor)


def uninstall(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("DROP TABLE IF EXISTS search_entry CASCADE")
            for table, trigger in [
                ("research_document", "search_document_sync_row"),
                ("research_document", "search_truncate_sync_truncate"),
                ("agreements_agency", "search_agency_sync_row"),
                ("agreements_agency", "search_truncate_sync_truncate"),
                ("agreements_agencyalias", "search_alias_sync_row"),
            ]:
                cursor.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
        else:
            from research.search.backends.sqlite import TRIGGERS

            for name in TRIGGERS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
            cursor.execute("DROP TABLE IF EXISTS search_fts")
            cursor.execute("DROP TABLE IF EXISTS search_entry")


class Migration(migrations.Migration):
    dependencies = [
        ("research", "0001_initial"),
        ("agreements", "0001_initial"),
    ]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
