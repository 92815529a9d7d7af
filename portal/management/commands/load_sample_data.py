"""Load the bundled real ICE lists and MOA PDFs (data/ice-287g/ and its folders); safe to run again."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from agreements.management.commands.load_ice_samples import SAMPLES, refusals, samples_load
from research.models import Document
from research.services.ingest import document_submit
from research.services.linking import list_rows_linking_file
from research.services.moas import agreement_moa_title
from research.services.review import document_publish


class Command(BaseCommand):
    help = (
        "Import the bundled ICE lists in publication order, then publish the bundled MOA PDFs "
        "linked to the agreements whose list rows link to them."
    )

    def add_arguments(self, parser):
        parser.add_argument("--folder", type=Path, default=SAMPLES, help="Folder of samples.")

    def handle(self, *args, folder: Path, **options):
        if not any(folder.rglob("*.xlsx")):
            raise CommandError(f"No .xlsx files in {folder}: the bundled samples are missing.")
        entries = samples_load(folder)
        for entry in entries:
            self.stdout.write(entry.summary())
        for path in sorted(folder.rglob("*.pdf"), key=lambda path: path.name.casefold()):
            self.stdout.write(f"{path.name}: {self._load_moa(path)}")
        error = refusals(entries)
        if error:
            raise error

    def _load_moa(self, path: Path) -> str:
        """Submit a bundled MOA; processing links it to the rows whose MOA link is this file."""
        matches = [m for m in list_rows_linking_file(filename=path.name) if m.row.agreement_id]
        # Named after the agreement of the latest list row that links to it.
        title = agreement_moa_title(matches[-1].row.agreement, matches[-1].role) if matches else ""
        document = document_submit(
            upload=path,
            filename=path.name,
            kind=Document.Kind.MOA,
            rights=Document.Rights.PUBLIC_DOMAIN,
            title=title,
        )
        document.refresh_from_db()
        if document.status == Document.Status.NEEDS_REVIEW:
            document = document_publish(document=document)
        linked = document.agreement_links.values("agreement").distinct().count()
        return f"{document.get_status_display().lower()}, linked to {linked} agreement(s)"
