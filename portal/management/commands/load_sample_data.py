"""Load the bundled real ICE lists and MOA PDFs (data/ice-287g/); safe to run again."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from agreements.management.commands.load_ice_samples import SAMPLES, samples_load
from agreements.models import Agreement
from agreements.services import SnapshotImportError
from research.models import Document, DocumentAgreement
from research.services.ingest import document_submit
from research.services.moas import agreement_moa_title
from research.services.review import document_publish


class Command(BaseCommand):
    help = "Import the bundled ICE spreadsheets and publish the bundled MOA PDFs."

    def add_arguments(self, parser):
        parser.add_argument("--folder", type=Path, default=SAMPLES, help="Folder of samples.")

    def handle(self, *args, folder: Path, **options):
        if not any(folder.glob("*.xlsx")):
            raise CommandError(f"No .xlsx files in {folder}: the bundled samples are missing.")
        try:
            for line in samples_load(folder):
                self.stdout.write(line)
        except SnapshotImportError as exc:
            raise CommandError(str(exc)) from exc
        for path in sorted(folder.glob("*.pdf")):
            self.stdout.write(f"{path.name}: {self._load_moa(path)}")

    def _load_moa(self, path: Path) -> str:
        """Submit a bundled MOA as the document of the agreements that link to it."""
        links = []
        for role, field in (
            (DocumentAgreement.Role.MOA, "moa_url"),
            (DocumentAgreement.Role.ADDENDUM, "addendum_url"),
        ):
            matches = Agreement.objects.filter(Q(**{f"{field}__endswith": "/" + path.name}))
            links += [(agreement, role) for agreement in matches.select_related("agency")]
        title = agreement_moa_title(*links[0]) if links else path.stem
        document = document_submit(
            upload=path,
            filename=path.name,
            kind=Document.Kind.MOA,
            rights=Document.Rights.PUBLIC_DOMAIN,
            title=title,
            agreement_links=links,
        )
        document.refresh_from_db()
        if document.status == Document.Status.NEEDS_REVIEW:
            document = document_publish(document=document)
        return f"{document.get_status_display().lower()}, linked to {len(links)} agreement(s)"
