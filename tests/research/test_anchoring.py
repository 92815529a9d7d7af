"""Notes stay on their passage when a document's text changes, and follow an MOA to its renewal.

All on real MOA text: Polk County (FL) Sheriff's Office's 2019 Warrant Service
Officer MOA as its PDF's text layer gives it, the same pages read again by
Tesseract (a real re-OCR, made once from the PDF's pages at 300 dpi), and the
2025 WSO template as ICE now signs it (Pierce County, GA's copy). The bundled
MOAs hold no two MOAs of one agency, so the 2025 template stands in for Polk's
renewal: it is what a renewing WSO agency signs.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.template.loader import render_to_string
from django.urls import reverse
from rapidfuzz.distance import Levenshtein

from research import policy, selectors
from research.extract import PAGE_SEPARATOR, join_pages, text_sha256
from research.models import Annotation, Document
from research.services.anchoring import carry_annotations, reanchor_document
from research.services.annotations import AnnotationRefused, annotate
from research.textquote import Quote, place
from tests.research.factories import (
    AgencyFactory,
    AgreementFactory,
    DocumentAgreementFactory,
    DocumentFactory,
    ResearcherFactory,
    TagFactory,
)

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent / "data"


def pages(name: str) -> list[str]:
    """A fixture's pages (separated by form feeds, as extracted once from the PDF)."""
    return (DATA / name).read_text().rstrip("\n").split("\f")


POLK_2019 = pages("moa_polk_fl_wso_2019.txt")
POLK_2019_OCR = pages("moa_polk_fl_wso_2019_p1-4.ocr.txt")
WSO_2025 = pages("moa_pierce_ga_wso_2025.txt")
# A paragraph of the 2025 template that the 2019 MOA does not have.
NEW_PARAGRAPH = (
    "The LEA agrees that it will not use the authority delegated under this MOA to "
    "target persons on account of race, ethnicity or national origin.\n"
)


def moa(page_texts: list[str], **fields) -> Document:
    text, offsets = join_pages(page_texts)
    return DocumentFactory(
        kind=Document.Kind.MOA,
        rights=Document.Rights.PUBLIC_DOMAIN,
        text=text,
        page_offsets=offsets,
        **fields,
    )


def note_on(document: Document, words: str, *, occurrence: int = 0, author=None, **fields):
    """A note made through the service on the ``occurrence``-th ``words`` of the text."""
    starts = [m.start() for m in re.finditer(re.escape(words), document.text)]
    start = starts[occurrence]
    return annotate(
        document,
        author or ResearcherFactory(),
        start=start,
        end=start + len(words),
        body=f"On “{words[:30]}”.",
        **fields,
    )


def new_text(document: Document, page_texts: list[str]):
    """The document's text changes as ingestion changes it; its notes are placed again."""
    document.text, document.page_offsets = join_pages(page_texts)
    document.text_sha256 = text_sha256(document.text)
    document.save()
    return reanchor_document(document)


def replaced(page_texts: list[str], old: str, new: str) -> list[str]:
    assert sum(page.count(old) for page in page_texts) == 1, old
    return [page.replace(old, new) for page in page_texts]


# --- The same text, a re-OCR ----------------------------------------------------------


def test_unchanged_text_moves_nothing():
    document = moa(POLK_2019)
    note = note_on(document, "ICE reserves the right to conduct an independent background check")
    report = reanchor_document(document)
    assert report.placed == 0 and report.orphaned == []
    assert Annotation.objects.get(pk=note.pk).start == note.start
    assert note.history.count() == 1


def test_real_reocr_keeps_every_note_on_its_words():
    """Tesseract reads the scan differently (DHS for OHS, curly quotes, blank lines
    between paragraphs): every note stays on its clause, on its page."""
    document = moa(POLK_2019[:4])
    clauses = [
        "will use due diligence to screen and nominate candidates for ICE",
        "must pass a final examination with a minimum score of 70 percent",
        "a component of the Department of Homeland Security (OHS), and",
        "of specific aliens in PCSO's jail/correctional facilities to ICE for removal purposes",
        "ICE reserves the right to conduct an independent background check",
        "appropriate action can be taken in accordance with ICE policies",
    ]
    notes = {words: note_on(document, words) for words in clauses}
    report = new_text(document, POLK_2019_OCR)
    assert report.orphaned == []
    for words, note in notes.items():
        placed = Annotation.objects.get(pk=note.pk)
        assert placed.text_sha256 == document.text_sha256
        assert placed.exact == document.text[placed.start : placed.end]
        assert Levenshtein.normalized_similarity(placed.exact, words) > 0.85, placed.exact
        assert placed.page == note.page
    changed = Annotation.objects.get(pk=notes[clauses[2]].pk)
    assert changed.anchor == Annotation.Anchor.FUZZY
    assert "(DHS)" in changed.exact and changed.previous_exact == clauses[2]
    assert changed.wording_changed


