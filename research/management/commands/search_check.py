"""Compare the search index's schema with what the research migrations created."""

from django.core.management.base import BaseCommand, CommandError

from research.search.sync import search_schema_differences


class Command(BaseCommand):
    help = (
        "Report every difference between the search tables, columns, indexes, functions "
        "and triggers of the database and those the research migrations created; exit 1 "
        "if there is any."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--database", default="default", help="database alias to check")

    def handle(self, *args, database: str, **options) -> None:
        problems = search_schema_differences(using=database)
        if problems:
            raise CommandError(
                "\n".join(problems)
                + "\nTo create the search schema again as the migrations hold it (and reindex):"
                " python manage.py migrate research 0007_moa_list_evidence && python manage.py migrate research",
                returncode=1,
            )
        self.stdout.write("The search schema matches the migrations.")
