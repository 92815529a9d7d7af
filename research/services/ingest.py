"""Documents come in by URL or upload, are fetched, extracted and de-duplicated.

The database holds the queue: ``document_submit`` writes a queued ``Document``
and only then, after commit, sends ``document_process_task``. A broker that is
down only delays the work; ``documents_requeue_stale`` re-sends what waits too
long. ``document_process`` is idempotent: a document already processed, or being
processed by another worker, is left alone.

Bad input ends in a status and a sentence on the document (``status_message``)
with a short ``error_code``; only what can heal (timeouts, 5xx, 429, connection
errors) is retried. A failed re-fetch never overwrites good text already stored.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import mimetypes
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import BinaryIO
from urllib.parse import urlsplit

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from portal.http import FetchError, fetch
from portal.tasks import enqueue_on_commit
from portal.units import size_text
from research import policy, selectors
from research.canonical import canonicalize_url, url_key
from research.extract import Extraction, ExtractionError, extract
from research.models import Document, DocumentAgreement, DocumentURL, Feed
from research.services.anchoring import reanchor_document

logger = logging.getLogger(__name__)

__all__ = [
    "MAX_ATTEMPTS",
    "IngestError",
    "document_process",
    "document_process_interrupted",
    "document_submit",
    "documents_requeue_stale",
]

# After this many processing attempts a document that keeps failing
# transiently is marked failed instead of being sent again.
MAX_ATTEMPTS = 8
# A document "fetching" for longer than this was left behind by a dead worker.
STALE_FETCHING = timedelta(minutes=10)  # longer than the task's hard time limit
STALE_QUEUED = timedelta(minutes=10)
FETCH_ACCEPT = "text/html,application/xhtml+xml,application/pdf;q=0.9,*/*;q=0.1"
_CONTENT_TYPES = {"pdf": "application/pdf", "html": "text/html"}
_DONE = {Document.Status.NEEDS_REVIEW, Document.Status.PUBLISHED, Document.Status.REJECTED}


class IngestError(ValueError):
    """A submission that cannot become a document; ``message`` says why."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class DocumentNotVisible(IngestError):
    """The address or file is someone else's unpublished document, not to be named."""


# Said instead of naming the document, which would tell what is waiting for review.
NOT_VISIBLE = (
    "This address or file is already in the portal, but not published: only curators can "
    "see it or fetch it again, so there is nothing more to do."
)


# --- Submit --------------------------------------------------------------------