def ocr_noise(text: str) -> str:
    """What a worse OCR does to a text: rn read as m, l as 1, spaces lost and doubled,
    words hyphenated at line ends."""
    text = text.replace("rn", "m").replace(" l", " 1").replace("tion of", "tionof")
    text = text.replace("certain", "cer-\ntain").replace(" the ", "  the ")
    return text


def test_simulated_ocr_noise_keeps_notes_on_their_clause():
    document = moa(POLK_2019)
    notes = [
        note_on(document, "Section 287(g) of the Immigration and Nationality Act (INA)"),
        note_on(document, "perform certain limited functions of an immigration officer within"),
        note_on(document, "The PCSO and ICE enter into this MOA in good faith"),
    ]
    report = new_text(document, [ocr_noise(page) for page in POLK_2019])
    assert report.orphaned == []
    for note in notes:
        placed = Annotation.objects.get(pk=note.pk)
        assert Levenshtein.normalized_similarity(placed.exact, note.exact) > 0.85
        assert placed.prefix.split()[-1:] == ocr_noise(note.prefix).split()[-1:]


# --- Edits: a paragraph added, a clause changed, a passage gone ------------------------


def test_inserted_paragraph_before_a_note_moves_it_with_its_clause():
    document = moa(POLK_2019)
    words = "Each PCSO nominee must pass a final examination"
    note = note_on(document, words)
    anchor = "B. NOMINATION OF PERSONNEL\n"
    report = new_text(document, replaced(POLK_2019, anchor, NEW_PARAGRAPH + anchor))
    placed = Annotation.objects.get(pk=note.pk)
    assert report.anchored == [note.pk]
    assert placed.anchor == Annotation.Anchor.ANCHORED
    assert placed.start == note.start + len(NEW_PARAGRAPH)
    assert document.text[placed.start : placed.end] == words
    assert placed.previous_exact == "" and not placed.wording_changed
    # The history keeps where the note was before.
    assert [h.start for h in placed.history.order_by("history_id")] == [note.start, placed.start]


def test_inserted_page_updates_the_page_number():
    """A page of the 2025 template put first holds the same heading in other words
    around it: the note stays on its own, now on page 2."""
    document = moa(POLK_2019)
    note = note_on(document, "DESIGNATION OF AUTHORIZED FUNCTIONS")
    assert "DESIGNATION OF AUTHORIZED FUNCTIONS" in WSO_2025[0]
    new_text(document, [WSO_2025[0], *POLK_2019])
    placed = Annotation.objects.get(pk=note.pk)
    assert (placed.exact, placed.prefix, placed.suffix) == (note.exact, note.prefix, note.suffix)
    assert (note.page, placed.page) == (1, 2)


def test_changed_clause_is_placed_on_its_new_wording_and_keeps_the_old():
    document = moa(POLK_2019)
    old = "Each PCSO nominee must pass a final examination with a minimum score of 70 percent"
    new = "Each LEA nominee must pass a final examination with a minimum score of 75 percent"
    note = note_on(document, old)
    report = new_text(document, replaced(POLK_2019, old, new))
    placed = Annotation.objects.get(pk=note.pk)
    assert report.fuzzy == [note.pk]
    assert placed.anchor == Annotation.Anchor.FUZZY
    assert placed.exact == new
    assert placed.previous_exact == old
    assert placed.wording_changed


def test_a_second_change_keeps_the_wording_the_note_was_made_on():
    document = moa(POLK_2019)
    first = "Each PCSO nominee must pass a final examination with a minimum score of 70 percent"
    second = first.replace("PCSO", "LEA")
    third = second.replace("70", "75")
    note = note_on(document, first)
    new_text(document, replaced(POLK_2019, first, second))
    new_text(document, replaced(POLK_2019, first, third))
    placed = Annotation.objects.get(pk=note.pk)
    assert (placed.exact, placed.previous_exact) == (third, first)


