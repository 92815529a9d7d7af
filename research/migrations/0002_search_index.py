"""Full-text search index: now created by migration 0008_search_schema.

This migration used to install the index by calling the search code of the day,
so what it built depended on when it ran. It does nothing now; 0008 drops what it
installed on databases migrated before, and creates the frozen schema.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("research", "0001_initial"),
        ("agreements", "0001_initial"),
    ]

    operations = [migrations.RunPython(migrations.RunPython.noop, migrations.RunPython.noop)]
