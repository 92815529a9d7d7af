"""Public pages of the research app: the documents list and one document's page.

Search (``research:search``) lives in ``research.search``. Who may read what is
decided in ``research.policy``; the reads are ``research.selectors``.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.syndication.views import Feed
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.feedgenerator import Atom1Feed
from django.views.decorators.http import require_POST, require_safe

from portal.exports import Column, export_links, export_response, requested_format
from research import policy, selectors
from research.filters import DocumentFilter
from research.models import Document
from research.services.anchoring import carry_annotations
from research.services.annotations import AnnotationRefused

PAGE_SIZE = 25
FEED_SIZE = 50
# The same for a document that does not exist and one the reader may not see.
NOT_FOUND = "No document you may see at this address."

DOCUMENT_COLUMNS = [
    Column("id"),
    Column("title"),
    Column("kind"),
    Column("publisher"),
    Column("authors"),
    Column("published_on"),
    Column("language"),
    Column("rights"),
    Column("canonical_url"),
    Column("sha256"),
    Column(
        "agencies",
        lambda d: [f"{link.agency.name} ({link.agency.state})" for link in d.confirmed_links],
    ),
    Column("tags", lambda d: [t.name for t in d.tags.all()]),
    Column("page_url", lambda d: d.get_absolute_url()),
]


@require_safe
def document_list(request: HttpRequest) -> HttpResponse:
    """The documents the reader may see, filtered by kind, agency, state, year and tag;
    downloadable."""
    viewable = selectors.document_list(request.user)
    filterset = DocumentFilter(request.GET, queryset=viewable)
    documents = filterset.qs if filterset.is_valid() else viewable.none()
    if fmt := requested_format(request):
        return export_response(
            fmt,
            rows=documents.iterator(chunk_size=500),
            columns=DOCUMENT_COLUMNS,
            filename="documents",
            meta={"filters": {k: v for k, v in request.GET.items() if k != "format"}},
        )
    page = Paginator(documents, PAGE_SIZE).get_page(request.GET.get("page"))
    # The cleaned value: a NUL byte or other invalid text never reaches the database.
    agency_slug = filterset.form.cleaned_data.get("agency", "") if filterset.is_valid() else ""
    query = request.GET.copy()
    for name in ("page", "format"):
        query.pop(name, None)
    return render(
        request,
        "research/document_list.html",
        {
            "page": page,
            "filterset": filterset,
            "kinds": Document.Kind.choices,
            "tags": selectors.tag_list(),
            "years": selectors.document_years(request.user),
            "selected": {
                "kind": request.GET.getlist("kind"),
                "state": request.GET.get("state", "").upper(),
                "year": request.GET.get("year", ""),
                "tag": request.GET.get("tag", ""),
                "agency": agency_slug,
            },
            "agency": selectors.agency_by_slug(agency_slug),
            "filtered": bool(query),
            "pager_query": query.urlencode(),
            "downloads": export_links(request),
        },
    )


@require_safe
def document_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One document: metadata, text where rights allow, links, and how to cite it."""
    try:
        document = selectors.document_page(request.user, pk)
    except Document.DoesNotExist as exc:
        raise Http404(NOT_FOUND) from exc
    full_text = policy.can_read_text(request.user, document)
    return render(
        request,
        "research/document_detail.html",
        {
            "document": document,
            "full_text": full_text,
            "text_is_public": policy.text_is_public(document),
            "file_downloadable": policy.can_download_file(request.user, document),
            "excerpt": "" if full_text else policy.public_excerpt(document),
            "agreement_links": selectors.document_agreement_links(document),
            "citation": citation(document, request.build_absolute_uri(document.get_absolute_url())),
        },
    )


