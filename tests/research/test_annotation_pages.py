"""Notes on the document page, their forms, and their moderation in the admin."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from research.annotation_render import Span, render_highlights, segments
from research.models import Annotation, AnnotationFlag, Document
from research.services.annotations import MAX_BODY_CHARS
from tests.research.factories import (
    AdministratorFactory,
    AnnotationFactory,
    CuratorFactory,
    DocumentFactory,
    ResearcherFactory,
    TagFactory,
)

TEXT = (
    "MEMORANDUM OF AGREEMENT\n\n"
    "The sheriff said the agreement lets deputies screen people booked into the jail.\n"
    "Officers will be trained for four weeks.\n"
)


class _Text(HTMLParser):
    """The text content of an element, as a browser's ``textContent`` gives it."""

    def __init__(self, element_id: str):
        super().__init__(convert_charrefs=True)
        self.element_id, self.depth, self.parts, self.marks = element_id, 0, [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if self.depth:
            self.depth += tag not in ("br", "img")
            if tag == "mark":
                self.marks.append(attrs)
        elif attrs.get("id") == self.element_id:
            self.depth = 1

    def handle_endtag(self, tag):
        if self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if self.depth:
            self.parts.append(data)


def text_content(html: str, element_id: str = "document-text") -> tuple[str, list[dict]]:
    """The text of ``#element_id`` in ``html`` and the attributes of its marks."""
    parser = _Text(element_id)
    parser.feed(f'<div id="{element_id}">{html}</div>' if "<html" not in html else html)
    return "".join(parser.parts), parser.marks


def span(text: str, words: str, note_id: int, nth: int = 0) -> Span:
    start = -1
    for _ in range(nth + 1):
        start = text.index(words, start + 1)
    return Span(note_id, start, start + len(words))


# --- The renderer ------------------------------------------------------------------


def test_overlapping_notes_cut_the_text_into_segments_that_name_every_note():
    text = "one two three four five"
    spans = [Span(1, 4, 13), Span(2, 8, 18)]  # "two three", "three four"
    cuts = [(s.start, s.end, s.notes) for s in segments(len(text), spans)]
    assert cuts == [(0, 4, ()), (4, 8, (1,)), (8, 13, (1, 2)), (13, 18, (2,)), (18, 23, ())]
    html = render_highlights(text, spans)
    content, marks = text_content(html)
    assert content == text
    assert [m["data-notes"] for m in marks] == ["1", "1 2", "2"]
    assert [m.get("id") for m in marks] == ["note-1", "note-2", None]


def test_a_note_nested_in_another_and_notes_on_the_same_words():
    text = "The sheriff said the agreement lets deputies screen people."
    spans = [
        span(text, "the agreement lets deputies", 1),
        span(text, "agreement", 2),
        span(text, "agreement", 3),
    ]
    html = render_highlights(text, spans)
    content, marks = text_content(html)
    assert content == text
    assert [m["data-notes"] for m in marks] == ["1", "1 2 3", "1"]
    # Two notes start on the same word: each still has its anchor.
    assert 'id="note-2"' in html and 'id="note-3"' in html


def test_notes_at_the_start_and_end_of_the_text_and_out_of_it():
    text = "Start of text, end of text"
    spans = [Span(1, 0, 5), Span(2, 22, 26), Span(3, 20, 99), Span(4, 7, 7)]
    content, marks = text_content(render_highlights(text, spans))
    assert content == text
    assert html_ids(render_highlights(text, spans)) == ["note-1", "note-3", "note-2"]
    assert "4" not in " ".join(m["data-notes"] for m in marks)  # an empty note shows nothing


def html_ids(html: str) -> list[str]:
    return re.findall(r'id="(note-\d+)"', html)


def test_markup_in_the_text_stays_text():
    text = "<script>alert('x')</script> & <b>bold</b>\r\nnext line"
    html = render_highlights(text, [span(text, "<b>bold</b>", 7)])
    assert "<script>" not in html and "<b>" not in html
    assert text_content(html)[0] == text


def test_two_hundred_notes_render_every_segment():
    text = "word " * 2000
    spans = [Span(n, n * 40, n * 40 + 60) for n in range(200)]
    content, marks = text_content(render_highlights(text, spans))
    assert content == text
    assert len(marks) == 399  # 200 starts and 200 ends cut 399 covered segments


# --- The page ------------------------------------------------------------------------


def client_for(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def note_on(document: Document, words: str, **fields) -> Annotation:
    start = document.text.index(words)
    return AnnotationFactory(document=document, start=start, end=start + len(words), **fields)


def page(client: Client, document: Document, query: str = "") -> str:
    response = client.get(document.get_absolute_url() + query)
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def document(db):
    return DocumentFactory(text=TEXT, rights=Document.Rights.PUBLIC_DOMAIN)


def test_the_text_container_holds_the_document_text_exactly_with_highlights(document):
    author = ResearcherFactory()
    one = note_on(document, "deputies screen people", author=author)
    two = note_on(document, "screen people booked", author=author)
    html = page(client_for(author), document)
    content, marks = text_content(html)
    assert content == document.text
    assert [m["data-notes"] for m in marks] == [f"{one.pk}", f"{one.pk} {two.pk}", f"{two.pk}"]
    assert f'href="#note-{one.pk}"' in html  # the note in the list goes to its highlight
    assert f'id="annotation-{one.pk}"' in html


@pytest.mark.django_db
def test_a_script_in_the_document_text_is_shown_as_text():
    document = DocumentFactory(
        text="Before <script>alert('pwned')</script> after <img src=x onerror=alert(1)>",
        rights=Document.Rights.PUBLIC_DOMAIN,
    )
    html = page(client_for(), document)
    assert "<script>alert" not in html and "<img src=x" not in html
    assert text_content(html)[0] == document.text


def test_a_hostile_note_body_is_harmless_on_the_page(document):
    author = ResearcherFactory()
    note_on(
        document,
        "deputies",
        author=author,
        body=(
            "<script>alert(1)</script> [click](javascript:alert(2)) "
            '![tracker](https://evil.example/pixel.png) <a href="#" onclick="x()">a</a> ok'
        ),
    )
    html = page(client_for(author), document)
    notes = html[html.index('id="notes"') :]
    assert "<script>alert(1)" not in notes
    assert "javascript:" not in notes
    assert "evil.example" not in notes
    assert "onclick" not in notes
    assert "ok" in notes


@pytest.mark.django_db
def test_a_private_note_is_not_shown_to_another_researcher_nor_to_curators(document):
    author = ResearcherFactory()
    note = note_on(document, "deputies", author=author, body="My own thought")
    assert "My own thought" in page(client_for(author), document)
    for reader in (ResearcherFactory(), CuratorFactory(), None):
        html = page(client_for(reader), document)
        assert "My own thought" not in html
        assert f"note-{note.pk}" not in html


def test_a_public_note_reaches_anonymous_readers_only_after_a_curator_approves_it(document):
    author, curator = ResearcherFactory(), CuratorFactory()
    response = client_for(author).post(
        reverse("research:annotation-create", args=[document.pk]),
        {"exact": "four weeks", "body": "Short training.", "visibility": "public"},
    )
    note = Annotation.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"{document.get_absolute_url()}#note-{note.pk}"
    assert "Short training." not in page(client_for(), document)
    assert "Waiting for a curator" in page(client_for(author), document)

    admin = client_for(curator)
    queue = admin.get(reverse("admin:research_annotation_changelist")).content.decode()
    assert "four weeks" in queue
    response = admin.post(
        reverse("admin:research_annotation_changelist"),
        {"action": "approve", "_selected_action": [note.pk]},
    )
    assert response.status_code == 302
    html = page(client_for(), document)
    assert "Short training." in html
    assert f'id="note-{note.pk}"' in html

    # A flag sends it back to the queue, out of public view.
    flag = client_for(ResearcherFactory()).post(
        reverse("research:annotation-flag", args=[note.pk]), {"reason": "Not accurate"}
    )
    assert flag.status_code == 302
    assert "Short training." not in page(client_for(), document)
    queue = admin.get(reverse("admin:research_annotation_changelist")).content.decode()
    assert "four weeks" in queue
    change = admin.get(reverse("admin:research_annotation_change", args=[note.pk]))
    assert "Not accurate" in change.content.decode()


def test_the_author_cannot_flag_their_own_note(document):
    author = ResearcherFactory()
    note = note_on(document, "deputies", author=author, visibility="researchers")
    response = client_for(author).post(reverse("research:annotation-flag", args=[note.pk]))
    assert response.status_code == 403
    assert not AnnotationFlag.objects.exists()


def test_editing_or_deleting_someone_elses_note_is_refused_with_a_sentence(document):
    note = note_on(document, "deputies", body="Theirs", visibility="researchers")
    other = client_for(ResearcherFactory())
    for name in ("annotation-edit", "annotation-delete"):
        response = other.post(
            reverse(f"research:{name}", args=[note.pk]),
            {"body": "Mine now", "visibility": "public", "confirm": "delete"},
        )
        assert response.status_code == 403
        assert "Only the note's author may change or delete it." in unescape(
            response.content.decode()
        )
    note.refresh_from_db()
    assert (note.body, note.visibility) == ("Theirs", "researchers")


def test_the_author_edits_then_deletes_after_confirming(document):
    author = ResearcherFactory()
    tag = TagFactory(name="Training")
    note = note_on(document, "deputies", author=author, body="First")
    client = client_for(author)
    edit = reverse("research:annotation-edit", args=[note.pk])
    delete = reverse("research:annotation-delete", args=[note.pk])
    html = page(client, document)
    assert f'href="{edit}"' in html and f'href="{delete}"' in html
    assert "First" in client.get(edit).content.decode()
    response = client.post(
        edit, {"body": "Second", "tags": [tag.slug], "visibility": "researchers"}
    )
    assert response.status_code == 302
    note.refresh_from_db()
    assert (note.body, list(note.tags.all())) == ("Second", [tag])
    assert "<p>Second</p>" in page(client, document)

    response = client.post(delete)
    assert response.status_code == 400 and "to confirm" in response.content.decode()
    assert client.post(delete, {"confirm": "delete"}).status_code == 302
    assert not Annotation.objects.exists()


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"body": "x" * (MAX_BODY_CHARS + 1)}, "The note is too long (10,001 characters"),
        (
            {"visibility": "everyone"},
            "“everyone” is not one of: private, researchers, groups, public.",
        ),
        ({"tags": ["no-such-tag"]}, "Unknown tag: no-such-tag."),
        ({"exact": "the"}, "These words occur 2 times in the text: add words"),
        ({"exact": "not in it"}, "These words are not in the text"),
        ({"start": "0", "end": "5", "exact": "other"}, "reload the page and select again"),
    ],
)
def test_a_refused_note_says_why_on_the_page_and_nothing_is_stored(document, fields, says):
    data = {"exact": "four weeks", "body": "Fine", "visibility": "private", **fields}
    response = client_for(ResearcherFactory()).post(
        reverse("research:annotation-create", args=[document.pk]), data
    )
    assert response.status_code == 400
    assert says in unescape(response.content.decode())
    assert not Annotation.objects.exists()


