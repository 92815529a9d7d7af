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
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST, require_safe

from portal.exports import Column, export_links, export_response, requested_format
from research import policy, selectors
from research.annotation_render import Span, render_highlights
from research.filters import DocumentFilter
from research.forms import AnnotationForm
from research.markdown import render_markdown
from research.models import Document
from research.services.anchoring import carry_annotations
from research.services.annotations import AnnotationRefused

PAGE_SIZE = 25
FEED_SIZE = 50
# The same for a document that does not exist and one the reader may not see.
NOT_FOUND = "No document you may see at this address."
DOCUMENT_TEMPLATE = "research/document_detail.html"

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
    """One document: metadata, text where rights allow with its notes, links, and how to cite it."""
    try:
        document = selectors.document_page(request.user, pk)
    except Document.DoesNotExist as exc:
        raise Http404(NOT_FOUND) from exc
    return render(request, DOCUMENT_TEMPLATE, document_context(request, document))


def document_context(request: HttpRequest, document: Document, *, note_form=None) -> dict:
    """What the document page shows ``request.user``; ``note_form`` is a refused new note."""
    user = request.user
    full_text = policy.can_read_text(user, document)
    annotating = full_text and policy.can_annotate(user) and bool(document.text)
    if annotating and note_form is None:
        note_form = AnnotationForm(document=document, user=user)
    return {
        "document": document,
        "full_text": full_text,
        "text_is_public": policy.text_is_public(document),
        "file_downloadable": policy.can_download_file(user, document),
        "excerpt": "" if full_text else policy.public_excerpt(document),
        "agreement_links": selectors.document_agreement_links(document),
        "citation": citation(document, request.build_absolute_uri(document.get_absolute_url())),
        "note_form": note_form if annotating else None,
        **notes_context(request, document, full_text=full_text),
        **selectors.carry_context(user, document),
    }


def notes_context(request: HttpRequest, document: Document, *, full_text: bool) -> dict:
    """The notes beside the text, narrowed by ``?tag=`` and ``?author=``, and the highlights.

    Filtering is done on the notes already read, so any value is safe and the
    number of queries stays the same.
    """
    user = request.user
    notes = selectors.document_annotations(user, document)
    tags = {tag.slug: tag.name for note in notes for tag in note.tag_names}
    authors = {note.author.username: author_name(note.author) for note in notes}
    tag, author = request.GET.get("tag", ""), request.GET.get("author", "")
    shown = [
        note
        for note in notes
        if (not tag or any(t.slug == tag for t in note.tag_names))
        and (not author or note.author.username == author)
    ]
    edit_url, delete_url, flag_url = (
        url_for_each(name)
        for name in (
            "research:annotation-edit",
            "research:annotation-delete",
            "research:annotation-flag",
        )
    )
    for note in shown:
        note.key = str(note.pk)
        note.quote = policy.annotation_quote(user, note)
        note.body_html = render_markdown(note.body)
        note.own = note.author_id == user.pk
        note.flaggable = policy.can_flag_annotation(user, note)
        note.author_name = authors[note.author.username]
        note.edit_url, note.delete_url = edit_url(note.pk), delete_url(note.pk)
        note.flag_url = flag_url(note.pk)
    highlighted = ""
    if full_text and document.text:
        spans = [Span(n.pk, n.start, n.end) for n in shown if not n.orphaned]
        # Escaped by render_highlights: only its <mark> markup is not text.
        highlighted = mark_safe(render_highlights(document.text, spans))  # noqa: S308
    return {
        "notes": shown,
        "notes_total": len(notes),
        "note_tags": sorted(tags.items(), key=lambda item: item[1].casefold()),
        "note_authors": sorted(authors.items(), key=lambda item: item[1].casefold()),
        "selected_tag": tag,
        "selected_author": author,
        "highlighted_text": highlighted,
    }


def url_for_each(name: str):
    """``reverse(name, args=[pk])`` for many ``pk``: reversing once per note costs
    a fifth of a page of 200 notes."""
    sentinel = 2_147_483_647
    pattern = reverse(name, args=[sentinel])
    return lambda pk: pattern.replace(str(sentinel), str(int(pk)))


def author_name(user) -> str:
    return user.get_full_name() or user.get_username()


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
