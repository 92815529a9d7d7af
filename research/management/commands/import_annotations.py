"""``python manage.py import_annotations FILE --user NAME``."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from research.services.annotation_exchange import (
    MAX_IMPORT_BYTES,
    ExchangeRefused,
    annotations_import,
)


class Command(BaseCommand):
    help = (
        "Import W3C Web Annotations (JSON-LD: one, a list, or a collection, as the portal "
        "exports them) or a Hypothesis export as a user's notes, on the documents at "
        "their addresses. Those that cannot be placed are listed with the reason."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", metavar="FILE")
        parser.add_argument("--user", required=True, help="The user name who will own the notes.")

    def handle(self, *args, file: str, user: str, **options):
        owner = get_user_model().objects.filter(username=user).first()
        if owner is None:
            raise CommandError(f"No user is named {user!r}.")
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"No file at {file}.")
        with path.open("rb") as handle:
            raw = handle.read(MAX_IMPORT_BYTES + 1)
        try:
            report = annotations_import(user=owner, raw=raw, base_url=settings.SITE_URL)
        except ExchangeRefused as exc:
            raise CommandError(f"{file}: {exc} Nothing was imported.") from exc
        for refusal in report.refused:
            where = refusal.source or refusal.id or "no address"
            self.stderr.write(f"#{refusal.item} ({where}): {refusal.reason}")
        self.stdout.write(f"{file}: {report.summary()}")