@pytest.mark.django_db
def test_a_selection_by_offsets_stores_the_passage_and_its_page():
    text = "Page one words.\fPage two holds the clause on training.\n"
    document = DocumentFactory(text=text, page_offsets=[0, text.index("Page two")])
    start = text.index("the clause")
    response = client_for(ResearcherFactory()).post(
        reverse("research:annotation-create", args=[document.pk]),
        {"start": start, "end": start + 10, "exact": "the clause", "visibility": "private"},
    )
    assert response.status_code == 302
    note = Annotation.objects.get()
    assert (note.exact, note.page) == ("the clause", 2)
    assert "Page 2" in page(client_for(note.author), document)


@pytest.mark.django_db
def test_readers_who_may_not_read_the_text_see_approved_notes_with_an_excerpt_only():
    long_passage = "word " * 200
    document = DocumentFactory(text="Intro. " + long_passage + "end.")
    note = note_on(
        document,
        long_passage.strip(),
        visibility="public",
        review="approved",
        body="Public remark",
    )
    html = page(client_for(), document)
    assert "Public remark" in html
    assert 'id="document-text"' not in html and "<mark" not in html
    assert long_passage.strip() not in html  # never more than the excerpt
    assert f'id="annotation-{note.pk}"' in html


def test_an_orphaned_note_is_listed_to_its_author_only_and_not_highlighted(document):
    author = ResearcherFactory()
    note = note_on(document, "deputies", author=author, visibility="researchers", anchor="orphaned")
    html = page(client_for(author), document)
    assert "Passage not found" in html
    assert f'id="annotation-{note.pk}"' in html and "<mark" not in html
    assert f"annotation-{note.pk}" not in page(client_for(ResearcherFactory()), document)


