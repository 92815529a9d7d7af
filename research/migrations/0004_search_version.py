"""Search index version token: now created by migration 0008_search_schema.

This migration used to install the token's table and triggers by calling the
search code of the day. It does nothing now; 0008 drops what it installed on
databases migrated before, and creates the frozen schema.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("research", "0003_document_ingest_fields"),
    ]

    operations = [migrations.RunPython(migrations.RunPython.noop, migrations.RunPython.noop)]
