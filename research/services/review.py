"""Curators' decisions on documents: publish, reject, re-extract, re-link."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from portal.tasks import enqueue_on_commit
from research.models import Document, DocumentAgency
from research.services.linking import document_link_agencies, document_link_list_rows

__all__ = [
    "ReviewError",
    "document_publish",
    "document_reextract",
    "document_reject",
    "document_relink",
]


class ReviewError(Exception):
    """A review action that cannot apply to a document; the message is a sentence."""


def _set_status(document: Document, status: str, message: str = "") -> Document:
    document.status = status
    document.status_message = message
    document.status_changed_at = timezone.now()
    document.save(update_fields=["status", "status_message", "status_changed_at", "updated_at"])
    return document


@transaction.atomic
def document_publish(*, document: Document, user=None) -> Document:
    """Make ``document`` public; only a document with extracted text can be."""
    document = Document.objects.select_for_update().get(pk=document.pk)
    if document.status in {Document.Status.QUEUED, Document.Status.FETCHING}:
        raise ReviewError(f"“{document}” is still being processed; publish it once it is ready.")
    if document.duplicate_of_id:
        raise ReviewError(
            f"“{document}” is a duplicate of document #{document.duplicate_of_id}; "
            "publish that one instead."
        )
    if document.status == Document.Status.FAILED and not document.text:
        raise ReviewError(
            f"“{document}” has no text because processing failed; re-extract it first."
        )
    from research.tasks import alerts_match_documents_task

    # Saved searches and MOA watches learn of it once the publication commits.
    enqueue_on_commit(alerts_match_documents_task, [document.pk])
    return _set_status(document, Document.Status.PUBLISHED)


@transaction.atomic
def document_reject(*, document: Document, user=None, reason: str = "") -> Document:
    """Keep ``document`` out of the public portal (it stays, so it is not fetched again)."""
    document = Document.objects.select_for_update().get(pk=document.pk)
    return _set_status(document, Document.Status.REJECTED, reason)


def document_reextract(*, document: Document, user=None) -> Document:
    """Queue ``document`` to be fetched and extracted again.

    Good text already stored is kept if the new fetch fails (``document_process``
    never overwrites it with nothing).
    """
    from research.tasks import document_process_task  # tasks import services

    with transaction.atomic():
        document = Document.objects.select_for_update().get(pk=document.pk)
        if document.status in {Document.Status.QUEUED, Document.Status.FETCHING}:
            return document
        # Without validators the server sends the file again instead of a 304.
        document.attempts = 0
        document.http_etag = ""
        document.http_last_modified = ""
        document.save(update_fields=["attempts", "http_etag", "http_last_modified"])
        _set_status(document, Document.Status.QUEUED)
        enqueue_on_commit(document_process_task, document.pk)
    return document


def document_relink(*, document: Document, user=None) -> list[DocumentAgency]:
    """Link ``document`` again: to the list rows that link to its file, then by its current text."""
    return document_link_list_rows(document=document) + document_link_agencies(document=document)
