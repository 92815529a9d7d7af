"""Load the bundled real ICE lists and MOA PDFs (data/ice-287g/); safe to run again."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from agreements.models import Agreement
from agreements.services import SnapshotImportError, snapshot_import
from research.models import Document, DocumentAgreement
from research.services.ingest import document_submit
from research.services.moas import agreement_moa_title
from research.services.review import document_publish

SAMPLES = Path(settings.BASE_DIR) / "data" / "ice-287g"


class Command(BaseCommand):
    help = "Import the bundled ICE spreadsheets and publish the bundled MOA PDFs."

    def add_arguments(self, parser):
        parser.add_argument("--folder", type=Path, default=SAMPLES, help="Folder of samples.")

    def handle(self, *args, folder: Path, **options):
        sheets = sorted(folder.glob("*.xlsx"))
        if not sheets:
            raise CommandError(f"No .xlsx files in {folder}: the bundled samples are missing.")
        for path in sheets:
            try:
                result = snapshot_import(file=path, filename=path.name)
            except SnapshotImportError as exc:
                raise CommandError(f"{path.name}: {exc}") from exc
            self.stdout.write(result.summary())
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