def test_deleted_passage_orphans_the_note_and_keeps_its_quote():
    document = moa(POLK_2019)
    author = ResearcherFactory()
    gone = (
        "ICE will also execute ICE Form 70-006, Designated Immigration Officer. Only those "
        "certified\nPCSO personnel who receive authorization letters and ICE Form 70-006 issued "
        "by ICE and whose\nimmigration enforcement efforts are overseen by ICE may conduct "
        "immigration officer functions\ndescribed in this MOA.\n"
    )
    note = note_on(document, gone.strip(), author=author)
    old_sha = document.text_sha256
    report = new_text(document, replaced(POLK_2019, gone, ""))
    orphan = Annotation.objects.get(pk=note.pk)
    assert report.orphaned == [note.pk]
    assert orphan.orphaned
    assert (orphan.exact, orphan.prefix, orphan.suffix) == (note.exact, note.prefix, note.suffix)
    assert (orphan.start, orphan.end, orphan.text_sha256) == (note.start, note.end, old_sha)
    assert orphan in policy.visible_annotations(author)
    # Tried again with the next text: the passage restored, the note is back on it.
    new_text(document, POLK_2019)
    back = Annotation.objects.get(pk=note.pk)
    assert back.anchor == Annotation.Anchor.ANCHORED and back.start == note.start


def test_a_similar_sentence_elsewhere_does_not_take_an_orphan():
    """The 70-percent sentence has a twin two lines down; with the first gone, the note
    is orphaned rather than moved onto its twin's different context."""
    text = "\n".join(POLK_2019)
    words = "If a PCSO nominee fails to attain a 70-percent rating on the examination"
    start = text.index(words)
    quote = Quote(words, text[start - 32 : start], text[start + len(words) :][:32], start)
    others = text.replace(text[start - 200 : start + len(words) + 200], "")
    assert place(others, quote) is None


def test_quote_that_occurs_many_times_stays_on_its_occurrence():
    """ "participating PCSO personnel" appears all through the MOA: its context and
    place choose the one the note was on, before and after text moves."""
    document = moa(POLK_2019)
    words = "participating PCSO personnel"
    assert document.text.count(words) > 10
    note = note_on(document, words, occurrence=7)
    report = new_text(document, [NEW_PARAGRAPH + page for page in POLK_2019])
    placed = Annotation.objects.get(pk=note.pk)
    assert report.anchored == [note.pk]
    assert (placed.prefix, placed.exact, placed.suffix) == (note.prefix, words, note.suffix)
    shift = len(NEW_PARAGRAPH) * note.page
    assert placed.start == note.start + shift


def test_a_lone_short_note_follows_its_context_past_inserted_pages():
    """Three pages put in front move the note further than the matcher looks around its
    old place, where the same words stand in another sentence: its context wins."""
    document = moa(POLK_2019)
    note = note_on(document, "PCSO personnel", occurrence=12)
    new_text(document, [*WSO_2025[:3], *POLK_2019])
    placed = Annotation.objects.get(pk=note.pk)
    assert (placed.prefix, placed.exact, placed.suffix) == (note.prefix, note.exact, note.suffix)
    assert placed.page == note.page + 3


def test_quote_context_wins_over_a_nearer_copy():
    text = "\n".join(POLK_2019)
    words = "participating PCSO personnel"
    starts = [m.start() for m in re.finditer(words, text)]
    chosen = starts[5]
    quote = Quote(words, text[chosen - 32 : chosen], text[chosen + len(words) :][:32], starts[6])
    match = place(text, quote)
    assert match.method == "quote" and match.start == chosen


