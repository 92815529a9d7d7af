"""Reads of the research app that pages, downloads, the API, the feed and template tags share.

Every read starts from ``research.policy``, which alone decides who sees which
document and which of its links; these functions only choose, order and
prefetch. Query-string filters are ``research.filters.DocumentFilter``,
applied to :func:`document_list` by the page, its CSV/JSON download and the API.
"""

from __future__ import annotations

from django.db.models import F, Max, Prefetch, QuerySet
from django.db.models.functions import ExtractYear

from agreements.models import Agency
from research import policy
from research.canonical import url_key
from research.models import (
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
