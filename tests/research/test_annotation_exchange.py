"""Exporting notes as W3C Web Annotations and importing them back, or from Hypothesis."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from research.canonical import url_key
from research.models import Annotation, DocumentURL
from research.services.annotation_exchange import (
    MAX_IMPORT_ANNOTATIONS,
    MAX_IMPORT_BYTES,
    MAX_JSON_DEPTH,
    annotations_import,
)
from research.services.annotations import annotate, update_annotation

from .factories import (
    DocumentFactory,
    ResearcherFactory,
    TagFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent / "data"
EXPORT = "/api/v1/annotations/export/"
IMPORT = "/api/v1/annotations/import/"
ARTICLE = (
    "HOUSTON — Harris County Sheriff's Office renewed its 287(g) agreement with Immigration "
    "and Customs Enforcement on Tuesday. Under the jail enforcement model, designated deputies "
    "screen people booked into the county jail for immigration status. Critics said the "
    "program erodes trust between immigrant communities and local police."
)
ARTICLE_URL = "https://news.example.org/2025/03/04/harris-county-287g-renewal"


def client_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def post_file(client: APIClient, raw: bytes, content_type: str = "application/ld+json"):
    return client.post(IMPORT, raw, content_type=content_type)


def note_state(note: Annotation) -> tuple:
    """What a reader of a note would notice."""
    return (
        note.uuid,
        note.document_id,
        note.author_id,
        note.body,
        sorted(t.name for t in note.tags.all()),
        note.visibility,
        note.motivation,
        note.exact,
        note.prefix,
        note.suffix,
        note.start,
        note.end,
    )


@pytest.fixture
def article():
    return DocumentFactory(title="Harris County renews", canonical_url=ARTICLE_URL, text=ARTICLE)


@pytest.fixture
def written(article):
    author = ResearcherFactory()
    TagFactory(name="Jails")
    notes = [
        annotate(
            article,
            author,
            start=ARTICLE.index("designated deputies"),
            end=ARTICLE.index("designated deputies") + len("designated deputies"),
            body="Who *designates* them?",
            tags=["Jails"],
            visibility="researchers",
            motivation="questioning",
        ),
        annotate(
            article,
            author,
            start=ARTICLE.index("erodes trust"),
            end=ARTICLE.index("erodes trust") + len("erodes trust"),
            visibility="public",
        ),
    ]
    return author, notes


# --- Export -------------------------------------------------------------------------------


def test_a_users_notes_export_as_a_w3c_collection(written):
    author, notes = written
    response = client_for(author).get(EXPORT)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/ld+json")
    collection = json.loads(response.content)
    assert collection["type"] == "AnnotationCollection"
    assert collection["@context"][0] == "http://www.w3.org/ns/anno.jsonld"
    assert collection["total"] == 2
    assert [item["id"].rsplit("/", 2)[-2] for item in collection["first"]["items"]] == [
        str(note.uuid) for note in notes
    ]


def test_only_ones_own_notes_are_exported(written):
    other = ResearcherFactory()
    body = json.loads(client_for(other).get(EXPORT).content)
    assert body["total"] == 0
    assert client_for().get(EXPORT).status_code == 403


def test_a_documents_notes_export_with_the_pages_visibility(written, article):
    url = f"/api/v1/documents/{article.pk}/annotations.jsonld"
    anonymous = client_for().get(url)
    researcher = client_for(ResearcherFactory()).get(url)

    assert anonymous.status_code == 200
    assert anonymous["Content-Type"].startswith("application/ld+json")
    assert json.loads(anonymous.content)["total"] == 0  # the public note is not approved yet
    assert json.loads(researcher.content)["total"] == 2
    assert client_for().get(f"/api/v1/documents/{article.pk}/annotations.json").json()["total"] == 0


def test_export_then_import_gives_the_same_notes(written):
    author, notes = written
    before = [note_state(note) for note in notes]
    exported = client_for(author).get(EXPORT).content
    Annotation.objects.all().delete()

    response = post_file(client_for(author), exported)

    assert response.status_code == 200, response.content
    assert response.json()["summary"] == "2 imported, 0 already here, 0 refused."
    assert [note_state(note) for note in Annotation.objects.order_by("start")] == before


def test_importing_the_same_file_again_writes_nothing_twice(written):
    author, notes = written
    exported = client_for(author).get(EXPORT).content

    again = post_file(client_for(author), exported).json()

    assert again["summary"] == "0 imported, 2 already here, 0 refused."
    assert Annotation.objects.count() == 2


def test_another_researcher_imports_a_copy_of_their_own_once(written, article):
    author, notes = written
    exported = client_for(author).get(f"/api/v1/documents/{article.pk}/annotations.jsonld").content
    reader = ResearcherFactory()

    first = post_file(client_for(reader), exported).json()
    second = post_file(client_for(reader), exported).json()

    assert first["summary"] == "2 imported, 0 already here, 0 refused."
    assert second["summary"] == "0 imported, 2 already here, 0 refused."
    copies = Annotation.objects.filter(author=reader)
    assert copies.count() == 2
    assert {note.uuid for note in copies}.isdisjoint({note.uuid for note in notes})
    assert Annotation.objects.filter(author=author).count() == 2


def test_a_quote_is_placed_again_on_changed_text(written, article):
    author, notes = written
    exported = client_for(author).get(EXPORT).content
    Annotation.objects.all().delete()
    article.text = "A paragraph added above the story.\n\n" + ARTICLE.replace(
        "erodes trust", "harms"
    )
    article.save()

    report = post_file(client_for(author), exported).json()

    assert report["summary"] == "1 imported, 0 already here, 1 refused."
    (refusal,) = report["refused"]
    assert refusal["item"] == 2
    assert "“erodes trust” is not in the document's text" in refusal["reason"]
    note = Annotation.objects.get()
    assert article.text[note.start : note.end] == "designated deputies"


def test_the_management_command_imports_a_file(written, tmp_path):
    author, notes = written
    exported = client_for(author).get(EXPORT).content
    Annotation.objects.all().delete()
    path = tmp_path / "notes.jsonld"
    path.write_bytes(exported)
    out = StringIO()

    call_command("import_annotations", str(path), "--user", author.username, stdout=out)

    assert "2 imported, 0 already here, 0 refused." in out.getvalue()
    assert Annotation.objects.filter(author=author).count() == 2
    with pytest.raises(CommandError, match="No user is named 'nobody'"):
        call_command("import_annotations", str(path), "--user", "nobody")


# --- Hypothesis ----------------------------------------------------------------------------


def test_a_hypothesis_export_imports_onto_the_document_at_its_address(article):
    TagFactory(name="Jails")
    reader = ResearcherFactory()
    raw = (DATA / "hypothesis_export.json").read_bytes()

    report = post_file(client_for(reader), raw, "application/json").json()

    assert report["summary"] == "2 imported, 0 already here, 3 refused."
    refused = {r["id"]: r for r in report["refused"]}
    assert "page note or a reply" in refused["eQ2fYNZyEe-7B8sLf6g0aQ"]["reason"]
    unknown = refused["k9P1ANZyEe-yd0d7Y2b9mw"]
    assert unknown["source"] == "https://www.example-gazette.com/local/polk-sheriff-287g"
    assert unknown["reason"].startswith("No document in the portal is at this address")
    assert "Unknown tag: Designation" in refused["p0Q2BNZyEe-4ZpG8a1m2Vg"]["reason"]

    comment, highlight = Annotation.objects.filter(author=reader).order_by("start")
    assert comment.exact == "deputies screen"
    assert ARTICLE[comment.start : comment.end] == "deputies screen"
    assert comment.body.startswith("The **jail model**")
    assert [t.name for t in comment.tags.all()] == ["Jails"]
    assert (
        comment.visibility == Annotation.Visibility.PRIVATE
    )  # Hypothesis groups mean nothing here
    assert highlight.motivation == Annotation.Motivation.HIGHLIGHTING

    again = post_file(client_for(reader), raw, "application/json").json()
    assert again["summary"] == "0 imported, 2 already here, 3 refused."


def test_a_hypothesis_address_known_as_another_spelling_finds_its_document():
    document = DocumentFactory(
        canonical_url="https://www.example-gazette.com/p/42",
        text=("Polk County also joined the task force model last spring."),
    )
    DocumentURL.objects.create(
        document=document,
        url="https://www.example-gazette.com/local/polk-sheriff-287g",
        url_key=url_key("https://www.example-gazette.com/local/polk-sheriff-287g"),
    )
    TagFactory(name="Task force")
    reader = ResearcherFactory()
    raw = (DATA / "hypothesis_export.json").read_bytes()

    annotations_import(user=reader, raw=raw, base_url="http://testserver")

    note = Annotation.objects.get(document=document)
    assert note.exact == "task force model"


# --- Refused files -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "sentence"),
    [
        (b"{not json", "The file is not valid JSON"),
        (b"\xff\xfe\x00garbage", "The file is not valid JSON"),
        (b"[]", "The file holds no annotations."),
        (b'{"hello": "world"}', "neither W3C annotations (JSON-LD) nor a Hypothesis export"),
        (b"[" * 100_000 + b"]" * 100_000, f"nests too deep (at most {MAX_JSON_DEPTH} levels)"),
        (
            json.dumps({"type": "Annotation", "x": json.loads("[" * 40 + "]" * 40)}).encode(),
            f"nests too deep (at most {MAX_JSON_DEPTH} levels)",
        ),
        (b" " * (MAX_IMPORT_BYTES + 10) + b"[]", "The file is too big"),
        (
            json.dumps([{"type": "Annotation"}] * (MAX_IMPORT_ANNOTATIONS + 1)).encode(),
            f"at most {MAX_IMPORT_ANNOTATIONS:,} are imported at once",
        ),
    ],
    ids=["broken", "not-unicode", "empty", "other-json", "very-deep", "deep", "huge", "too-many"],
)
def test_a_file_that_cannot_be_read_is_refused_whole(written, raw, sentence):
    author, notes = written
    Annotation.objects.all().delete()

    response = post_file(client_for(author), raw)

    assert response.status_code == 400
    assert sentence in response.json()["detail"][0]
    assert not Annotation.objects.exists()


def test_a_file_of_unknown_documents_stores_nothing_and_says_so(written):
    author, notes = written
    exported = json.loads(client_for(author).get(EXPORT).content)
    for item in exported["first"]["items"]:
        item["target"]["source"] = "https://unknown.example/story"
        del item["target"]["state"]
    Annotation.objects.all().delete()

    report = post_file(client_for(author), json.dumps(exported).encode()).json()

    assert report["summary"] == "0 imported, 0 already here, 2 refused."
    assert {r["source"] for r in report["refused"]} == {"https://unknown.example/story"}
    assert not Annotation.objects.exists()


def test_a_w3c_annotation_of_the_wrong_shape_is_reported_with_its_field(article):
    reader = ResearcherFactory()
    annotation = {
        "@context": "http://www.w3.org/ns/anno.jsonld",
        "type": "Annotation",
        "motivation": "shouting",
        "body": {"type": "TextualBody", "value": "Hi"},
        "target": {"source": ARTICLE_URL, "selector": {"type": "TextPositionSelector", "start": 0}},
    }

    report = post_file(client_for(reader), json.dumps(annotation).encode()).json()

    (refusal,) = report["refused"]
    assert "“shouting” is not one of" in refusal["reason"]
    assert "no TextQuoteSelector" in refusal["reason"]
    assert not Annotation.objects.exists()


def test_the_public_and_accounts_without_a_role_may_not_import(written):
    author, notes = written
    exported = client_for(author).get(EXPORT).content
    assert post_file(client_for(), exported).status_code == 403
    assert post_file(client_for(UserFactory()), exported).status_code == 403


def test_a_forged_author_or_approval_in_a_file_is_not_taken(written, article):
    author, notes = written
    exported = json.loads(
        client_for(author).get(f"/api/v1/documents/{article.pk}/annotations/").content
    )
    for item in exported["first"]["items"]:
        item["creator"] = {"type": "Person", "nickname": author.username}
        item["portal:review"] = "approved"
    importer = ResearcherFactory()

    post_file(client_for(importer), json.dumps(exported).encode())

    copies = Annotation.objects.filter(author=importer)
    assert copies.count() == 2
    assert {note.review for note in copies} == {Annotation.Review.PENDING}


def test_a_document_without_an_address_of_its_own_is_found_by_its_portal_page():
    upload = DocumentFactory(canonical_url="", text=ARTICLE)
    author = ResearcherFactory()
    annotate(upload, author, start=0, end=7, body="Dateline.")
    exported = client_for(author).get(EXPORT).content
    (item,) = json.loads(exported)["first"]["items"]
    assert item["target"]["source"] == f"http://testserver/documents/{upload.pk}/"
    Annotation.objects.all().delete()

    report = post_file(client_for(author), exported).json()

    assert report["summary"] == "1 imported, 0 already here, 0 refused."
    assert Annotation.objects.get().document == upload


@pytest.mark.parametrize(
    "odd",
    [
        {"body": [{"type": "TextualBody", "value": "a\x00b"}]},
        {"body": [{"type": "TextualBody", "value": "\ud800"}]},
        {"body": [{"type": "TextualBody", "purpose": "tagging", "value": "x\x00"}]},
        {"target": {"source": "https://news.example.org/\x00", "selector": []}},
        {"target": [1, 2]},
        {"body": 7},
        {"motivation": {"not": "text"}},
        {"id": "\ud800" * 1000},
    ],
)
def test_odd_values_in_an_annotation_are_reported_not_stored(article, odd):
    item = {
        "type": "Annotation",
        "body": [],
        "target": {
            "source": ARTICLE_URL,
            "selector": [{"type": "TextQuoteSelector", "exact": "erodes trust"}],
        },
        **odd,
    }

    response = post_file(client_for(ResearcherFactory()), json.dumps([item, item]).encode())

    assert response.status_code == 200
    assert response.json()["summary"] == "0 imported, 0 already here, 2 refused."
    assert not Annotation.objects.exists()


def test_an_imported_note_keeps_its_groups_only_for_a_member_of_them(written, article):
    author, notes = written
    team = Group.objects.create(name="Jail team")
    author.groups.add(team)
    update_annotation(notes[0], author, visibility="groups", groups=["Jail team"])
    exported = client_for(author).get(EXPORT).content
    assert json.loads(exported)["first"]["items"][0]["portal:groups"] == ["Jail team"]

    outsider = ResearcherFactory()
    report = post_file(client_for(outsider), exported).json()
    assert report["summary"] == "1 imported, 0 already here, 1 refused."
    (refusal,) = report["refused"]
    assert refusal["reason"].startswith("You are not in Jail team.")

    Annotation.objects.all().delete()
    assert post_file(client_for(author), exported).json()["summary"].startswith("2 imported")
    kept = Annotation.objects.get(visibility="groups")
    assert [g.name for g in kept.groups.all()] == ["Jail team"]
