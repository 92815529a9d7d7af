"""Rebuild the full-text search index from the documents and agencies."""

from django.core.management.base import BaseCommand

from research.search.sync import search_reindex


class Command(BaseCommand):
    help = (
        "Rebuild the search index. Triggers keep it in step with every write; run this "
        "after restoring a backup or loading data with triggers off. (search_check "
        "compares the index's tables and triggers with what the migrations created.)"
    )

    def handle(self, *args, **options) -> None:
        counts = search_reindex()
        self.stdout.write(
            f"Indexed {counts['documents']} documents and {counts['agencies']} agencies."
        )
