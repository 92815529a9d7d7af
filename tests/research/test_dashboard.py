"""The dashboard (/me/): one's collections, submissions with their status, notes (orphans
flagged with their quote) and tokens, never anyone else's; and submitting in the browser."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from portal.tokens import token_create
from research.models import Annotation, Collection, Document, SavedSearch
from tests.research.factories import (
    AnnotationFactory,
    CollectionFactory,
    DocumentFactory,
    ResearcherFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

ARTICLE = (Path(__file__).parent / "data" / "article_287g.html").read_bytes()


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_dashboard_asks_the_anonymous_to_log_in():
    response = Client().get("/me/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/me/")


def test_the_header_links_to_the_dashboard_for_the_signed_in():
    assert 'href="/me/"' in signed_in(ResearcherFactory()).get("/").content.decode()
    assert 'href="/me/"' not in Client().get("/").content.decode()


def test_the_dashboard_shows_what_one_keeps_and_nothing_of_others():
    me, other = ResearcherFactory(), ResearcherFactory()
    CollectionFactory(owner=me, title="My reading list")
    CollectionFactory(owner=other, title="Their secret list")
    DocumentFactory(
        title="My failed submission",
        submitted_by=me,
        status=Document.Status.FAILED,
        status_message="The server answered 404: the page is gone.",
    )
    DocumentFactory(title="Their submission", submitted_by=other, status=Document.Status.QUEUED)
    token_create(user=me, name="my laptop")
    token_create(user=other, name="their server")
    page = signed_in(me).get("/me/").content.decode()
    assert "My reading list" in page
    assert "My failed submission" in page
    assert "Failed" in page
    assert "The server answered 404: the page is gone." in page
    assert "my laptop" in page
    for theirs in ("Their secret list", "Their submission", "their server"):
        assert theirs not in page


def test_orphaned_notes_are_flagged_with_their_quote():
    me = ResearcherFactory()
    document = DocumentFactory(text="At booking, deputies screen everyone for status.")
    AnnotationFactory(author=me, document=document, body="Still anchored.")
    AnnotationFactory(
        author=me,
        document=document,
        anchor=Annotation.Anchor.ORPHANED,
        exact="a passage the new text dropped",
    )
    AnnotationFactory(document=document, exact="someone else's passage")
    page = signed_in(me).get("/me/").content.decode()
    assert page.count("Passage not found") == 1
    assert "a passage the new text dropped" in page
    orphan = page.index("a passage the new text dropped")
    assert page.rfind("Passage not found", 0, orphan) != -1
    assert "deputies screen" in page
    assert "someone else&#x27;s passage" not in page


def test_the_dashboard_lists_my_watches_and_saved_searches_with_their_last_delivery():
    from research.services import alerts

    me = ResearcherFactory()
    alerts.watch_create(user=me, scope="state", state="TX", changes=["signed"])
    saved = alerts.saved_search_create(user=me, name="Texas jails", search="jail")
    SavedSearch.objects.filter(pk=saved.pk).update(paused_note="Paused: too many.")
    alerts.watch_create(user=ResearcherFactory(), scope="state", state="GA", changes=["signed"])
    page = signed_in(me).get("/me/").content.decode()
    assert 'id="watches"' in page and 'id="searches"' in page
    assert "State TX" in page and "State GA" not in page
    assert "Texas jails" in page and "Paused: too many." in page
    assert page.count("nothing sent yet") == 2
    # An account that may not keep alerts has no such sections.
    page = signed_in(UserFactory(is_staff=True)).get("/me/").content.decode()
    assert 'id="watches"' not in page
    assert 'id="collections"' in page


def test_a_collection_shared_with_me_is_on_my_dashboard():
    me = ResearcherFactory()
    shared = CollectionFactory(
        title="Shared by a colleague", visibility=Collection.Visibility.SHARED
    )
    shared.shared_with.add(me)
    CollectionFactory(title="Not shared", visibility=Collection.Visibility.SHARED)
    page = signed_in(me).get("/me/").content.decode()
    assert "Shared by a colleague" in page
    assert "Not shared" not in page


# --- Submitting in the browser ----------------------------------------------------


def test_a_researcher_submits_a_file_and_follows_its_status(django_capture_on_commit_callbacks):
    me = ResearcherFactory()
    client = signed_in(me)
    upload = SimpleUploadedFile("sheriff.html", ARTICLE, content_type="text/html")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/me/submit/", {"file": upload, "kind": "news"})
    assert response.status_code == 302
    assert response["Location"] == "/me/#submissions"
    document = Document.objects.get(submitted_by=me)
    assert document.status == Document.Status.NEEDS_REVIEW  # a curator still publishes
    page = client.get("/me/").content.decode()
    assert "Needs review" in page
    assert str(document) in page


def test_a_submitted_address_is_queued_and_shown_as_queued():
    me = ResearcherFactory()
    client = signed_in(me)
    response = client.post("/me/submit/", {"url": "https://news.example.org/287g-story"})
    assert response.status_code == 302
    document = Document.objects.get(submitted_by=me)
    assert document.status == Document.Status.QUEUED
    assert "Queued" in client.get("/me/").content.decode()


@pytest.mark.parametrize(
    ("data", "sentence"),
    [
        ({"url": "ftp://example.org/file"}, "is not a web address"),
        ({}, "Give a web address or choose a file to submit."),
        (
            {"url": "https://example.org/a", "file": "x"},
            "Give a web address or a file, not both.",
        ),
    ],
)
def test_a_submission_that_cannot_be_a_document_is_refused_with_a_sentence(data, sentence):
    if "file" in data:
        data = {**data, "file": SimpleUploadedFile("a.html", b"<p>x</p>")}
    response = signed_in(ResearcherFactory()).post("/me/submit/", data)
    assert response.status_code == 400
    assert sentence in response.content.decode()
    assert not Document.objects.exists()


def test_an_empty_file_is_refused_by_the_service(settings):
    response = signed_in(ResearcherFactory()).post(
        "/me/submit/", {"file": SimpleUploadedFile("empty.pdf", b"")}
    )
    assert response.status_code == 400
    assert not Document.objects.exists()


def test_a_file_over_the_limit_is_refused(settings):
    settings.FETCH_MAX_BYTES = 100
    response = signed_in(ResearcherFactory()).post(
        "/me/submit/", {"file": SimpleUploadedFile("big.html", b"x" * 101)}
    )
    assert response.status_code == 400
    assert "larger than the 100 bytes the portal accepts" in response.content.decode()
    assert not Document.objects.exists()


def test_someone_elses_unpublished_address_is_not_revealed():
    owner = ResearcherFactory()
    client = signed_in(owner)
    client.post("/me/submit/", {"url": "https://news.example.org/held"})
    response = signed_in(ResearcherFactory()).post(
        "/me/submit/", {"url": "https://news.example.org/held"}
    )
    assert response.status_code == 400
    assert "already in the portal, but not published" in response.content.decode()
    assert Document.objects.count() == 1


def test_an_account_without_a_role_may_not_submit():
    client = signed_in(UserFactory())
    assert client.get("/me/submit/").status_code == 403
    assert client.post("/me/submit/", {"url": "https://example.org/x"}).status_code == 403
    assert not Document.objects.exists()
    assert "Submit a document" not in client.get("/me/").content.decode()
