"""A partial index on Document.submitted_by in place of the full one.

Most documents are collected, not submitted: over a column of NULLs SQLite's
statistics make the full index look useless and it scanned the table on every
signed-in search. The old index is dropped by name, not by altering the field:
on SQLite, AlterField copies the table, which drops the search triggers on it.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("research", "0017_search_postings"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="document",
                    name="submitted_by",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="submitted_documents",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX research_document_submitted_by_id_9b73c016",
                    "CREATE INDEX research_document_submitted_by_id_9b73c016"
                    " ON research_document (submitted_by_id)",
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="document",
            index=models.Index(
                condition=models.Q(("submitted_by__isnull", False)),
                fields=["submitted_by"],
                name="document_submitted_by",
            ),
        ),
    ]