def test_a_carried_note_shows_the_old_and_new_wording(document):
    author = ResearcherFactory()
    note_on(document, "four weeks", author=author, previous_exact="two weeks")
    html = page(client_for(author), document)
    assert "Carried over" in html
    assert "<del>two weeks</del>" in html and "<ins>four weeks</ins>" in html


def test_notes_filter_by_tag_and_author_with_plain_links(document):
    first, second = ResearcherFactory(username="ana"), ResearcherFactory(username="bo")
    training = TagFactory(name="Training")
    one = note_on(document, "four weeks", author=first, visibility="researchers", body="Ana's")
    one.tags.add(training)
    note_on(document, "deputies", author=second, visibility="researchers", body="Bo's")
    reader = client_for(ResearcherFactory())
    html = page(reader, document, "?tag=training")
    assert "Ana's" in html and "Bo's" not in html
    assert "<mark" in html and html.count("<mark") == 1  # the highlights follow the filter
    html = page(reader, document, "?author=bo")
    assert "Bo's" in html and "Ana's" not in html
    html = page(reader, document, "?author=nobody%00&tag=x")
    assert "No note matches these filters." in html


def test_the_page_reads_a_fixed_number_of_queries_whatever_the_number_of_notes(document):
    author = ResearcherFactory()
    tags = [TagFactory() for _ in range(3)]

    def queries() -> int:
        client = client_for(author)
        client.get(document.get_absolute_url())  # sessions and permissions warm
        with CaptureQueriesContext(connection) as captured:
            page(client, document)
        return len(captured)

    for _ in range(3):
        note_on(document, "deputies", author=author).tags.add(*tags)
    few = queries()
    for _ in range(30):
        AnnotationFactory(
            document=document, author=ResearcherFactory(), visibility="researchers"
        ).tags.add(*tags)
    assert queries() == few


