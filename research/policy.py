"""Who may see what in the research app: the one place that decides it.

Every decision comes from permissions, which people hold through the role
groups that research migration 0006 creates (researcher, curator,
administrator), never from ``is_staff``: a staff account with no permission
sees what the public sees. Pages, the API, search (hits, snippets, facet
counts), exports, the Atom feed and template tags ask the functions below.

A new visibility rule (saved searches) is one more function
here, built on the same permissions, with a row in tests/research/test_policy.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth.models import Group
from django.db.models import Q, QuerySet

from research.models import Annotation, Collection, Document, DocumentAgency

# The role groups, as the data migration names them.
RESEARCHERS = "Researchers"
CURATORS = "Curators"
ADMINISTRATORS = "Administrators"
ROLE_GROUPS = (RESEARCHERS, CURATORS, ADMINISTRATORS)

# Read the full text and original file of copyrighted documents.
VIEW_FULL_TEXT = "research.view_full_text"
# See documents in every status and agency links no curator has confirmed yet.
VIEW_UNREVIEWED = "research.view_unreviewed"
# Submit addresses and files for the portal to collect.
SUBMIT_DOCUMENT = "research.submit_document"
# Write notes on documents (researchers and curators).
ANNOTATE = "research.add_annotation"
# Approve or reject public notes, and see why they were flagged (curators).
MODERATE_ANNOTATIONS = "research.moderate_annotation"
# Invite researchers and answer requests for access (curators; portal migration 0002).
INVITE_RESEARCHERS = "portal.add_invitation"
ANSWER_ACCESS_REQUESTS = "portal.change_accessrequest"
# Keep collections of documents and agencies (researchers and curators).
KEEP_COLLECTIONS = "research.add_collection"

# Watch agencies and save searches, with e-mail and webhook alerts (research migration 0015).
KEEP_ALERTS = "research.add_watch"

EXCERPT_CHARS = 300
# Rights under which the public may read a document's whole text.
PUBLIC_TEXT_RIGHTS = frozenset({Document.Rights.PUBLIC_DOMAIN, Document.Rights.OPEN_LICENCE})


def _signed_in(user) -> bool:
    return user is not None and user.is_authenticated and user.is_active


def _has(user, permission: str) -> bool:
    return _signed_in(user) and user.has_perm(permission)


# --- What a user may do ---------------------------------------------------------


def reads_full_text(user) -> bool:
    """Whether ``user`` may read copyrighted text (researchers and curators)."""
    return _has(user, VIEW_FULL_TEXT)


def sees_unreviewed(user) -> bool:
    """Whether ``user`` sees documents in every status and unconfirmed agency links."""
    return _has(user, VIEW_UNREVIEWED)


def can_submit_documents(user) -> bool:
    return _has(user, SUBMIT_DOCUMENT)


def can_annotate(user) -> bool:
    return _has(user, ANNOTATE)


def can_moderate_annotations(user) -> bool:
    return _has(user, MODERATE_ANNOTATIONS)


def can_keep_alerts(user) -> bool:
    """Whether ``user`` may watch agencies and save searches with alerts (every role)."""
    return _has(user, KEEP_ALERTS)


def can_invite(user) -> bool:
    """Whether ``user`` may invite researchers by e-mail (curators)."""
    return _has(user, INVITE_RESEARCHERS)


def can_answer_access_requests(user) -> bool:
    return _has(user, ANSWER_ACCESS_REQUESTS)


def can_curate(user) -> bool:
    """Whether the admin has work for ``user``: a staff account holding some permission.

    ``is_staff`` only opens the admin's door; what a curator or administrator
    sees and changes there comes from their role's permissions, so a staff
    account without any is refused the admin like the public.
    """
    return _signed_in(user) and user.is_staff and bool(user.get_all_permissions())


# --- Documents ------------------------------------------------------------------


def visible_documents(user, queryset: QuerySet[Document] | None = None) -> QuerySet[Document]:
    """The documents ``user`` may see: published ones, their own submissions, or all.

    A researcher follows the processing of what they submitted before a
    curator publishes it; curators see every status.
    """
    queryset = Document.objects.all() if queryset is None else queryset
    if sees_unreviewed(user):
        return queryset
    published = Q(status=Document.Status.PUBLISHED)
    if _signed_in(user):
        return queryset.filter(published | Q(submitted_by=user))
    return queryset.filter(published)


def public_documents(queryset: QuerySet[Document] | None = None) -> QuerySet[Document]:
    """What everyone may see, whoever asks (the front page, caches shared by all)."""
    return visible_documents(None, queryset)


def can_view(user, document: Document) -> bool:
    """:func:`visible_documents` for one document already in memory."""
    if document.status == Document.Status.PUBLISHED or sees_unreviewed(user):
        return True
    return _signed_in(user) and document.submitted_by_id == user.pk


def text_is_public(document: Document) -> bool:
    return document.rights in PUBLIC_TEXT_RIGHTS


def can_read_text(user, document: Document) -> bool:
    """Public-domain and openly licensed text is public; copyrighted text needs the permission."""
    return text_is_public(document) or reads_full_text(user)


def can_download_file(user, document: Document) -> bool:
    """The original file follows the text: it holds every word of it."""
    return bool(document.file) and can_view(user, document) and can_read_text(user, document)


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The start of ``text``, cut at a word, for readers who may not see it all."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + "…"


def public_excerpt(document: Document) -> str:
    """What everyone may read of a document: its curator summary, else the start of its text."""
    return document.summary or excerpt(document.text)


def readable_text(user, document: Document) -> str | None:
    """The whole text for a reader allowed it, else None (show :func:`public_excerpt`)."""
    return document.text if can_read_text(user, document) else None


# --- Annotations ------------------------------------------------------------------


def _in_note_groups(user) -> Q:
    # A subquery on the through table, so a reader in two of the note's groups gets it once.
    return Q(
        visibility=Annotation.Visibility.GROUPS,
        pk__in=Annotation.groups.through.objects.filter(group__user=user).values("annotation_id"),
    )


def annotation_audience(user) -> Q:
    """Which notes ``user`` may read, whatever the document.

    A private note is its author's alone, curators included. Notes shared with
    researchers are read by everyone who may annotate; notes shared with groups
    by the members of those groups. A public note reaches
    the public only once a curator approves it; until then (and after a flag
    sends it back to the queue) only those who may annotate read it.
    """
    approved_public = Q(visibility=Annotation.Visibility.PUBLIC, review=Annotation.Review.APPROVED)
    if not _signed_in(user):
        return approved_public
    own = Q(author=user)
    in_group = _in_note_groups(user)
    if can_annotate(user):
        shared = Q(
            visibility__in=[Annotation.Visibility.RESEARCHERS, Annotation.Visibility.PUBLIC]
        ) & ~Q(review=Annotation.Review.REJECTED)
        return own | shared | in_group | approved_public
    return own | in_group | approved_public


def shareable_groups(user):
    """The groups ``user`` may share a note with: their own, never a role group."""
    if not _signed_in(user):
        return Group.objects.none()
    return user.groups.exclude(name__in=ROLE_GROUPS).order_by("name")


def visible_annotations(user, queryset: QuerySet[Annotation] | None = None) -> QuerySet[Annotation]:
    """The notes ``user`` may read, on documents ``user`` may see."""
    queryset = Annotation.objects.all() if queryset is None else queryset
    documents = visible_documents(user).values("pk")
    return queryset.filter(annotation_audience(user), document__in=documents)


def can_view_annotation(user, annotation: Annotation) -> bool:
    """:func:`visible_annotations` for one note whose document is known to be visible."""
    return Annotation.objects.filter(annotation_audience(user), pk=annotation.pk).exists()


def annotations_kept_from(user) -> Q:
    """The notes no page shows ``user``, the admin included: other people's private notes,
    and notes shared with groups ``user`` is not in."""
    kept = Q(visibility=Annotation.Visibility.PRIVATE) | (
        Q(visibility=Annotation.Visibility.GROUPS) & ~_in_note_groups(user)
    )
    return kept & ~Q(author_id=user.pk)


def can_edit_annotation(user, annotation: Annotation) -> bool:
    """Only its author changes or deletes a note, and only while allowed to annotate."""
    return can_annotate(user) and annotation.author_id == user.pk


def can_flag_annotation(user, annotation: Annotation) -> bool:
    """Anyone signed in may flag a shared note they can read, except its author."""
    return (
        _signed_in(user)
        and annotation.author_id != user.pk
        and annotation.visibility != Annotation.Visibility.PRIVATE
    )


def annotation_quote(user, annotation: Annotation) -> str:
    """The passage a note is on, no longer than the public excerpt for readers
    who may not read the document's text."""
    if can_read_text(user, annotation.document):
        return annotation.exact
    return excerpt(annotation.exact)


