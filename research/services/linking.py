"""Suggest the agencies a document is about, and record curators' decisions."""

from __future__ import annotations

import threading

from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone

from agreements.models import Agency, AgencyAlias, Agreement
from research.linker import AgencyLinker, KnownAgency
from research.models import Document, DocumentAgency, DocumentAgreement

__all__ = [
    "agency_links_move",
    "agency_linker",
    "agreement_links_move",
    "document_agency_add",
    "document_agency_review",
    "document_link_agencies",
]

_cache_lock = threading.Lock()
_cache: dict[str, object] = {"key": None, "linker": None}


def _agencies_version() -> tuple:
    """Changes whenever an agency or alias is added, edited or removed."""
    agencies = Agency.objects.aggregate(n=Count("id"), at=Max("updated_at"), top=Max("id"))
    aliases = AgencyAlias.objects.aggregate(n=Count("id"), top=Max("id"))
    return (agencies["n"], agencies["at"], agencies["top"], aliases["n"], aliases["top"])


def _known_agencies() -> list[KnownAgency]:
    aliases: dict[int, list[str]] = {}
    for agency_id, name in AgencyAlias.objects.values_list("agency_id", "name"):
        aliases.setdefault(agency_id, []).append(name)
    return [
        KnownAgency(
            id=pk,
            name=name,
            state=state,
            county=county,
            aliases=tuple(aliases.get(pk, ())),
        )
        for pk, name, state, county in Agency.objects.values_list(
            "id", "name", "state", "county_name"
        )
    ]


def agency_linker() -> AgencyLinker:
    """The linker over every known agency, rebuilt only when agencies change."""
    key = _agencies_version()
    with _cache_lock:
        if _cache["key"] != key or _cache["linker"] is None:
            _cache["linker"] = AgencyLinker(_known_agencies())
            _cache["key"] = key
        return _cache["linker"]  # type: ignore[return-value]


def document_link_agencies(*, document: Document) -> list[DocumentAgency]:
    """Suggest links from ``document`` to the agencies its title and text name.

    Automatic suggestions are created or refreshed; a link a curator confirmed,
    rejected or added by hand is never changed. Automatic suggestions whose
    agency the text no longer names are removed. Returns the suggested links
    created or refreshed.
    """
    text = "\n\n".join(part for part in (document.title, document.text) if part)
    mentions = agency_linker().find(text) if text else []
    found = {mention.agency_id: mention for mention in mentions}
    suggested: list[DocumentAgency] = []
    with transaction.atomic():
        existing = {
            link.agency_id: link
            for link in DocumentAgency.objects.select_for_update().filter(document=document)
        }
        for agency_id, mention in found.items():
            link = existing.get(agency_id)
            if link is None:
                link = DocumentAgency.objects.create(
                    document=document,
                    agency_id=agency_id,
                    method=DocumentAgency.Method.AUTOMATIC,
                    status=DocumentAgency.Status.SUGGESTED,
                    confidence=mention.confidence,
                    passage=mention.passage,
                )
            elif _is_open_suggestion(link):
                link.confidence = mention.confidence
                link.passage = mention.passage
                link.save(update_fields=["confidence", "passage"])
            else:
                continue
            suggested.append(link)
        stale = [
            link.pk
            for agency_id, link in existing.items()
            if agency_id not in found and _is_open_suggestion(link)
        ]
        if stale:
            DocumentAgency.objects.filter(pk__in=stale).delete()
    return suggested


def _is_open_suggestion(link: DocumentAgency) -> bool:
    return (
        link.method == DocumentAgency.Method.AUTOMATIC
        and link.status == DocumentAgency.Status.SUGGESTED
    )


def document_agency_review(*, link: DocumentAgency, status: str, user=None) -> DocumentAgency:
    """Record a curator's decision on a document–agency link.

    A confirmed or rejected link is kept as the curator left it: re-linking the
    document never changes it.
    """
    if status not in DocumentAgency.Status.values:
        raise ValueError(f"“{status}” is not a link status; use confirmed, rejected or suggested.")
    link.status = status
    link.reviewed_by = user if user is not None and user.is_authenticated else None
    link.save(update_fields=["status", "reviewed_by"])
    Document.objects.filter(pk=link.document_id).update(updated_at=timezone.now())
    return link


def document_agency_add(*, document: Document, agency: Agency, user=None) -> DocumentAgency:
    """A curator states that ``document`` is about ``agency``: a confirmed manual link."""
    link, _ = DocumentAgency.objects.update_or_create(
        document=document,
        agency=agency,
        defaults={
            "method": DocumentAgency.Method.MANUAL,
            "status": DocumentAgency.Status.CONFIRMED,
            "confidence": 1.0,
            "reviewed_by": user if user is not None and user.is_authenticated else None,
        },
    )
    return link


# --- Merges announced by the agreements app -------------------------------------

_LINK_STATUS_RANK = {
    DocumentAgency.Status.CONFIRMED: 2,
    DocumentAgency.Status.SUGGESTED: 1,
    DocumentAgency.Status.REJECTED: 0,
}


def _link_rank(link: DocumentAgency) -> tuple[int, float]:
    return (_LINK_STATUS_RANK.get(link.status, 1), link.confidence)


def agency_links_move(*, source_ids: list[int], target: Agency) -> int:
    """Point the document links of agencies ``source_ids`` at ``target``.

    Where ``target`` already has a link to the same document, the better of the
    two (a curator's decision over a suggestion, then the surer one) is kept.
    Returns how many links were moved or folded.
    """
    existing = {link.document_id: link for link in DocumentAgency.objects.filter(agency=target)}
    moved = 0
    for link in DocumentAgency.objects.filter(agency_id__in=source_ids).order_by("pk"):
        twin = existing.get(link.document_id)
        if twin is None:
            link.agency = target
            link.save(update_fields=["agency"])
            existing[link.document_id] = link
        else:
            if _link_rank(link) > _link_rank(twin):
                for attr in ("status", "method", "confidence", "passage", "reviewed_by_id"):
                    setattr(twin, attr, getattr(link, attr))
                twin.save()
            link.delete()
        moved += 1
    return moved


def agreement_links_move(*, source_ids: list[int], target: Agreement) -> int:
    """Point the document links of agreements ``source_ids`` at ``target``; returns how many."""
    existing = set(
        DocumentAgreement.objects.filter(agreement=target).values_list("document_id", "role")
    )
    moved = 0
    for link in DocumentAgreement.objects.filter(agreement_id__in=source_ids).order_by("pk"):
        if (link.document_id, link.role) in existing:
            link.delete()
        else:
            link.agreement = target
            link.save(update_fields=["agreement"])
            existing.add((link.document_id, link.role))
        moved += 1
    return moved


def on_agency_merged(sender, *, source_ids: list[int], target: Agency, **kwargs) -> int:
    """Receiver of ``agreements.signals.agency_merged``."""
    return agency_links_move(source_ids=source_ids, target=target)


def on_agreements_combined(sender, *, source_ids: list[int], target: Agreement, **kwargs) -> int:
    """Receiver of ``agreements.signals.agreements_combined``."""
    return agreement_links_move(source_ids=source_ids, target=target)
