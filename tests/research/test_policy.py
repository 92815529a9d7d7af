"""What each role sees of each document, on every surface that shows documents.

One table: every role (anonymous, researcher, the submitting researcher,
curator, administrator, a staff account with no permission) × every status ×
every rights value × every surface (document page, API list and detail, search
hits, snippets and facet counts on the page and the API, the Atom feed, the CSV
and JSON downloads, the original file, the agency template tag). Each text
holds a distinctive word far beyond its public excerpt: whoever may not read
the whole text must never receive it, from any surface.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, Group
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.template import Context, Template
from django.test import Client, RequestFactory
from django.utils import timezone

from research import policy
from research.models import Annotation, Collection, Document
from research.search import search

from .factories import (
    AdministratorFactory,
    AgencyFactory,
    CollectionFactory,
    CollectionItemFactory,
    CuratorFactory,
    DocumentAgencyFactory,
    DocumentFactory,
    ResearcherFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "researcher", "submitter", "curator", "administrator", "staff_no_perms"]
# Roles that see every status, and roles that read copyrighted text.
SEES_ALL = {"curator", "administrator"}
READS_ALL = {"researcher", "submitter", "curator", "administrator"}
CASES = list(itertools.product(Document.Status.values, Document.Rights.values))
LEDE = "The county commission voted on the agreement with ICE after a long public hearing."
FILLER = " ".join(f"paragraph{i} of the reporting continues here." for i in range(150))


def deep_word(index: int) -> str:
    """A word that occurs only deep in document ``index``'s text."""
    return f"zephyrdeep{index}x"


def head_word(index: int) -> str:
    """A word of document ``index``'s title: public wherever the document is."""
    return f"headline{index}q"


@pytest.fixture
def world(settings, tmp_path):
    """The users of every role and one document of each status and rights, all submitted
    by the submitter and linked to one agency."""
    settings.MEDIA_ROOT = tmp_path
    submitter = ResearcherFactory()
    users = {
        "anonymous": None,
        "researcher": ResearcherFactory(),
        "submitter": submitter,
        "curator": CuratorFactory(),
        "administrator": AdministratorFactory(),
        "staff_no_perms": UserFactory(is_staff=True),
    }
    agency = AgencyFactory()
    documents = []
    for index, (status, rights) in enumerate(CASES):
        text = f"{LEDE} {FILLER} {deep_word(index)} closes the article."
        document = DocumentFactory(
            title=f"Sheriff story {head_word(index)}",
            status=status,
            rights=rights,
            text=text,
            submitted_by=submitter,
            status_changed_at=timezone.now(),
        )
        document.file.save(f"story-{index}.txt", ContentFile(text.encode()))
        document.content_type = "text/plain"
        document.save()
        DocumentAgencyFactory(document=document, agency=agency, status="confirmed")
        documents.append(document)
    assert deep_word(0) not in policy.public_excerpt(documents[0])
    return {"users": users, "documents": documents, "agency": agency}