# --- Collections ------------------------------------------------------------------


def can_keep_collections(user) -> bool:
    return _has(user, KEEP_COLLECTIONS)


def collection_audience(user) -> Q:
    """Public collections for everyone; their own and those shared with them for the signed-in.

    A public collection is reached by its link; it is listed only to its owner.
    """
    public = Q(visibility=Collection.Visibility.PUBLIC)
    if not _signed_in(user):
        return public
    shared = Q(visibility=Collection.Visibility.SHARED, shared_with=user)
    return public | Q(owner=user) | shared


def visible_collections(user, queryset: QuerySet[Collection] | None = None) -> QuerySet:
    """The collections ``user`` may read (their items are then filtered by
    :func:`visible_documents`: a collection never shows a document its reader may not see)."""
    queryset = Collection.objects.all() if queryset is None else queryset
    return queryset.filter(collection_audience(user)).distinct()


def can_view_collection(user, collection: Collection) -> bool:
    if collection.visibility == Collection.Visibility.PUBLIC:
        return True
    if not _signed_in(user):
        return False
    if collection.owner_id == user.pk:
        return True
    return (
        collection.visibility == Collection.Visibility.SHARED
        and collection.shared_with.filter(pk=user.pk).exists()
    )


def can_edit_collection(user, collection: Collection) -> bool:
    """Only its owner changes a collection, and only while allowed to keep collections."""
    return can_keep_collections(user) and collection.owner_id == user.pk