def test_in_a_stack_of_moas_a_re_read_clause_stays_in_its_own_copy():
    """A file of two copies of the MOA (as FOIA releases bundle them) gets two pages in
    front, and page 4 of the second copy is re-read with OCR noise around a note's words:
    the note stays in the second copy, by where its neighbours went, though the first
    copy holds its words in their exact context."""
    document = moa(POLK_2019 + POLK_2019)
    page = len(POLK_2019) + 3  # page 4 of the second copy, counted from 0
    words = "the Polk County Sheriffs Office will be responsible and bear the"
    around = [POLK_2019[2].split("\n")[5], POLK_2019[4].split("\n")[5]]
    for phrase in (words, *around):
        assert document.text.count(phrase) == 2, phrase
    neighbours = [note_on(document, phrase, occurrence=1) for phrase in around]
    note = note_on(document, words, occurrence=1)
    assert note.page == page + 1
    new_pages = [*WSO_2025[:2], *document_pages(document)]
    new_pages[page + 2] = ocr_noise(new_pages[page + 2])
    new_text(document, new_pages)
    placed = Annotation.objects.get(pk=note.pk)
    assert placed.page == page + 3
    assert placed.exact == words and placed.prefix != note.prefix
    for neighbour in neighbours:
        assert Annotation.objects.get(pk=neighbour.pk).page == neighbour.page + 2


def document_pages(document: Document) -> list[str]:
    bounds = [*document.page_offsets, len(document.text) + len(PAGE_SEPARATOR)]
    return [
        document.text[a : b - len(PAGE_SEPARATOR)] for a, b in zip(bounds, bounds[1:], strict=False)
    ]


# --- Where text changes: processing a document again ---------------------------------


HTML = {"Content-Type": "text/html; charset=utf-8"}
ARTICLE = (DATA / "article_287g.html").read_text()


def test_reprocessing_a_document_with_new_text_replaces_its_notes(
    local_server, settings, django_capture_on_commit_callbacks
):
    from research.services.ingest import document_process, document_submit

    settings.FETCH_HOST_INTERVAL_SECONDS = 0
    local_server.routes["/story"] = (200, HTML, ARTICLE.encode())
    with django_capture_on_commit_callbacks(execute=True):
        document = document_submit(url=local_server.url("/story"))
    document.refresh_from_db()
    Document.objects.filter(pk=document.pk).update(status=Document.Status.PUBLISHED)
    document.refresh_from_db()
    kept = note_on(document, "Commissioners were not asked to vote on the agreement.")
    changed = note_on(document, "can be ended by either party with written notice")
    edited = ARTICLE.replace(
        "<p>Commissioners",
        "<p>A correction was added to this story on Tuesday.</p>\n<p>Commissioners",
    ).replace("with written notice", "with ninety days' written notice")
    local_server.routes["/story"] = (200, HTML, edited.encode())
    Document.objects.filter(pk=document.pk).update(status=Document.Status.QUEUED, attempts=0)
    document_process(document_id=document.pk)
    document.refresh_from_db()
    assert "A correction was added" in document.text
    kept.refresh_from_db()
    changed.refresh_from_db()
    assert kept.text_sha256 == changed.text_sha256 == document.text_sha256
    assert document.text[kept.start : kept.end] == kept.exact
    assert kept.anchor == Annotation.Anchor.ANCHORED
    assert kept.exact == "Commissioners were not asked to vote on the agreement."
    assert changed.anchor == Annotation.Anchor.FUZZY
    assert changed.exact == "can be ended by either party with ninety days' written notice"
    assert changed.previous_exact == "can be ended by either party with written notice"


# --- Carried to the renewed MOA --------------------------------------------------------


@pytest.fixture
def renewal():
    """Polk's 2019 WSO MOA and its renewal in 2025 (a new agreement of the same agency)."""
    agency = AgencyFactory(name="Polk County Sheriff's Office", state="FL")
    old_agreement = AgreementFactory(agency=agency, model="WSO", signed_on="2019-05-06")
    new_agreement = AgreementFactory(agency=agency, model="WSO", signed_on="2025-02-26")
    old = moa(POLK_2019, title="Polk WSO MOA 2019", published_on="2019-05-06")
    new = moa(WSO_2025, title="Polk WSO MOA 2025", published_on="2025-02-26")
    DocumentAgreementFactory(document=old, agreement=old_agreement)
    DocumentAgreementFactory(document=new, agreement=new_agreement)
    other_agency = moa(WSO_2025, title="Someone else's MOA", published_on="2025-03-01")
    DocumentAgreementFactory(document=other_agency)
    return old, new


def test_later_versions_are_the_agency_s_newer_moas(renewal):
    old, new = renewal
    assert selectors.later_versions(old) == [new]
    assert selectors.later_versions(new) == []


