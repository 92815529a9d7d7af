"""Search word-pairs index (PostgreSQL): now created by migration 0008_search_schema.

This migration used to install the index by calling the search code of the day.
It does nothing now; 0008 drops what it installed on databases migrated before,
and creates the frozen schema.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("research", "0004_search_version"),
    ]

    operations = [migrations.RunPython(migrations.RunPython.noop, migrations.RunPython.noop)]