# --- Links to agencies ----------------------------------------------------------


def agency_link_statuses(user) -> tuple[str, ...]:
    """Which agency links ``user`` sees: confirmed ones, and open suggestions for curators."""
    if sees_unreviewed(user):
        return (DocumentAgency.Status.CONFIRMED, DocumentAgency.Status.SUGGESTED)
    return (DocumentAgency.Status.CONFIRMED,)


def visible_agency_links(user, links: Iterable[DocumentAgency]) -> list[DocumentAgency]:
    statuses = agency_link_statuses(user)
    return [link for link in links if link.status in statuses]


# --- Search -----------------------------------------------------------------------


@dataclass(frozen=True)
class SearchScope:
    """What search may match, count and quote for one user.

    A reader without :data:`VIEW_FULL_TEXT` searches a copyrighted document
    only by its title and summary, and its snippet is taken from
    :func:`public_excerpt`: the words deep in its text neither match nor
    show, so hits and facet counts agree and reveal nothing of the text.
    """

    every_status: bool
    # Unpublished documents this user may see all the same (their submissions).
    document_ids: frozenset[int]
    full_text: bool

    def may_quote_text(self, rights: str) -> bool:
        return self.full_text or rights in PUBLIC_TEXT_RIGHTS


def published_search_scope(user) -> SearchScope:
    """The :class:`SearchScope` of ``user`` over published documents only (no query of its own).

    Alerts match only published documents, which every reader sees: what
    differs between readers there is whether they search the full text.
    """
    return SearchScope(
        every_status=sees_unreviewed(user),
        document_ids=frozenset(),
        full_text=reads_full_text(user),
    )


def own_unpublished_query(user) -> tuple[str, list] | None:
    """(SQL, parameters) selecting the ids of the documents ``user`` submitted that are
    not published yet, which their search may find all the same; None when there is
    nothing to ask (no reader signed in, or one who sees every status).

    Search reads it in its first statement (``SearchBackend.search_state``), so it
    is plain SQL.
    """
    if not _signed_in(user) or sees_unreviewed(user):
        return None
    table, submitted_by, status = (
        Document._meta.db_table,
        Document._meta.get_field("submitted_by").column,
        Document._meta.get_field("status").column,
    )
    return (
        f"SELECT id FROM {table} WHERE {submitted_by} = %s AND {status} <> %s",  # noqa: S608
        [user.pk, Document.Status.PUBLISHED],
    )


def search_scope(user, own_unpublished: Iterable[int] | None) -> SearchScope:
    """The :class:`SearchScope` of ``user``; ``own_unpublished``: the ids
    :func:`own_unpublished_query` selects (None where it asks nothing)."""
    return SearchScope(
        every_status=sees_unreviewed(user),
        document_ids=frozenset(own_unpublished or ()),
        full_text=reads_full_text(user),
    )
