"""``python manage.py ingest_document URL_OR_PATH... [--kind KIND]``."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from research.models import Document
from research.services.ingest import IngestError, document_submit


class Command(BaseCommand):
    help = (
        "Submit web addresses or local files as documents. Without a broker they are "
        "processed at once; with Redis a worker processes them."
    )

    def add_arguments(self, parser):
        parser.add_argument("inputs", nargs="+", metavar="URL_OR_PATH")
        parser.add_argument("--kind", choices=Document.Kind.values, default=None)

    def handle(self, *args, inputs: list[str], kind: str | None, **options):
        failures = 0
        for item in inputs:
            try:
                if "://" in item:  # any scheme: the service refuses all but http(s)
                    document = document_submit(url=item, kind=kind)
                else:
                    path = Path(item)
                    if not path.is_file():
                        raise IngestError(f"No file at {item}; give a URL or a file path.")
                    document = document_submit(upload=path, filename=path.name, kind=kind)
            except IngestError as exc:
                failures += 1
                self.stderr.write(f"{item}: {exc.message}")
                continue
            document.refresh_from_db()
            line = f"{item}: document #{document.pk} {document.get_status_display().lower()}"
            if document.status_message:
                line += f" — {document.status_message}"
            self.stdout.write(line)
            if document.status == Document.Status.FAILED:
                failures += 1
        if failures:
            raise CommandError(f"{failures} of {len(inputs)} inputs could not be ingested.")
