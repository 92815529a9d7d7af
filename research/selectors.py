"""Reads of the research app that pages, downloads, the API, the feed and template tags share.

Every read starts from ``research.policy``, which alone decides who sees which
document and which of its links; these functions only choose, order and
prefetch. Query-string filters are ``research.filters.DocumentFilter``,
applied to :func:`document_list` by the page, its CSV/JSON download and the API.
"""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

from django.db.models import Case, Count, F, Max, Prefetch, Q, QuerySet, When
from django.db.models.functions import ExtractYear

from agreements.models import Agency
from research import policy
from research.canonical import url_key
from research.models import (
    Annotation,
    Collection,
    CollectionItem,
    Document,
    DocumentAgency,
    DocumentAgreement,
    DocumentURL,
    SavedSearch,
    Tag,
    Watch,
    Webhook,
)

# What a list of documents shows; never the (long) text.
LISTED_FIELDS = ("pk", "title", "canonical_url", "kind", "publisher", "published_on", "status")
# Newest first, for every list of documents but the feeds.
LIST_ORDER = ("-published_on", "-created_at", "-pk")
AGENCY_DOCUMENTS_LIMIT = 50
FRONT_PAGE_DOCUMENTS = 6


def _confirmed_links() -> Prefetch:
    """The agency links everyone sees; pages name only confirmed agencies."""
    return Prefetch(
        "agency_links",
        queryset=DocumentAgency.objects.filter(status=DocumentAgency.Status.CONFIRMED)
        .select_related("agency")
        .order_by("agency__name"),
        to_attr="confirmed_links",
    )


# --- Lists of documents ---------------------------------------------------------


def document_list(user) -> QuerySet[Document]:
    """The documents ``user`` may see, newest first, with confirmed agencies and tags.

    Filter it with ``DocumentFilter`` (the page and its download do; the API's
    filter backend does the same).
    """
    return (
        policy.visible_documents(user)
        .prefetch_related(_confirmed_links(), "tags")
        .order_by(*LIST_ORDER)
    )


def document_api_list(user, *, detail: bool = False) -> QuerySet[Document]:
    """The documents of the API, with every agency link (the serializer asks the policy
    which to show) and, for one document, its addresses and agreements."""
    links = DocumentAgency.objects.select_related("agency").order_by("-confidence")
    documents = (
        policy.visible_documents(user)
        .prefetch_related(Prefetch("agency_links", queryset=links), "tags")
        .order_by(*LIST_ORDER)
    )
    if detail:
        agreements = DocumentAgreement.objects.select_related("agreement__agency")
        documents = documents.prefetch_related(
            "urls", Prefetch("agreement_links", queryset=agreements)
        )
    return documents


def document_years(user) -> list[int]:
    """The years in which a document ``user`` may see was published, latest first."""
    return list(
        policy.visible_documents(user)
        .exclude(published_on=None)
        .annotate(year=ExtractYear("published_on"))
        .values_list("year", flat=True)
        .distinct()
        .order_by("-year")
    )


def tag_list() -> QuerySet[Tag]:
    return Tag.objects.order_by("name")


def agency_by_slug(slug: str) -> Agency | None:
    """The agency a documents list is filtered by, to name it in the heading."""
    return Agency.objects.filter(slug=slug).first() if slug else None


def latest_documents(user, *, limit: int) -> list[Document]:
    """The documents ``user`` may see, most recently published first (the Atom feed)."""
    return list(
        policy.visible_documents(user)
        .exclude(status_changed_at=None)
        .order_by("-status_changed_at", "-pk")[:limit]
    )


def front_page_documents() -> list[Document]:
    """The latest published documents, the same for every reader (the home page).

    Ordered by publication time alone so that the (status, status_changed_at)
    index gives them without sorting every document.
    """
    return list(
        policy.public_documents()
        .filter(status_changed_at__isnull=False)
        .only("pk", "title", "canonical_url", "kind", "publisher", "published_on")
        .order_by("-status_changed_at")[:FRONT_PAGE_DOCUMENTS]
    )


# --- One document ---------------------------------------------------------------


def document_get(user, pk: int) -> Document:
    """One document ``user`` may see; raises ``Document.DoesNotExist`` if there is none."""
    return policy.visible_documents(user).get(pk=pk)


def document_page(user, pk: int) -> Document:
    """:func:`document_get` with the confirmed agencies and tags its page names."""
    return document_list(user).get(pk=pk)


def document_agreement_links(document: Document) -> QuerySet[DocumentAgreement]:
    """The agreements ``document`` belongs to, by role then agency."""
    return (
        DocumentAgreement.objects.filter(document=document)
        .select_related("agreement__agency")
        .order_by("role", "agreement__agency__name")
    )


class TagName(NamedTuple):
    slug: str
    name: str