def client_for(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def expected(role: str, document: Document) -> tuple[bool, bool]:
    """(sees the document, reads its whole text) for ``role``: the table."""
    sees = document.status == Document.Status.PUBLISHED or role in SEES_ALL or role == "submitter"
    reads = sees and (document.rights != Document.Rights.COPYRIGHTED or role in READS_ALL)
    return sees, reads


def body(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def words_beyond_excerpt(text: str, document: Document) -> set[str]:
    """The words of ``text`` (a snippet) that the document's public excerpt lacks."""
    plain = re.sub(r"</?mark>", "", text).replace("…", " ")
    allowed = set(re.findall(r"\w+", policy.public_excerpt(document).lower()))
    return set(re.findall(r"\w+", plain.lower())) - allowed


def each_document(world, role):
    for index, document in enumerate(world["documents"]):
        sees, reads = expected(role, document)
        yield index, document, sees, reads


# --- The surfaces -----------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_document_page(world, role):
    client = client_for(world["users"][role])
    for index, document, sees, reads in each_document(world, role):
        response = client.get(f"/documents/{document.pk}/")
        assert response.status_code == (200 if sees else 404), (role, document.status)
        if sees:
            page = body(response)
            assert (deep_word(index) in page) == reads, (role, document.status, document.rights)
            assert head_word(index) in page


@pytest.mark.parametrize("role", ROLES)
def test_original_file(world, role):
    client = client_for(world["users"][role])
    for index, document, _sees, reads in each_document(world, role):
        response = client.get(f"/documents/{document.pk}/file/")
        assert response.status_code == (200 if reads else 404), (role, document.status)
        if reads:
            assert deep_word(index) in body(response)


@pytest.mark.parametrize("role", ROLES)
def test_api_detail_and_list(world, role):
    client = client_for(world["users"][role])
    listed = body(client.get("/api/v1/documents/", {"page_size": 100}))
    listed_ids = {item["id"] for item in json.loads(listed)["results"]}
    for index, document, sees, reads in each_document(world, role):
        assert (document.pk in listed_ids) == sees, (role, document.status)
        assert deep_word(index) not in listed  # the list shows excerpts only
        response = client.get(f"/api/v1/documents/{document.pk}/")
        assert response.status_code == (200 if sees else 404), (role, document.status)
        if sees:
            detail = response.json()
            assert (detail["text"] is not None) == reads
            assert (deep_word(index) in body(response)) == reads
            assert detail["excerpt"] == policy.public_excerpt(document)


@pytest.mark.parametrize("role", ROLES)
def test_search_hits_snippets_and_facet_counts(world, role):
    """A deep word matches only for readers of the whole text; the counts agree with
    the hits; a snippet never holds a word beyond the excerpt for the others."""
    client = client_for(world["users"][role])
    for index, document, sees, reads in each_document(world, role):
        # The third query matches a copyrighted head while naming its deep word, which
        # a snippet of the whole text would then quote.
        either = f"{head_word(index)} OR {deep_word(index)}"
        for word, found in ((head_word(index), sees), (deep_word(index), reads), (either, sees)):
            api = client.get("/api/v1/search/", {"q": word}).json()
            assert [hit["id"] for hit in api["results"]] == ([document.pk] if found else [])
            assert api["total"] == int(found), (role, word, document.status, document.rights)
            counts = {v["value"]: v["count"] for v in api["facets"]["type"]}
            assert counts == ({"document": 1} if found else {})
            assert sum(v["count"] for v in api["facets"]["kind"]) == int(found)
            page = body(client.get("/search/", {"q": word}))
            assert (f"/documents/{document.pk}/" in page) == found
            if found and not reads:
                (hit,) = api["results"]
                assert not words_beyond_excerpt(hit["snippet_html"], document), role
                # The page repeats the query itself (title, links): look for a quote.
                quoted = f"<mark>{deep_word(index)}</mark>" if word == either else deep_word(index)
                assert quoted not in page, role
    # Every document at once: the counts are the hits, the deep words are all absent.
    api = client.get("/api/v1/search/", {"q": "sheriff", "type": "document"}).json()
    shown = {hit["id"]: hit["snippet_html"] for hit in api["results"]}
    assert api["total"] == len(shown) == sum(sees for *_, sees, _r in each_document(world, role))
    for _index, document, _sees, reads in each_document(world, role):
        if document.pk in shown and not reads:
            assert not words_beyond_excerpt(shown[document.pk], document)


@pytest.mark.parametrize("role", ROLES)
def test_atom_feed(world, role):
    response = client_for(world["users"][role]).get("/documents/feed/")
    assert response["Content-Type"].startswith("application/atom+xml")
    feed = body(response)
    for index, document, sees, _reads in each_document(world, role):
        assert (head_word(index) in feed) == sees, (role, document.status)
        assert deep_word(index) not in feed  # entries carry the public excerpt


def exported_rows(client, fmt: str, query: str) -> str:
    """The rows of a search download (the JSON one repeats the query in its meta)."""
    exported = body(client.get("/search/", {"q": query, "format": fmt}))
    return exported if fmt == "csv" else json.dumps(json.loads(exported)["results"])


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_downloads(world, role, fmt):
    client = client_for(world["users"][role])
    listing = body(client.get("/documents/", {"format": fmt}))
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(listing.lstrip("\ufeff"))))
    else:
        rows = json.loads(listing)["results"]
    listed = {int(row["id"]) for row in rows}
    for index, document, sees, reads in each_document(world, role):
        assert (document.pk in listed) == sees, (role, fmt, document.status)
        assert deep_word(index) not in listing
        found = exported_rows(client, fmt, deep_word(index))
        assert (head_word(index) in found) == reads, (role, fmt, document.status)
        assert (deep_word(index) in found) <= reads
    hits = exported_rows(client, fmt, "sheriff")
    for index, _document, _sees, reads in each_document(world, role):
        assert (deep_word(index) in hits) <= reads