@require_safe
def document_file(request: HttpRequest, pk: int) -> FileResponse:
    """The original file, for readers allowed the full text (rights as on the page)."""
    try:
        document = selectors.document_get(request.user, pk)
    except Document.DoesNotExist as exc:
        raise Http404(NOT_FOUND) from exc
    if not policy.can_download_file(request.user, document):
        raise Http404("No original file you may download.")
    try:
        handle = document.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404("The stored file of this document is missing.") from exc
    # Always an attachment: an archived HTML page must never run as part of the portal.
    return FileResponse(
        handle,
        as_attachment=True,
        filename=document.file.name.rsplit("/", 1)[-1],
        content_type=document.content_type or "application/octet-stream",
    )


class DocumentFeed(Feed):
    """The newest documents as Atom: each with its public excerpt, never the whole text."""

    feed_type = Atom1Feed
    title = "287(g) portal: documents"
    subtitle = "News, MOAs, court filings, legislation and reports about 287(g) agreements."

    def get_object(self, request: HttpRequest, *args, **kwargs):
        return request.user

    def link(self) -> str:
        return reverse("research:document-list")

    def items(self, user) -> list[Document]:
        return selectors.latest_documents(user, limit=FEED_SIZE)

    def item_title(self, document: Document) -> str:
        return str(document)

    def item_description(self, document: Document) -> str:
        return policy.public_excerpt(document)

    def item_pubdate(self, document: Document):
        return document.status_changed_at

    def item_author_name(self, document: Document) -> str:
        return document.publisher


def citation(document: Document, url: str) -> dict[str, str]:
    """A plain-text reference and a BibTeX entry for ``document``."""
    authors = [a for a in (document.authors or []) if isinstance(a, str) and a.strip()]
    title = document.title or document.canonical_url or f"Document {document.pk}"
    year = document.published_on.year if document.published_on else None
    accessed = timezone.localdate()
    who = "; ".join(authors) or document.publisher
    when = document.published_on.isoformat() if document.published_on else "n.d."
    plain = f"{who}. “{title}.” " if who else f"“{title}.” "
    if document.publisher and authors:
        plain += f"{document.publisher}, "
    plain += f"{when} " if when.endswith(".") else f"{when}. "
    if document.canonical_url:
        plain += f"{document.canonical_url}. Archived at {url} "
    else:
        plain += f"287(g) Research Portal, {url} "
    plain += f"(accessed {accessed.isoformat()})."
    source = document.canonical_url or url
    entry = "misc" if document.kind != Document.Kind.NEWS else "article"
    fields = [("title", "{" + title + "}"), ("author", " and ".join(authors) or None)]
    fields += [
        ("publisher" if entry == "misc" else "journal", document.publisher or None),
        ("year", str(year) if year else None),
        ("date", document.published_on.isoformat() if document.published_on else None),
        ("url", source),
        ("urldate", accessed.isoformat()),
        ("note", f"Archived at {url}"),
    ]
    key = f"doc{document.pk}{year or ''}"
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields if value)
    return {"plain": plain, "bibtex": f"@{entry}{{{key},\n{body}\n}}"}


# --- Notes carried to a later MOA ------------------------------------------------------


@require_POST
@login_required
def annotation_carry(request: HttpRequest, pk: int) -> HttpResponse:
    """Copy the reader's notes on an MOA onto a later MOA of the same agency."""
    try:
        document = selectors.document_get(request.user, pk)
    except Document.DoesNotExist as exc:
        raise Http404(NOT_FOUND) from exc
    try:
        target = selectors.document_get(request.user, int(request.POST.get("target", "")))
    except (ValueError, Document.DoesNotExist):
        messages.error(request, "Choose one of the later versions listed to carry your notes to.")
        return redirect(document)
    try:
        report = carry_annotations(document, target, request.user)
    except AnnotationRefused as exc:
        messages.error(request, " ".join(exc.errors.values()))
        return redirect(document)
    if report.skipped and not report.placed + len(report.orphaned):
        messages.info(request, "Your notes on that MOA were carried here before; nothing new.")
    elif not report.placed + len(report.orphaned):
        messages.info(request, "You have no notes on that MOA to carry.")
    else:
        messages.success(request, f"Carried from “{document}”: {report.summary()}")
    return redirect(target)