# --- The admin ----------------------------------------------------------------------


@pytest.mark.django_db
def test_the_admin_never_shows_another_persons_private_note():
    administrator = AdministratorFactory()
    private = AnnotationFactory(body="secret", exact="deputies secret")
    shared = AnnotationFactory(visibility="public", exact="deputies shared")
    client = client_for(administrator)
    listing = client.get(reverse("admin:research_annotation_changelist") + "?queue=all")
    assert "deputies shared" in listing.content.decode()
    assert "deputies secret" not in listing.content.decode()
    change = client.get(reverse("admin:research_annotation_change", args=[private.pk]))
    assert change.status_code == 302  # "does not exist", as Django says
    history = reverse("admin:research_annotation_history", args=[private.pk])
    assert client.get(history).status_code == 404
    shared_history = reverse("admin:research_annotation_history", args=[shared.pk])
    assert client.get(shared_history).status_code == 200
    record = private.history.first().history_id
    version = reverse("admin:research_annotation_simple_history", args=[private.pk, record])
    assert client.get(version).status_code == 404


@pytest.mark.django_db
def test_the_queue_lists_flagged_notes_first():
    curator = CuratorFactory()
    calm = AnnotationFactory(visibility="public", exact="deputies calm")
    flagged = AnnotationFactory(visibility="public", exact="deputies flagged")
    AnnotationFlag.objects.create(annotation=flagged, user=ResearcherFactory(), reason="Wrong")
    html = client_for(curator).get(reverse("admin:research_annotation_changelist")).content
    html = html.decode()
    assert html.index("deputies flagged") < html.index("deputies calm")
    assert calm.pk < flagged.pk  # older, yet listed after the flagged one


@pytest.mark.django_db
def test_rejecting_in_the_admin_keeps_the_note_from_the_public(document):
    curator = CuratorFactory()
    note = note_on(document, "deputies", visibility="public", body="Rejected words")
    client_for(curator).post(
        reverse("admin:research_annotation_changelist"),
        {"action": "reject", "_selected_action": [note.pk]},
    )
    note.refresh_from_db()
    assert (note.review, note.reviewed_by) == ("rejected", curator)
    assert "Rejected words" not in page(client_for(), document)


def test_a_note_shared_with_groups_is_read_by_their_members_only(document):
    author, teammate, outsider = ResearcherFactory(), ResearcherFactory(), ResearcherFactory()
    team, crew = Group.objects.create(name="Jail team"), Group.objects.create(name="Crew")
    author.groups.add(team, crew)
    teammate.groups.add(crew)
    # Someone in no group is not offered the boxes nor the choice.
    assert "The groups I choose" not in page(client_for(outsider), document)
    html = page(client_for(author), document)
    assert "The groups I choose" in html and "Jail team" in html
    # The author's own groups are offered, never the role group they are in (Researchers).
    offered = re.findall(r'name="groups" value="[^"]*"[^>]*>\s*([^<]*?)\s*<', html)
    assert offered == ["Crew", "Jail team"]

    response = client_for(author).post(
        reverse("research:annotation-create", args=[document.pk]),
        {
            "exact": "four weeks",
            "body": "Team only.",
            "visibility": "groups",
            "groups": [team.pk, crew.pk],
        },
    )
    assert response.status_code == 302
    for reader in (author, teammate):
        assert "Shared with: Crew, Jail team" in page(client_for(reader), document)
    for reader in (outsider, CuratorFactory(), None):
        assert "Team only." not in page(client_for(reader), document)

    refused = client_for(author).post(
        reverse("research:annotation-create", args=[document.pk]),
        {"exact": "four weeks", "body": "Nobody.", "visibility": "groups"},
    )
    assert refused.status_code == 400
    assert "Choose at least one group" in refused.content.decode()