def _check_submitted_url(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        raise IngestError(
            f"“{url}” is not a web address; give a URL that starts with http:// or https://."
        )
    return url


def _kind_guess(name: str, url: str) -> str:
    """A PDF is rarely a news article; a web page usually is (a curator checks either)."""
    path = urlsplit(url).path if url else name
    return Document.Kind.OTHER if path.lower().endswith(".pdf") else Document.Kind.NEWS


def _read_upload(upload: Path | BinaryIO | bytes) -> bytes:
    limit = settings.FETCH_MAX_BYTES
    if isinstance(upload, bytes):
        data = upload
    elif isinstance(upload, (str, Path)):
        path = Path(upload)
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    else:
        if hasattr(upload, "seek"):
            upload.seek(0)
        data = upload.read(limit + 1)
    if len(data) > limit:
        raise IngestError(f"The file is larger than the {size_text(limit)} the portal accepts.")
    if not data:
        raise IngestError("The file is empty.")
    return data


def _link_agreements(document: Document, agreement_links: Iterable) -> None:
    for link in agreement_links:
        agreement, role = link if isinstance(link, tuple) else (link, DocumentAgreement.Role.MOA)
        DocumentAgreement.objects.get_or_create(document=document, agreement=agreement, role=role)


def _original(document: Document) -> Document:
    """Follow ``duplicate_of`` to the document that holds the content."""
    seen = {document.pk}
    while document.duplicate_of_id and document.duplicate_of_id not in seen:
        seen.add(document.duplicate_of_id)
        document = document.duplicate_of
    return document


def document_submit(
    *,
    url: str = "",
    upload: Path | BinaryIO | bytes | None = None,
    filename: str = "",
    kind: str | None = None,
    submitted_by=None,
    title: str = "",
    rights: str | None = None,
    agreement_links: Iterable = (),
    feed: Feed | None = None,
) -> Document:
    """Queue a URL or an uploaded file as a document, or return the one already known.

    ``agreement_links`` holds agreements or ``(agreement, role)`` pairs. Raises
    ``IngestError`` (a ``ValueError``) for input that can never be a document:
    no URL and no file, a URL that is not http(s), an empty or oversized file.
    """
    if not url and upload is None:
        raise IngestError("Give a web address or a file to submit.")
    agreement_links = list(agreement_links)
    guessed: list[str] = []
    if kind is None and feed is not None:
        kind = feed.default_kind
    elif kind is None:
        named = upload if isinstance(upload, (str, Path)) else getattr(upload, "name", "")
        kind = _kind_guess(filename or str(named or ""), url)
        guessed.append("kind")
    if kind not in Document.Kind.values:
        raise IngestError(
            f"“{kind}” is not a kind of document; use one of {', '.join(Document.Kind.values)}."
        )
    if rights and rights not in Document.Rights.values:
        raise IngestError(
            f"“{rights}” is not a rights status; use one of {', '.join(Document.Rights.values)}."
        )
    if not rights and kind == Document.Kind.MOA:
        rights = Document.Rights.PUBLIC_DOMAIN  # a work of the U.S. government
    elif not rights:
        # The safe assumption until a curator knows better: only the excerpt is public.
        rights = Document.Rights.COPYRIGHTED
        guessed.append("rights")
    if upload is not None:
        return _submit_upload(
            upload=upload,
            filename=filename,
            kind=kind,
            submitted_by=submitted_by,
            title=title,
            rights=rights,
            agreement_links=agreement_links,
            guessed=guessed,
        )
    url = _check_submitted_url(url)
    canonical = canonicalize_url(url)
    key = url_key(url)
    try:
        with transaction.atomic():
            known = DocumentURL.objects.select_related("document").filter(url_key=key).first()
            if known is not None:
                document = _original(known.document)
                _link_agreements(document, agreement_links)
                if document.status == Document.Status.FAILED and submitted_by is not None:
                    # A person submitting a failed address again asks for a retry;
                    # feeds and MOA sweeps (no submitter) do not re-fetch dead links.
                    document = _requeue(document)
                return document
            document = Document.objects.create(
                kind=kind,
                title=title[:500],
                canonical_url=canonical,
                source_url=url,
                rights=rights,
                guessed_fields=guessed or None,
                submitted_by=submitted_by,
                feed=feed,
                status=Document.Status.QUEUED,
                status_changed_at=timezone.now(),
            )
            DocumentURL.objects.create(document=document, url=canonical, url_key=key)
            _link_agreements(document, agreement_links)
            _enqueue(document)
    except IntegrityError:
        # Another submission of the same URL won the race: it is that document.
        known = DocumentURL.objects.select_related("document").get(url_key=key)
        document = _original(known.document)
        with transaction.atomic():
            _link_agreements(document, agreement_links)
    return document


def document_submit_as(
    user,
    *,
    url: str = "",
    upload: Path | BinaryIO | bytes | None = None,
    filename: str = "",
    kind: str | None = None,
    title: str = "",
) -> Document:
    """Submit as ``user`` from a page or the API: the document, if ``user`` may see it.

    Someone else's unpublished document is neither named nor fetched again:
    ``DocumentNotVisible`` is raised before submitting when the address is
    known, and after when the file turned out known (or another submission
    of the address won a race).
    """
    if url and any(not policy.can_view(user, known) for known in selectors.documents_at_url(url)):
        raise DocumentNotVisible(NOT_VISIBLE)
    document = document_submit(
        url=url, upload=upload, filename=filename, kind=kind, title=title, submitted_by=user
    )
    if not policy.can_view(user, document):
        raise DocumentNotVisible(NOT_VISIBLE)
    return document


def _submit_upload(
    *,
    upload,
    filename: str,
    kind: str,
    submitted_by,
    title: str,
    rights: str,
    agreement_links: list,
    guessed: list[str],
) -> Document:
    data = _read_upload(upload)
    sha256 = hashlib.sha256(data).hexdigest()
    name = PurePosixPath(filename or getattr(upload, "name", "") or "upload").name
    stored = ""
    try:
        with transaction.atomic():
            known = Document.objects.filter(sha256=sha256).first()
            if known is not None:
                document = _original(known)
                _link_agreements(document, agreement_links)
                return document
            document = Document(
                kind=kind,
                title=title[:500],
                rights=rights,
                guessed_fields=guessed or None,
                submitted_by=submitted_by,
                sha256=sha256,
                size=len(data),
                original_filename=name[:255],
                content_type=mimetypes.guess_type(name)[0] or "",
                status=Document.Status.QUEUED,
                status_changed_at=timezone.now(),
            )
            document.file.save(name, ContentFile(data), save=False)
            stored = document.file.name
            document.save()
            _link_agreements(document, agreement_links)
            _enqueue(document)
    except IntegrityError:
        # Another submission of the same bytes won: the file written for this one goes.
        if stored:
            document.file.storage.delete(stored)
        document = _original(Document.objects.get(sha256=sha256))
        with transaction.atomic():
            _link_agreements(document, agreement_links)
    return document


def _requeue(document: Document) -> Document:
    document = Document.objects.select_for_update().get(pk=document.pk)
    document.attempts = 0
    _set_status(document, Document.Status.QUEUED)
    document.save(
        update_fields=["attempts", "status", "status_message", "error_code", "status_changed_at"]
    )
    _enqueue(document)
    return document


def _enqueue(document: Document) -> None:
    from research.tasks import document_process_task  # tasks import this module

    enqueue_on_commit(document_process_task, document.pk)


# --- Process -------------------------------------------------------------------


def _set_status(document: Document, status: str, message: str = "", code: str = "") -> None:
    document.status = status
    document.status_message = message
    document.error_code = code
    document.status_changed_at = timezone.now()


def _claim(document_id: int, *, resume: bool = False) -> Document | None:
    """Mark the document fetching, or None if it is done or another worker has it.

    ``resume`` takes over a document left fetching by a worker known to be dead.
    """
    with transaction.atomic():
        document = Document.objects.select_for_update().get(pk=document_id)
        if document.status in _DONE or document.status == Document.Status.FAILED:
            return None
        if (
            document.status == Document.Status.FETCHING
            and not resume
            and document.status_changed_at
            and timezone.now() - document.status_changed_at < STALE_FETCHING
        ):
            return None
        document.attempts += 1
        _set_status(document, Document.Status.FETCHING, document.status_message)
        document.save(
            update_fields=[
                "attempts",
                "status",
                "status_message",
                "error_code",
                "status_changed_at",
                "updated_at",
            ]
        )
        return document


def _fail(
    document: Document,
    message: str,
    code: str,
    *,
    transient: bool,
    retry: bool,
) -> None:
    """Record a failure; keep good text; queue again if it can heal."""
    if document.text:
        kept = document.fetched_at.date().isoformat() if document.fetched_at else "earlier"
        message = f"Re-fetch failed: {message} The text extracted {kept} is kept."
    with transaction.atomic():
        current = Document.objects.select_for_update().get(pk=document.pk)
        if transient and current.attempts < MAX_ATTEMPTS:
            suffix = "" if retry else " The periodic sweep will try again."
            _set_status(current, Document.Status.QUEUED, message + suffix, code)
        elif current.text:
            _set_status(current, Document.Status.NEEDS_REVIEW, message, code)
        else:
            if transient:
                message = f"{message} Gave up after {current.attempts} attempts."
            _set_status(current, Document.Status.FAILED, message, code)
        current.save(update_fields=["status", "status_message", "error_code", "status_changed_at"])
    document.refresh_from_db()


def _download(document: Document) -> tuple[bytes, str, str, object] | None:
    """The bytes to extract, their type, final URL and the fetch result (None if unchanged)."""
    if document.source_url:
        result = fetch(
            document.source_url,
            accept=FETCH_ACCEPT,
            etag=document.http_etag if document.text else "",
            last_modified=document.http_last_modified if document.text else "",
        )
        if result.not_modified:
            return None
        return result.content, result.content_type, result.final_url, result
    if document.file:
        with document.file.open("rb") as handle:
            return handle.read(), document.content_type, "", None
    raise ExtractionError("The document has neither a URL nor a file.", code="empty")


def document_process(
    *, document_id: int, retry_transient: bool = False, resume: bool = False
) -> Document:
    """Fetch (or read), extract, de-duplicate and link one queued document.

    Returns the document that holds the content: the original when this one
    turned out to be a duplicate. With ``retry_transient`` a transient fetch
    error is re-raised after the document is queued again, for the task to
    retry with backoff. ``resume`` continues work a dead worker left fetching.
    """
    document = _claim(document_id, resume=resume)
    if document is None:
        return _original(Document.objects.get(pk=document_id))
    try:
        downloaded = _download(document)
        if downloaded is None:
            return _unchanged(document)
        content, content_type, final_url, result = downloaded
        name = _file_name(document, final_url)
        extraction = extract(
            content,
            content_type=content_type,
            filename=name,
            url=final_url,
            charset=result.charset if result is not None else "",
            ocr=settings.OCR_ENABLED,
        )
    except FetchError as exc:
        _fail(document, exc.message, exc.code, transient=exc.retryable, retry=retry_transient)
        if exc.retryable and retry_transient and document.status == Document.Status.QUEUED:
            raise
        return document
    except ExtractionError as exc:
        _fail(document, exc.message, exc.code, transient=False, retry=False)
        _discard_refused_upload(document)
        return document
    except Exception as exc:
        return _fail_unexpectedly(document, exc)
    try:
        stored = _store(document, content, name, extraction, final_url, result)
    except Exception as exc:
        return _fail_unexpectedly(document, exc)
    _link_agencies(stored, by_text=stored.pk == document.pk and bool(stored.text))
    return stored


def _discard_refused_upload(document: Document) -> None:
    """Delete the stored file of an upload refused with no text: nothing will read it again,
    and a refused file may be hostile."""
    if document.source_url or document.text or not document.file:
        return
    with transaction.atomic():
        current = Document.objects.select_for_update().get(pk=document.pk)
        name = current.file.name
        current.file = None
        current.save(update_fields=["file"])
        transaction.on_commit(lambda: current.file.storage.delete(name))
    document.refresh_from_db()


def _fail_unexpectedly(document: Document, exc: Exception) -> Document:
    if isinstance(exc, SoftTimeLimitExceeded):
        raise exc  # the task records the interruption; the sweep tries again
    logger.exception("Processing document %s failed unexpectedly.", document.pk)
    _fail(
        document,
        f"Processing stopped on an unexpected error ({exc.__class__.__name__}); "
        "the administrators were told.",
        "internal",
        transient=False,
        retry=False,
    )
    return document


def document_process_interrupted(*, document_id: int, reason: str) -> None:
    """Record that processing was cut off (time limit); the sweep tries again."""
    document = Document.objects.get(pk=document_id)
    _fail(document, reason, "timeout", transient=True, retry=False)


def _unchanged(document: Document) -> Document:
    with transaction.atomic():
        current = Document.objects.select_for_update().get(pk=document.pk)
        current.fetched_at = timezone.now()
        _set_status(
            current,
            Document.Status.NEEDS_REVIEW,
            "The server says the document has not changed since the last fetch.",
        )
        current.save()
    return current


def _file_name(document: Document, final_url: str) -> str:
    if document.original_filename:
        return document.original_filename
    if document.file:
        return PurePosixPath(document.file.name).name
    name = PurePosixPath(urlsplit(final_url or document.source_url).path).name
    return name[:100] or "document"


def _find_duplicate(document: Document, sha256: str, extraction: Extraction) -> tuple:
    others = Document.objects.exclude(pk=document.pk).filter(duplicate_of__isnull=True)
    same_file = others.filter(sha256=sha256).first()
    if same_file is not None:
        return same_file, "file"
    if extraction.text:
        same_text = (
            others.filter(text_sha256=extraction.text_sha256)
            .exclude(status=Document.Status.REJECTED)
            .order_by("pk")
            .first()
        )
        if same_text is not None:
            return same_text, "text"
    return None, ""


def _merge_into(document: Document, original: Document, what: str) -> Document:
    """Give ``document``'s URLs and agreement links to ``original``; mark it a duplicate."""
    DocumentURL.objects.filter(document=document).update(document=original)
    for link in DocumentAgreement.objects.filter(document=document):
        DocumentAgreement.objects.get_or_create(
            document=original, agreement=link.agreement, role=link.role
        )
    DocumentAgreement.objects.filter(document=document).delete()
    document.duplicate_of = original
    _set_status(
        document,
        Document.Status.REJECTED,
        f"Duplicate of document #{original.pk} (“{original}”): the same {what} is already in "
        "the portal, so this address was added to that document.",
        "duplicate",
    )
    document.save()
    return original


def _store(
    document: Document,
    content: bytes,
    name: str,
    extraction: Extraction,
    final_url: str,
    result,
) -> Document:
    sha256 = hashlib.sha256(content).hexdigest()
    for _attempt in range(2):
        try:
            with transaction.atomic():
                current = Document.objects.select_for_update().get(pk=document.pk)
                original, what = _find_duplicate(current, sha256, extraction)
                if original is not None and current.text:
                    # A re-fetch that now matches another document: keep this one as it was.
                    _set_status(
                        current,
                        Document.Status.NEEDS_REVIEW,
                        f"The address now serves the same {what} as document #{original.pk}; "
                        "the text extracted earlier is kept.",
                        "duplicate",
                    )
                    current.save()
                    return current
                if original is not None:
                    return _merge_into(current, original, what)
                _apply(current, content, sha256, name, extraction, result)
                _add_final_url(current, final_url)
                return current
        except IntegrityError:
            # A concurrent worker stored the same file first: now it is a duplicate.
            continue
    raise RuntimeError(f"Could not store document {document.pk}.")


def _apply(document: Document, content, sha256, name, extraction: Extraction, result) -> None:
    if document.sha256 != sha256 or not document.file:
        document.file.save(name, ContentFile(content), save=False)
    document.sha256 = sha256
    document.size = len(content)
    document.content_type = _CONTENT_TYPES[extraction.format]
    document.text = extraction.text
    document.text_sha256 = extraction.text_sha256 if extraction.text else ""
    document.page_offsets = extraction.page_offsets
    document.needs_ocr = extraction.needs_ocr
    guessed = set(document.guessed)
    if not document.title:
        document.title = extraction.title or _title_from_name(name)
        if extraction.format == "pdf" or not extraction.title:
            guessed.add("title")  # a PDF's own title field, or the file's name
    if not document.authors and extraction.authors:
        document.authors = extraction.authors
        if extraction.format == "pdf":
            guessed.add("authors")  # a PDF's author field names whoever made the file
    if "kind" in guessed and extraction.format == "pdf" and document.kind == Document.Kind.NEWS:
        document.kind = Document.Kind.OTHER
    document.guessed_fields = sorted(guessed) or None
    document.published_on = document.published_on or extraction.published_on
    document.file_created_on = extraction.file_created_on
    document.file_modified_on = extraction.file_modified_on
    document.publisher = document.publisher or extraction.site_name
    document.language = extraction.language or document.language
    if result is not None:
        document.http_etag = result.etag[:255]
        document.http_last_modified = result.last_modified[:255]
    document.fetched_at = timezone.now()
    message = ""
    if extraction.needs_ocr:
        message = (
            "The PDF is a scan without a text layer and OCR is off or Tesseract is not "
            "available: it needs OCR (Re-extract in the admin) before its text can be searched."
        )
    elif extraction.ocr_used:
        message = "The text was recognized by OCR from a scan; check it against the file."
    _set_status(document, Document.Status.NEEDS_REVIEW, message)
    document.save()
    # In the same transaction as the text: no reader ever sees notes pointing
    # into a text that is no longer there, and a failure leaves both as they were.
    reanchor_document(document)


def _add_final_url(document: Document, final_url: str) -> None:
    """Remember where a redirect led, unless another document already has that URL."""
    if not final_url:
        return
    key = url_key(final_url)
    if not DocumentURL.objects.filter(url_key=key).exists():
        DocumentURL.objects.create(document=document, url=canonicalize_url(final_url), url_key=key)


def _title_from_name(name: str) -> str:
    stem = PurePosixPath(name).stem.replace("_", " ").replace("-", " ").strip()
    return stem[:500]


def _link_agencies(document: Document, *, by_text: bool) -> None:
    """Link the agreements whose MOA link is this file, then suggest the agencies its text names.

    The links come from research.services.linking, when it is installed.
    """
    try:
        linking = importlib.import_module("research.services.linking")
    except ImportError:
        return
    steps = [linking.document_link_list_rows]
    if by_text:
        steps.append(linking.document_link_agencies)
    for step in steps:
        try:
            step(document=document)
        except Exception:
            # A linker fault must not undo an ingestion; curators can re-link.
            logger.exception("Linking document %s (%s) failed.", document.pk, step.__name__)


# --- Sweep ---------------------------------------------------------------------


def documents_requeue_stale(
    *,
    queued_for: timedelta = STALE_QUEUED,
    fetching_for: timedelta = STALE_FETCHING,
    limit: int = 500,
) -> int:
    """Send again the documents a lost message or a dead worker left behind.

    Returns how many were sent. Documents past ``MAX_ATTEMPTS`` are marked failed.
    """
    now = timezone.now()
    stale = Q(status=Document.Status.QUEUED) & (
        Q(status_changed_at__lt=now - queued_for) | Q(status_changed_at__isnull=True)
    ) | Q(status=Document.Status.FETCHING, status_changed_at__lt=now - fetching_for)
    if queued_for <= timedelta(0):
        stale |= Q(status=Document.Status.QUEUED)
    sent = 0
    ids = list(
        Document.objects.filter(stale).order_by("status_changed_at").values_list("pk")[:limit]
    )
    for (pk,) in ids:
        with transaction.atomic():
            document = Document.objects.select_for_update().get(pk=pk)
            if document.status not in {Document.Status.QUEUED, Document.Status.FETCHING}:
                continue
            if document.attempts >= MAX_ATTEMPTS:
                _set_status(
                    document,
                    Document.Status.NEEDS_REVIEW if document.text else Document.Status.FAILED,
                    f"Gave up after {document.attempts} attempts. {document.status_message}".strip(),
                    document.error_code or "gave_up",
                )
            else:
                _set_status(
                    document, Document.Status.QUEUED, document.status_message, document.error_code
                )
                _enqueue(document)
                sent += 1
            document.save(
                update_fields=["status", "status_message", "error_code", "status_changed_at"]
            )
    return sent