def test_renewed_moa_receives_a_researcher_s_notes(renewal):
    old, new = renewal
    author = ResearcherFactory()
    tag = TagFactory(name="Training")
    same = note_on(
        old, "ICE reserves the right to conduct an independent background check", author=author
    )
    clause = "Each PCSO nominee must pass a final examination with a minimum score of 70 percent"
    reworded = note_on(old, clause, author=author, tags=[tag.name], visibility="public")
    gone = note_on(old, "in The Miami Field Office will provide", author=author)
    someone_else = note_on(old, "DESIGNATION OF AUTHORIZED FUNCTIONS")

    report = carry_annotations(old, new, author)

    carried = {c.carried_from_id: c for c in Annotation.objects.filter(document=new)}
    assert set(carried) == {same.pk, reworded.pk, gone.pk}
    assert someone_else.pk not in carried
    assert len(report.anchored) == len(report.fuzzy) == len(report.orphaned) == 1
    assert carried[same.pk].anchor == Annotation.Anchor.ANCHORED
    assert new.text[carried[same.pk].start : carried[same.pk].end] == same.exact
    moved = carried[reworded.pk]
    assert moved.anchor == Annotation.Anchor.FUZZY
    assert moved.exact.startswith("Each LEA nominee must pass a final examination")
    assert moved.previous_exact == clause and moved.wording_changed
    assert (moved.author, moved.body, moved.visibility) == (author, reworded.body, "public")
    assert list(moved.tags.all()) == [tag]
    assert moved.review == Annotation.Review.PENDING
    orphan = carried[gone.pk]
    assert orphan.orphaned and orphan.exact == gone.exact
    assert orphan in policy.visible_annotations(author)
    # The notes on the old MOA are left as they were.
    assert Annotation.objects.filter(document=old).count() == 4


def test_carrying_twice_does_not_duplicate(renewal):
    old, new = renewal
    author = ResearcherFactory()
    note_on(old, "ICE reserves the right to conduct an independent background check", author=author)
    carry_annotations(old, new, author)
    again = carry_annotations(old, new, author)
    assert again.placed == 0 and len(again.skipped) == 1
    assert Annotation.objects.filter(document=new).count() == 1


def test_carrying_to_a_document_that_is_not_a_later_version_is_refused(renewal):
    old, new = renewal
    author = ResearcherFactory()
    note_on(new, "The LEA will use due diligence", author=author)
    with pytest.raises(AnnotationRefused) as refused:
        carry_annotations(new, old, author)
    assert "not a later MOA" in str(refused.value)
    assert Annotation.objects.filter(document=old).count() == 0


def test_carry_form_offers_later_versions_to_a_reader_with_notes(renewal, rf):
    old, new = renewal
    author = ResearcherFactory()
    assert selectors.carry_context(author, old)["carry_versions"] == []
    note_on(old, "ICE reserves the right to conduct an independent background check", author=author)
    context = selectors.carry_context(author, old)
    assert context == {"carry_versions": [new], "carry_note_count": 1}
    assert selectors.carry_context(ResearcherFactory(), old)["carry_versions"] == []
    request = rf.get("/")
    request.user = author
    html = render_to_string(
        "research/_annotation_carry.html", {"document": old, **context}, request=request
    )
    assert reverse("research:annotation-carry", args=[old.pk]) in html
    assert f'<option value="{new.pk}">Polk WSO MOA 2025 (2025-02-26)</option>' in html
    assert "csrfmiddlewaretoken" in html


def test_carry_page_copies_the_notes_and_shows_the_new_moa(renewal, client):
    old, new = renewal
    author = ResearcherFactory()
    note_on(old, "ICE reserves the right to conduct an independent background check", author=author)
    client.force_login(author)
    url = reverse("research:annotation-carry", args=[old.pk])
    response = client.post(url, {"target": new.pk}, follow=True)
    assert response.redirect_chain[-1][0] == new.get_absolute_url()
    assert "1 note placed: 1 on its passage." in response.content.decode()
    assert Annotation.objects.filter(document=new, author=author).count() == 1
    response = client.post(url, {"target": new.pk}, follow=True)
    assert "carried here before" in response.content.decode()
    response = client.post(url, {"target": old.pk}, follow=True)
    assert response.redirect_chain[-1][0] == old.get_absolute_url()
    assert "not a later MOA" in response.content.decode()
