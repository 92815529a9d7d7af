"""Link a document to the agreements and agencies it is about, and record curators' decisions.

Two kinds of evidence: a file that is an MOA or addendum linked from a row of one
of ICE's lists is that row's agreement's, confirmed, whatever its text says
(``document_link_list_rows``); otherwise the agencies its title and text name
are suggested for a curator to confirm (``document_link_agencies``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import reduce
from operator import or_
from pathlib import PurePosixPath
from urllib.parse import quote, unquote, urlsplit

from django.db import transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from agreements.ice_sheet.links import ice_url
from agreements.models import Agency, AgencyAlias, Agreement, SnapshotRow
from research.canonical import url_key
from research.linker import AgencyLinker, KnownAgency
from research.models import Document, DocumentAgency, DocumentAgreement

__all__ = [
    "agency_links_move",
    "agency_linker",
    "agreement_links_move",
    "document_agency_add",
    "document_agency_review",
    "document_link_agencies",
    "document_link_list_rows",
    "list_rows_linking",
    "list_rows_linking_file",
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


# --- MOAs found by their link in ICE's lists --------------------------------------


@dataclass(frozen=True)
class ListRowMatch:
    """A row of one of ICE's lists whose MOA or addendum link is the document."""

    row: SnapshotRow
    role: str  # DocumentAgreement.Role.MOA or ADDENDUM


def _file_name(url_or_name: str) -> str:
    """The last path segment of a URL or a file name, decoded and case-folded ("" if none)."""
    path = urlsplit(url_or_name).path if "://" in url_or_name else url_or_name
    name = unquote(PurePosixPath(path.replace("\\", "/")).name).strip()
    # A name without an extension ("upload", "document") says nothing about which file it is.
    return name.casefold() if "." in name.strip(".") else ""


def _document_keys(document: Document) -> tuple[set[str], set[str]]:
    """The file names and ICE URL keys under which ``document`` is known."""
    urls = [document.source_url, document.canonical_url]
    urls += list(document.urls.values_list("url", flat=True))
    return _keys(urls, document.original_filename)


def _keys(urls: list[str], filename: str = "") -> tuple[set[str], set[str]]:
    inner = {ice_url(url) for url in urls if url}
    names = {_file_name(url) for url in inner}
    names.add(_file_name(filename))
    names.discard("")
    return names, {url_key(url) for url in inner}


def list_rows_linking(document: Document) -> list[ListRowMatch]:
    """Every row of ICE's lists whose MOA or addendum link is ``document``.

    A link matches by the ICE address inside it (Wayback Machine and safelinks
    wrappers removed) or by its file name, compared without case.
    """
    return _rows_linking(*_document_keys(document))


def list_rows_linking_file(*, filename: str) -> list[ListRowMatch]:
    """Every row of ICE's lists whose MOA or addendum link ends in the file ``filename``."""
    return _rows_linking(*_keys([], filename))


def _rows_linking(names: set[str], keys: set[str]) -> list[ListRowMatch]:
    if not names:
        return []
    spellings = {spelling for name in names for spelling in (name, quote(name))}
    candidates = SnapshotRow.objects.filter(
        reduce(
            or_,
            (
                Q(moa_url__icontains=spelling) | Q(addendum_url__icontains=spelling)
                for spelling in spellings
            ),
        )
    ).select_related("snapshot", "agreement__agency")
    # The cells and the lists' warnings are large JSON, and no match needs them.
    candidates = candidates.defer("raw", "snapshot__header", "snapshot__warnings")
    matches = []
    for row in candidates:
        for role, link in (
            (DocumentAgreement.Role.MOA, row.moa_url),
            (DocumentAgreement.Role.ADDENDUM, row.addendum_url),
        ):
            if not link:
                continue
            inner = ice_url(link)
            if _file_name(inner) in names or url_key(inner) in keys:
                matches.append(ListRowMatch(row=row, role=role))
    return sorted(matches, key=_list_order)


def _list_order(match: ListRowMatch) -> tuple:
    snapshot = match.row.snapshot
    return (snapshot.published_at, snapshot.sha256, match.row.row_number)