def document_annotations(user, document: Document) -> list[Annotation]:
    """The notes on ``document`` that ``user`` may read, in the order of the text.

    Two queries whatever their number: the notes with their authors, then their
    tags as ``tag_names`` (a page of hundreds of notes is drawn faster without a
    model instance per tag); a third, only when some note is shared with groups,
    for their ``group_names``. A note whose passage was not found again after the
    text changed is listed to its author alone, who may still place it again.
    """
    visible = policy.visible_annotations(user, document.annotations.all())
    notes = [
        note
        for note in visible.select_related("author").order_by("start", "end", "pk")
        if not note.orphaned or note.author_id == user.pk
    ]
    names: dict[int, list[TagName]] = {note.pk: [] for note in notes}
    links = (
        Annotation.tags.through.objects.filter(annotation__in=visible.values("pk"))
        .order_by("tag__name")
        .values_list("annotation_id", "tag__slug", "tag__name")
    )
    for note_id, slug, name in links:
        if note_id in names:
            names[note_id].append(TagName(slug, name))
    groups: dict[int, list[str]] = {
        note.pk: [] for note in notes if note.visibility == Annotation.Visibility.GROUPS
    }
    if groups:  # a third query only when some note is shared with groups
        shared = Annotation.groups.through.objects.filter(annotation_id__in=list(groups))
        for note_id, name in shared.order_by("group__name").values_list(
            "annotation_id", "group__name"
        ):
            groups[note_id].append(name)
    for note in notes:
        note.tag_names = names[note.pk]
        note.group_names = groups.get(note.pk, [])
    return notes


def documents_at_url(url: str) -> list[Document]:
    """The document already stored at ``url`` and the originals it duplicates, if any.

    Whoever asks: the caller asks the policy whether it may say so.
    """
    try:
        key = url_key(url.strip())
    except ValueError:  # document_submit explains what is wrong with the address
        return []
    known = DocumentURL.objects.select_related("document").filter(url_key=key).first()
    chain: list[Document] = []
    document = known.document if known else None
    while document is not None and document not in chain:
        chain.append(document)
        document = document.duplicate_of
    return chain


# --- An agency's documents --------------------------------------------------------


def agency_documents(user, agency: Agency) -> tuple[list[Document], list[Document]]:
    """An agency's MOAs, and the documents confirmed to be about it or one of its agreements.

    Three queries; suggested links that no curator confirmed are not counted,
    and only the documents ``user`` may see are listed. Each MOA carries the
    ``role``, ``model`` and ``signed_on`` of its agreement.
    """
    viewable = policy.visible_documents(user, Document.objects.only(*LISTED_FIELDS))
    moas = list(
        viewable.filter(
            agreement_links__agreement__agency=agency,
            agreement_links__role__in=[DocumentAgreement.Role.MOA, DocumentAgreement.Role.ADDENDUM],
        )
        .annotate(
            role=F("agreement_links__role"),
            model=F("agreement_links__agreement__model"),
            signed_on=F("agreement_links__agreement__signed_on"),
        )
        .order_by("model", "-signed_on", "role", "pk")
    )
    # The links are read first, by agency (indexed): filtering the documents
    # with the link subqueries in the same statement makes the planner walk
    # every published document and probe the links for each.
    confirmed = DocumentAgency.objects.filter(
        agency=agency, status=DocumentAgency.Status.CONFIRMED
    ).values_list("document_id", flat=True)
    related = DocumentAgreement.objects.filter(
        agreement__agency=agency, role=DocumentAgreement.Role.RELATED
    ).values_list("document_id", flat=True)
    linked = set(confirmed.union(related))
    if not linked:
        return moas, []
    documents = list(
        viewable.filter(pk__in=linked)
        .exclude(kind=Document.Kind.MOA)
        .order_by("-published_on", "-created_at")[:AGENCY_DOCUMENTS_LIMIT]
    )
    return moas, documents


# --- Alerts (the dashboard lists them; research.services.alerts writes them) ---


def _with_last_delivery(queryset: QuerySet) -> QuerySet:
    """Each alert with ``last_delivered_at``: when its newest sent e-mail went out."""
    return queryset.annotate(last_delivered_at=Max("deliveries__digest__sent_at"))


def user_watches(user) -> QuerySet[Watch]:
    """``user``'s watches, newest first, each with ``last_delivered_at``."""
    return _with_last_delivery(Watch.objects.filter(user=user).select_related("agency"))


def user_saved_searches(user) -> QuerySet[SavedSearch]:
    """``user``'s saved searches by name, each with ``last_delivered_at`` and ``paused_note``."""
    return _with_last_delivery(SavedSearch.objects.filter(user=user))


def user_webhooks(user) -> QuerySet[Webhook]:
    """``user``'s webhooks, with their secret and, if disabled, why."""
    return Webhook.objects.filter(user=user)


# --- Notes ------------------------------------------------------------------------


def annotation_list(user) -> QuerySet[Annotation]:
    """The notes ``user`` may read, by document and place, with what their W3C form names."""
    return (
        policy.visible_annotations(user)
        .select_related("document", "author")
        .prefetch_related("tags", "groups")
        .order_by("document", "start", "pk")
    )


