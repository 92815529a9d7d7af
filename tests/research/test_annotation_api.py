"""The notes API: what each reader sees, what only authors may write, and forged fields."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from research.models import Annotation, Document

from .factories import (
    AnnotationFactory,
    CuratorFactory,
    DocumentFactory,
    ResearcherFactory,
    TagFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

LIST = "/api/v1/annotations/"
TEXT = "The sheriff said the agreement lets deputies screen people booked into the jail."


def client_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def bodies(response) -> list[str]:
    assert response.status_code == 200, response.content
    return sorted(
        item["body"][0]["value"] if item["body"] else "" for item in response.json()["results"]
    )


def detail(note: Annotation) -> str:
    return f"{LIST}{note.uuid}/"


@pytest.fixture
def notes():
    author, other = ResearcherFactory(), ResearcherFactory()
    document = DocumentFactory(rights=Document.Rights.PUBLIC_DOMAIN)

    def note(body, visibility, review=Annotation.Review.PENDING, **fields):
        return AnnotationFactory(
            document=document,
            author=author,
            body=body,
            visibility=visibility,
            review=review,
            **fields,
        )

    return {
        "author": author,
        "other": other,
        "document": document,
        "private": note("private", Annotation.Visibility.PRIVATE),
        "shared": note("shared", Annotation.Visibility.RESEARCHERS),
        "waiting": note("public waiting", Annotation.Visibility.PUBLIC),
        "approved": note(
            "public approved", Annotation.Visibility.PUBLIC, Annotation.Review.APPROVED
        ),
    }


def test_each_reader_sees_the_notes_the_pages_show(notes):
    assert bodies(client_for().get(LIST)) == ["public approved"]
    assert bodies(client_for(UserFactory()).get(LIST)) == ["public approved"]
    assert bodies(client_for(notes["author"]).get(LIST)) == [
        "private",
        "public approved",
        "public waiting",
        "shared",
    ]
    assert bodies(client_for(notes["other"]).get(LIST)) == [
        "public approved",
        "public waiting",
        "shared",
    ]
    # A private note is its author's alone, curators included.
    assert bodies(client_for(CuratorFactory()).get(LIST)) == [
        "public approved",
        "public waiting",
        "shared",
    ]


def test_a_note_nobody_may_see_is_not_found(notes):
    assert client_for().get(detail(notes["shared"])).status_code == 404
    assert client_for(notes["other"]).get(detail(notes["private"])).status_code == 404
    assert client_for(notes["author"]).get(detail(notes["private"])).status_code == 200


def test_notes_on_an_unpublished_document_follow_the_document():
    hidden = DocumentFactory(status=Document.Status.NEEDS_REVIEW)
    AnnotationFactory(document=hidden, visibility="public", review="approved", body="on a draft")
    assert bodies(client_for().get(LIST)) == []
    assert bodies(client_for(ResearcherFactory()).get(LIST)) == []


def test_a_note_reads_as_a_w3c_web_annotation(notes):
    tag = TagFactory(name="Jail model")
    note = notes["approved"]
    note.tags.add(tag)
    body = client_for().get(detail(note)).json()

    assert body["@context"][0] == "http://www.w3.org/ns/anno.jsonld"
    assert body["type"] == "Annotation"
    assert body["id"] == f"http://testserver/api/v1/annotations/{note.uuid}/"
    assert body["creator"]["nickname"] == notes["author"].username
    assert body["body"] == [
        {"type": "TextualBody", "format": "text/markdown", "value": "public approved"},
        {"type": "TextualBody", "purpose": "tagging", "value": "Jail model"},
    ]
    target = body["target"]
    assert target["source"] == notes["document"].canonical_url
    assert target["state"]["cached"] == f"http://testserver/documents/{notes['document'].pk}/"
    quote, position = target["selector"]
    assert quote == {
        "type": "TextQuoteSelector",
        "exact": "deputies screen",
        "prefix": "The sheriff said the agreement lets "[-32:],
        "suffix": " people booked into the jail.",
    }
    assert position == {"type": "TextPositionSelector", "start": note.start, "end": note.end}
    assert body["portal:visibility"] == "public"


def test_a_pdf_note_names_its_page():
    document = DocumentFactory(text="Page one.\fPage two has the clause.", page_offsets=[0, 10])
    note = AnnotationFactory(document=document, start=14, end=17, page=2)
    selectors = client_for(note.author).get(detail(note)).json()["target"]["selector"]
    assert selectors[-1] == {
        "type": "FragmentSelector",
        "conformsTo": "http://tools.ietf.org/rfc/rfc3778",
        "value": "page=2",
    }


def test_readers_without_the_text_get_an_excerpt_of_the_quote_and_no_context():
    long_quote = "deputies screen " * 40
    document = DocumentFactory(text=f"Before. {long_quote}After.")
    note = AnnotationFactory(
        document=document,
        start=8,
        end=8 + len(long_quote),
        visibility="public",
        review="approved",
    )
    quote = client_for().get(detail(note)).json()["target"]["selector"][0]
    assert len(quote["exact"]) < 310
    assert "prefix" not in quote and "suffix" not in quote


def test_filters_by_document_tag_and_author(notes):
    tag = TagFactory(name="Jails")
    notes["shared"].tags.add(tag)
    elsewhere = AnnotationFactory(visibility="researchers", body="elsewhere")
    reader = client_for(notes["other"])

    assert bodies(reader.get(LIST, {"document": notes["document"].pk})) == [
        "public approved",
        "public waiting",
        "shared",
    ]
    assert bodies(reader.get(LIST, {"tag": "jails"})) == ["shared"]
    assert bodies(reader.get(LIST, {"author": elsewhere.author.username})) == ["elsewhere"]
    assert reader.get(LIST, {"document": "x"}).status_code == 400


# --- Writing -----------------------------------------------------------------------------


def test_a_researcher_writes_a_note_through_the_api():
    document = DocumentFactory(text=TEXT)
    TagFactory(name="Jails")
    researcher = ResearcherFactory()
    response = client_for(researcher).post(
        LIST,
        {
            "document": document.pk,
            "start": 36,
            "end": 51,
            "exact": "deputies screen",
            "body": "**Screening** at booking.",
            "tags": ["jails"],
            "visibility": "public",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    note = Annotation.objects.get()
    assert (note.author, note.exact, note.review) == (researcher, "deputies screen", "pending")
    assert [t.name for t in note.tags.all()] == ["Jails"]
    assert response.json()["id"].endswith(f"/api/v1/annotations/{note.uuid}/")


@pytest.mark.parametrize(
    "forged",
    [
        {"author": 1},
        {"creator": {"nickname": "someone"}},
        {"review": "approved"},
        {"anchor": "anchored"},
        {"text_sha256": "0" * 64},
        {"id": "https://elsewhere.example/a/1"},
    ],
)
def test_forged_fields_are_refused_and_nothing_is_written(forged):
    document = DocumentFactory(text=TEXT)
    response = client_for(ResearcherFactory()).post(
        LIST, {"document": document.pk, "start": 36, "end": 51, **forged}, format="json"
    )
    assert response.status_code == 400
    (field,) = forged
    assert response.json()[field] == ["The portal sets this field: leave it out."]
    assert not Annotation.objects.exists()


def test_the_services_refusals_come_back_field_by_field():
    document = DocumentFactory(text=TEXT)
    response = client_for(ResearcherFactory()).post(
        LIST,
        {"document": document.pk, "start": 36, "end": 51, "exact": "other words", "tags": ["nope"]},
        format="json",
    )
    assert response.status_code == 400
    assert "reload the page and select again" in response.json()["selection"][0]
    assert not Annotation.objects.exists()

    response = client_for(ResearcherFactory()).post(
        LIST, {"document": document.pk, "start": 36, "end": 51, "tags": ["nope"]}, format="json"
    )
    assert response.json() == {
        "tags": ["Unknown tag: nope. Notes take the portal's tags; a curator can add one."]
    }


def test_a_document_one_may_not_see_is_refused():
    draft = DocumentFactory(text=TEXT, status=Document.Status.NEEDS_REVIEW)
    response = client_for(ResearcherFactory()).post(
        LIST, {"document": draft.pk, "start": 36, "end": 51}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"document": ["There is no document with this id that you may see."]}


def test_the_public_and_accounts_without_a_role_may_not_write():
    document = DocumentFactory(text=TEXT)
    data = {"document": document.pk, "start": 36, "end": 51}
    assert client_for().post(LIST, data, format="json").status_code == 403
    refused = client_for(UserFactory()).post(LIST, data, format="json")
    assert refused.status_code == 403
    assert "Only researchers and curators may write notes" in refused.json()["detail"]
    assert not Annotation.objects.exists()


def test_the_author_changes_and_deletes_their_note(notes):
    author = client_for(notes["author"])
    note = notes["approved"]

    response = author.patch(detail(note), {"body": "Reworded."}, format="json")
    assert response.status_code == 200, response.content
    note.refresh_from_db()
    assert note.body == "Reworded."
    assert note.review == Annotation.Review.PENDING  # back to the curators' queue

    TagFactory(name="Jails")
    tagged = author.patch(detail(note), {"tags": ["jails"]}, format="json").json()
    assert tagged["body"][-1] == {"type": "TextualBody", "purpose": "tagging", "value": "Jails"}

    assert author.put(detail(note), {"visibility": "private"}, format="json").status_code == 200
    note.refresh_from_db()
    assert (note.body, note.visibility) == ("Reworded.", "private")

    assert author.delete(detail(note)).status_code == 204
    assert not Annotation.objects.filter(pk=note.pk).exists()


def test_someone_elses_note_is_refused_with_a_sentence(notes):
    other = client_for(notes["other"])
    shared = notes["shared"]

    response = other.patch(detail(shared), {"body": "Mine now."}, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": "Only the note's author may change or delete it."}
    assert other.delete(detail(shared)).status_code == 403
    # A private note of someone else is not even found.
    assert other.delete(detail(notes["private"])).status_code == 404
    shared.refresh_from_db()
    assert shared.body == "shared"
    assert Annotation.objects.count() == 4


def test_a_note_stays_on_its_passage_and_its_review_is_the_curators(notes):
    author = client_for(notes["author"])
    note = notes["waiting"]

    moved = author.patch(detail(note), {"start": 0, "end": 3}, format="json")
    approved = author.patch(detail(note), {"review": "approved"}, format="json")

    assert moved.status_code == 400
    assert "delete it and select the passage again" in moved.json()["start"][0]
    assert approved.json() == {"review": ["The portal sets this field: leave it out."]}
    note.refresh_from_db()
    assert (note.start, note.review) == (36, "pending")


def test_a_page_of_notes_takes_the_same_queries_whatever_its_length():
    document = DocumentFactory()
    tag = TagFactory()
    reader = client_for(ResearcherFactory())

    def queries_with(count: int) -> int:
        for _ in range(count):
            AnnotationFactory(document=document, visibility="researchers").tags.add(tag)
        with CaptureQueriesContext(connection) as captured:
            assert reader.get(LIST).status_code == 200
        return len(captured)

    queries_with(0)  # the reader's permissions, read once
    assert queries_with(2) == queries_with(10)


def test_a_note_shared_with_groups_through_the_api_names_them_and_reaches_members_only():
    document = DocumentFactory(text=TEXT)
    author, teammate, outsider = ResearcherFactory(), ResearcherFactory(), ResearcherFactory()
    team, other = Group.objects.create(name="Jail team"), Group.objects.create(name="Other")
    author.groups.add(team)
    teammate.groups.add(team)
    written = {"document": document.pk, "start": 36, "end": 51, "visibility": "groups"}

    refused = client_for(author).post(LIST, {**written, "groups": ["Other"]}, format="json")
    assert refused.status_code == 400
    assert refused.json()["groups"][0].startswith("You are not in Other.")
    refused = client_for(author).post(LIST, {**written, "groups": ["Researchers"]}, format="json")
    assert "is a role, not a group" in refused.json()["groups"][0]
    assert not Annotation.objects.exists()

    response = client_for(author).post(LIST, {**written, "groups": ["Jail team"]}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["portal:groups"] == ["Jail team"]
    note = Annotation.objects.get()
    assert client_for(teammate).get(detail(note)).json()["portal:groups"] == ["Jail team"]
    assert client_for(outsider).get(detail(note)).status_code == 404
    assert client_for().get(detail(note)).status_code == 404

    changed = client_for(author).patch(detail(note), {"groups": [other.name]}, format="json")
    assert changed.status_code == 400
    assert list(note.groups.all()) == [team]
    changed = client_for(author).patch(detail(note), {"visibility": "private"}, format="json")
    assert changed.status_code == 200
    assert client_for(teammate).get(detail(note)).status_code == 404