def _evidence(match: ListRowMatch, rows: int) -> str:
    """ "Linked as the MOA in row 412 of ICE's participating list of 2025-05-23: ..." """
    row, snapshot = match.row, match.row.snapshot
    what = "MOA" if match.role == DocumentAgreement.Role.MOA else "MOA addendum"
    signed = f", signed {row.signed_on.isoformat()}" if row.signed_on else ""
    others = rows - 1
    also = f" (and {others} other row{'s' if others != 1 else ''} of ICE's lists)" if others else ""
    return (
        f"Linked as the {what} in row {row.row_number} of ICE's {snapshot.kind} list of "
        f"{snapshot.published_at:%Y-%m-%d}{also}: {row.agency_name} ({row.state}), "
        f"{row.get_model_display() or row.model}{signed}."
    )


def document_link_list_rows(*, document: Document) -> list[DocumentAgency]:
    """Link ``document`` to the agreements and agencies whose list rows link to it.

    Each agreement whose MOA (or addendum) link in any of ICE's lists is this
    file gets the document in that role, and its agency a confirmed link; the
    latest such row is kept as evidence. A curator's own decision on an agency
    link is never changed. Only PDFs are looked for: ICE links no other kind of file.
    Returns the agency links made or refreshed.
    """
    if document.content_type != "application/pdf" and document.kind != Document.Kind.MOA:
        return []
    matches = list_rows_linking(document)
    latest: dict[tuple[int, str], ListRowMatch] = {}
    by_agency: dict[int, list[ListRowMatch]] = {}
    for match in matches:
        agreement = match.row.agreement
        agency_id = agreement.agency_id if agreement is not None else match.row.agency_id
        if agreement is not None:
            latest[(agreement.pk, match.role)] = match
        if agency_id is not None:
            by_agency.setdefault(agency_id, []).append(match)
    linked: list[DocumentAgency] = []
    with transaction.atomic():
        for (agreement_id, role), match in latest.items():
            DocumentAgreement.objects.update_or_create(
                document=document,
                agreement_id=agreement_id,
                role=role,
                defaults={"evidence_row": match.row},
            )
        existing = {
            link.agency_id: link
            for link in DocumentAgency.objects.select_for_update().filter(document=document)
        }
        for agency_id, agency_matches in by_agency.items():
            link = existing.get(agency_id)
            if link is not None and not (_is_open_suggestion(link) or _is_list_link(link)):
                continue  # a curator's decision stands
            evidence = agency_matches[-1]
            fields = {
                "method": DocumentAgency.Method.ICE_LIST,
                "status": DocumentAgency.Status.CONFIRMED,
                "confidence": 1.0,
                "passage": _evidence(evidence, len(agency_matches)),
                "evidence_row": evidence.row,
            }
            if link is None:
                link = DocumentAgency.objects.create(
                    document=document, agency_id=agency_id, **fields
                )
            else:
                for attr, value in fields.items():
                    setattr(link, attr, value)
                link.save(update_fields=list(fields))
            linked.append(link)
        stale = [
            link.pk
            for agency_id, link in existing.items()
            if agency_id not in by_agency and _is_list_link(link)
        ]
        if stale:
            DocumentAgency.objects.filter(pk__in=stale).delete()
        facts = _list_facts(document, matches)
        if linked or facts:
            Document.objects.filter(pk=document.pk).update(updated_at=timezone.now(), **facts)
            for name, value in facts.items():
                setattr(document, name, value)
    return linked


def _list_facts(document: Document, matches: list[ListRowMatch]) -> dict:
    """What ICE's list says of a file it links, for the fields nobody decided yet.

    The file is an MOA, a work of the U.S. government, and (as an MOA, not an
    addendum) dated by its signing in the list's latest row: the file's own dates
    say only when the PDF was made.
    """
    if not matches:
        return {}
    guessed = set(document.guessed)
    facts: dict = {}
    if "kind" in guessed:
        facts["kind"] = Document.Kind.MOA
    if "rights" in guessed:
        facts["rights"] = Document.Rights.PUBLIC_DOMAIN
    signed = [m.row.signed_on for m in matches if m.role == DocumentAgreement.Role.MOA]
    signed = [day for day in signed if day is not None]
    if signed and (document.published_on is None or "published_on" in guessed):
        facts["published_on"] = signed[-1]
    remaining = guessed - set(facts)
    if remaining != guessed:
        facts["guessed_fields"] = sorted(remaining) or None
    return facts


def _is_list_link(link: DocumentAgency) -> bool:
    return link.method == DocumentAgency.Method.ICE_LIST and link.reviewed_by_id is None