@pytest.mark.parametrize("role", ROLES)
def test_agency_template_tag(world, role):
    request = RequestFactory().get("/")
    request.user = world["users"][role] or AnonymousUser()
    template = Template("{% load research_pages %}{% agency_documents agency %}")
    html = template.render(Context({"request": request, "agency": world["agency"]}))
    for index, document, sees, _reads in each_document(world, role):
        assert (head_word(index) in html) == sees, (role, document.status)
        assert deep_word(index) not in html


# Who reads a collection of the submitter's: its owner, those it is shared with (the
# researcher), everyone when public; curators are no exception.
COLLECTION_READERS = {
    Collection.Visibility.PRIVATE: {"submitter"},
    Collection.Visibility.SHARED: {"submitter", "researcher"},
    Collection.Visibility.PUBLIC: set(ROLES),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("visibility", Collection.Visibility.values)
def test_collection_link_and_download(world, role, visibility):
    """A collection holding every document: read as its visibility says, and then only the
    documents the reader may see, never their text."""
    collection = CollectionFactory(owner=world["users"]["submitter"], visibility=visibility)
    collection.shared_with.add(world["users"]["researcher"])
    for position, document in enumerate(world["documents"]):
        CollectionItemFactory(collection=collection, document=document, position=position)
    client = client_for(world["users"][role])
    page = client.get(collection.get_absolute_url())
    download = client.get(f"{collection.get_absolute_url()}?format=csv")
    if role not in COLLECTION_READERS[visibility]:
        assert (page.status_code, download.status_code) == (404, 404)
        return
    html, csv_text = body(page), body(download)
    for index, document, sees, _reads in each_document(world, role):
        assert (head_word(index) in html) == sees, (role, document.status)
        assert (head_word(index) in csv_text) == sees, (role, document.status)
        assert deep_word(index) not in html + csv_text


# --- The rules behind the table -----------------------------------------------------


def test_staff_without_permission_sees_what_the_public_sees():
    staff = UserFactory(is_staff=True)
    hidden = DocumentFactory(status=Document.Status.NEEDS_REVIEW)
    copyrighted = DocumentFactory(rights=Document.Rights.COPYRIGHTED)
    assert list(policy.visible_documents(staff)) == [copyrighted]
    assert not policy.can_view(staff, hidden)
    assert not policy.can_read_text(staff, copyrighted)
    assert policy.agency_link_statuses(staff) == ("confirmed",)


def test_roles_hold_their_permissions():
    researcher, curator = ResearcherFactory(), CuratorFactory()
    administrator = AdministratorFactory()
    assert policy.reads_full_text(researcher) and policy.can_submit_documents(researcher)
    assert not policy.sees_unreviewed(researcher)
    assert policy.sees_unreviewed(curator) and policy.reads_full_text(curator)
    assert curator.has_perm("research.change_document") and not curator.is_superuser
    assert not curator.has_perm("auth.change_user")
    assert administrator.has_perm("auth.change_user") and policy.sees_unreviewed(administrator)
    assert not policy.can_invite(researcher) and not policy.can_answer_access_requests(researcher)
    for staff in (curator, administrator):
        assert policy.can_invite(staff) and policy.can_answer_access_requests(staff)
    assert all(policy.can_keep_collections(u) for u in (researcher, curator, administrator))
    assert not policy.can_keep_collections(UserFactory(is_staff=True))


@pytest.mark.parametrize("role", ROLES)
def test_alerts_are_kept_by_every_role_and_not_by_the_public(world, role):
    user = world["users"][role]
    assert policy.can_keep_alerts(user) == (role not in {"anonymous", "staff_no_perms"})


def test_alerts_match_published_documents_with_the_readers_own_text_rights(world):
    for role, user in world["users"].items():
        scope = policy.published_search_scope(user)
        assert scope.document_ids == frozenset()  # drafts are never alerted
        assert scope.full_text == (role in READS_ALL)


def test_demo_curator_is_a_curator_not_a_superuser():
    out = io.StringIO()
    call_command("create_demo_users", stdout=out)
    assert "username 'curator', password 'curator-287g'" in out.getvalue()
    assert "username 'researcher', password 'researcher-287g'" in out.getvalue()
    curator = get_user_model().objects.get(username="curator")
    assert curator.is_staff and not curator.is_superuser
    assert [group.name for group in curator.groups.all()] == [policy.CURATORS]
    client = Client()
    assert client.login(username="curator", password="curator-287g")
    assert client.get("/admin/research/document/").status_code == 200
    assert client.get("/admin/auth/user/").status_code == 403
    hidden = DocumentFactory(status=Document.Status.NEEDS_REVIEW)
    assert client.get(f"/documents/{hidden.pk}/").status_code == 200


def test_public_search_of_a_copyrighted_text_reads_its_title_and_summary_only():
    """Phrases and exclusions too: the words deep in the text do not exist for the public."""
    text = f"{LEDE} {FILLER} the hidden clause zephyrdeep says more."
    article = DocumentFactory(
        title="County signs jail pact", summary="A deal on the jail.", text=text
    )
    researcher = ResearcherFactory()

    def ids(query: str, user=None) -> list[int]:
        return [hit.id for hit in search(query, user=user, filters={"type": "document"}).hits]

    assert ids('"jail pact"') == ids("deal -zephyrdeep") == [article.pk]
    assert ids('"hidden clause"') == ids("zephyrdeep") == ids("jail -zephyrdeep", researcher) == []
    assert search("-zephyrdeep", filters={"type": "document"}).total == 1
    assert ids('"hidden clause"', researcher) == ids("zephyrdeep", researcher) == [article.pk]
    # A change of rights, however it is written, reaches the search arrays at once.
    Document.objects.filter(pk=article.pk).update(rights=Document.Rights.OPEN_LICENCE)
    assert ids("zephyrdeep") == [article.pk]
    assert "zephyrdeep" in search("zephyrdeep").hits[0].snippet


# --- Annotations ----------------------------------------------------------------------

NOTE_READERS = {"researcher", "curator", "administrator"}  # hold research.add_annotation


def _note_expected(role: str, visibility: str, review: str) -> bool:
    if role == "author":
        return True
    if visibility == "public" and review == "approved":
        return True
    if role == "member" and visibility == "groups":
        return True
    return (
        role in NOTE_READERS | {"member"}
        and visibility not in ("private", "groups")
        and review != "rejected"
    )


@pytest.mark.parametrize(
    ("visibility", "review"),
    list(itertools.product(Annotation.Visibility.values, Annotation.Review.values)),
)
def test_who_reads_a_note_by_visibility_and_review(visibility, review):
    from .factories import AnnotationFactory

    author = ResearcherFactory()
    users = {
        "author": author,
        "anonymous": None,
        "researcher": ResearcherFactory(),
        "curator": CuratorFactory(),
        "administrator": AdministratorFactory(),
        "staff_no_perms": UserFactory(is_staff=True),
        # In both of the note's groups: seen once, not twice.
        "member": ResearcherFactory(),
    }
    teams = [Group.objects.create(name="Team A"), Group.objects.create(name="Team B")]
    author.groups.add(*teams)
    users["member"].groups.add(*teams)
    note = AnnotationFactory(author=author, visibility=visibility, review=review)
    # Groups alone reveal nothing: only the "groups" visibility opens the note to them.
    note.groups.set(teams)
    seen = {role for role, user in users.items() if note in policy.visible_annotations(user)}
    assert seen == {role for role in users if _note_expected(role, visibility, review)}
    assert seen == {role for role, user in users.items() if policy.can_view_annotation(user, note)}
    assert all(list(policy.visible_annotations(user)).count(note) <= 1 for user in users.values())


def test_a_shared_note_on_an_unpublished_document_follows_the_document():
    from .factories import AnnotationFactory

    document = DocumentFactory(status=Document.Status.NEEDS_REVIEW)
    note = AnnotationFactory(document=document, visibility=Annotation.Visibility.RESEARCHERS)
    assert note not in policy.visible_annotations(ResearcherFactory())
    assert note in policy.visible_annotations(CuratorFactory())
