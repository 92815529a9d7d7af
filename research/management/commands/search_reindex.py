"""Rebuild the full-text search index from the documents and agencies."""

from django.core.management.base import BaseCommand

from research.search.sync import search_postings_refresh, search_reindex


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
        # The words searched before are read again now rather than by the next searches.
        words = search_postings_refresh()
        self.stdout.write(f"Read again the postings of {words} common words searched before.")