def own_annotations(user) -> QuerySet[Annotation]:
    """``user``'s own notes on documents they may still see, for their export
    (orphaned ones included)."""
    return annotation_list(user).filter(author=user)


# --- Collections ------------------------------------------------------------------


def collections_owned(user) -> QuerySet[Collection]:
    """``user``'s own collections, most recently changed first, with their item counts."""
    return Collection.objects.filter(owner=user).annotate(item_count=Count("items"))


def collections_shared_with(user) -> QuerySet[Collection]:
    """Others' collections shared with ``user`` by name."""
    return (
        policy.visible_collections(user)
        .filter(visibility=Collection.Visibility.SHARED, shared_with=user)
        .exclude(owner=user)
        .select_related("owner")
    )


def collection_owned(user, pk: int) -> Collection:
    """One of ``user``'s collections; someone else's is ``Collection.DoesNotExist``."""
    return Collection.objects.get(pk=pk, owner=user)


def collection_by_key(user, key) -> Collection:
    """The collection at a shared link, if ``user`` may read it, else ``Collection.DoesNotExist``."""
    return policy.visible_collections(user).select_related("owner").get(share_key=key)


def collection_items(user, collection: Collection) -> QuerySet[CollectionItem]:
    """The items of ``collection`` that ``user`` may see, in their order.

    A document its reader may not see (the owner's own submission still in
    review, in a public collection) is left out, never named.
    """
    documents = policy.visible_documents(user).values("pk")
    return (
        CollectionItem.objects.filter(collection=collection)
        .filter(Q(agency__isnull=False) | Q(document__in=documents))
        .select_related("document", "agency")
        .order_by("position", "pk")
    )


# --- A person's own work (the dashboard) --------------------------------------------


def submissions_of(user) -> QuerySet[Document]:
    """The documents ``user`` submitted, newest first, with their processing status."""
    return (
        policy.visible_documents(user, Document.objects.filter(submitted_by=user))
        .only(*LISTED_FIELDS, "status_message", "created_at", "source_url", "original_filename")
        .order_by("-created_at", "-pk")
    )


def annotations_of(user) -> QuerySet[Annotation]:
    """The notes ``user`` wrote on documents they may still see, those that lost their passage
    (orphaned) first."""
    orphaned_first = Case(When(anchor=Annotation.Anchor.ORPHANED, then=0), default=1)
    return (
        policy.visible_annotations(user, Annotation.objects.filter(author=user))
        .select_related("document")
        .order_by(orphaned_first, "-updated_at", "-pk")
    )


# --- Versions of an agreement's MOA ------------------------------------------------

AGREEMENT_TEXT_ROLES = (DocumentAgreement.Role.MOA, DocumentAgreement.Role.ADDENDUM)


def _version_dates(document_ids) -> dict[int, date]:
    """When each document took effect: its published (signed) date, else its
    agreement's latest signing date, else the day it entered the portal."""
    dates: dict[int, date] = {}
    for pk, published, signed, created in (
        Document.objects.filter(pk__in=document_ids)
        .annotate(
            signed=Max(
                "agreement_links__agreement__signed_on",
                filter=Q(agreement_links__role__in=AGREEMENT_TEXT_ROLES),
            )
        )
        .values_list("pk", "published_on", "signed", "created_at")
    ):
        dates[pk] = published or signed or created.date()
    return dates


def later_versions(document: Document, user=None) -> list[Document]:
    """The MOAs and addenda of ``document``'s agencies that came after it, newest first.

    ``document`` is an agreement's MOA or addendum; the later ones are those of
    any agreement of the same agency (a renewal is a new agreement) dated after
    it, with text to place notes on, that ``user`` may see.
    """
    agencies = DocumentAgreement.objects.filter(
        document=document, role__in=AGREEMENT_TEXT_ROLES
    ).values("agreement__agency")
    candidates = set(
        DocumentAgreement.objects.filter(
            agreement__agency__in=agencies, role__in=AGREEMENT_TEXT_ROLES
        )
        .exclude(document=document)
        .values_list("document_id", flat=True)
    )
    if not candidates:
        return []
    dates = _version_dates({document.pk, *candidates})
    later = [pk for pk in candidates if dates[pk] > dates[document.pk]]
    versions = (
        policy.visible_documents(user, Document.objects.only(*LISTED_FIELDS))
        .filter(pk__in=later, duplicate_of=None)
        .exclude(text="")
    )
    return sorted(versions, key=lambda version: (dates[version.pk], version.pk), reverse=True)


def carry_context(user, document: Document) -> dict:
    """What the carry-over form on ``document``'s page needs: the later versions
    ``user`` may carry their notes to, and how many notes they have here.

    Empty lists when there is nothing to offer (no notes of theirs, no later version).
    """
    if not policy.can_annotate(user):
        return {"carry_versions": [], "carry_note_count": 0}
    count = Annotation.objects.filter(document=document, author=user).count()
    versions = later_versions(document, user) if count else []
    return {"carry_versions": versions, "carry_note_count": count if versions else 0}
