"""Annotating in a real browser: select, write, see the highlight; moderation; new text.

Debian's chromium driven by Playwright against pytest-django's ``live_server``.
Words are selected with a DOM range set by script (as a mouse drag would set
it) and the page's own script takes it from there: it reads the selection,
shows its button, fills the form. Screenshots go to ``$SCREENSHOT_DIR``.
"""

from __future__ import annotations

import hashlib
import re

import pytest

from research.models import Annotation, Document
from research.services.anchoring import reanchor_document
from tests.e2e.conftest import csp_refusals, log_in, new_page, overflowing, screenshot_dir
from tests.research.factories import CuratorFactory, DocumentFactory, ResearcherFactory

pytestmark = [pytest.mark.browser]

CLAUSE = "shall be trained for four weeks"
# The sign before the title is outside the Basic Multilingual Plane: JavaScript
# counts it as two characters, Python as one, and the offsets must agree.
MOA_TEXT = (
    "\U0001f4c4 MEMORANDUM OF AGREEMENT\n\n"
    "This Memorandum of Agreement constitutes an agreement between U.S. Immigration and "
    "Customs Enforcement and the Polk County Sheriff's Office, pursuant to which ICE "
    "delegates nominated, trained, certified, and authorized personnel.\n\n"
    "I. PURPOSE\n\n"
    "The purpose of this MOA is to set forth the terms and conditions pursuant to which "
    "selected personnel will be nominated, trained, and thereafter perform certain "
    "functions of an immigration officer within the jail.\n\n"
    "II. TRAINING\n\n"
    f"Participating personnel {CLAUSE} at a location designated by ICE.\n\n"
    "III. SUPERVISION\n\n"
    "Immigration enforcement activities will be supervised and directed by ICE.\n"
)
INSERTED = (
    "I-A. DEFINITIONS\n\n"
    "For the purposes of this MOA, the jail means every detention facility the agency runs.\n\n"
)

SELECT_JS = """([words, nth]) => {
  const box = document.getElementById('document-text');
  let start = -1;
  for (let i = 0; i <= nth; i++) start = box.textContent.indexOf(words, start + 1);
  const end = start + words.length;
  const walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  let pos = 0, started = false, node;
  while ((node = walker.nextNode())) {
    const len = node.data.length;
    if (!started && start <= pos + len) { range.setStart(node, start - pos); started = true; }
    if (end <= pos + len) { range.setEnd(node, end - pos); break; }
    pos += len;
  }
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
  box.dispatchEvent(new MouseEvent('mouseup', {bubbles: true}));
}"""


@pytest.fixture
def moa(transactional_db):
    return DocumentFactory(
        kind=Document.Kind.MOA,
        title="Polk County 287(g) MOA",
        rights=Document.Rights.PUBLIC_DOMAIN,
        text=MOA_TEXT,
    )


def annotate(page, words: str, body: str, visibility: str = "Only me", nth: int = 0) -> int:
    """Select ``words`` in the text, write ``body``, save; the new note's id."""
    page.evaluate(SELECT_JS, [words, nth])
    trigger = page.get_by_role("button", name="Write a note on the selected words")
    trigger.click()
    assert page.evaluate("document.activeElement.name") == "body"
    page.keyboard.type(body)
    page.get_by_label(visibility).check()
    page.get_by_role("button", name="Save the note").click()
    page.wait_for_url(re.compile(r"#note-\d+$"))
    return int(page.url.rsplit("-", 1)[1])


def highlight(page, pk: int) -> str:
    """The words highlighted for note ``pk`` (its segments, joined)."""
    return page.evaluate(
        """(pk) => Array.from(document.querySelectorAll('#document-text mark[data-notes]'))
          .filter((m) => m.dataset.notes.split(' ').includes(String(pk)))
          .map((m) => m.textContent).join('')""",
        pk,
    )


def test_a_researcher_annotates_sees_the_highlight_and_others_do_not_see_a_private_note(
    browser, moa, tmp_path
):
    ana, bo = ResearcherFactory(), ResearcherFactory()
    page = new_page(browser)
    refused = csp_refusals(page)
    log_in(page, ana.username)
    page.goto(page.base + moa.get_absolute_url())
    # The container's text is the document's text, to the character.
    assert page.evaluate("document.getElementById('document-text').textContent") == MOA_TEXT

    first = annotate(page, CLAUSE, "Four weeks of training at ICE's site.")
    page.reload()
    assert highlight(page, first) == CLAUSE
    assert "Four weeks of training" in page.locator(f"#annotation-{first}").inner_text()

    # A selection that starts before a highlight and ends inside it is still
    # counted over the document's text.
    spanning = "Participating personnel shall be trained"
    second = annotate(page, spanning, "Who is trained.", visibility="Researchers")
    note = Annotation.objects.get(pk=second)
    assert (note.start, note.exact) == (MOA_TEXT.index(spanning), spanning)
    page.reload()
    assert highlight(page, second) == spanning
    assert page.locator("mark.note-overlap").count() == 1

    # The notes list goes to the highlight; the highlight goes back to its note.
    page.locator(f"#annotation-{first} a[href='#note-{first}']").click()
    assert page.url.endswith(f"#note-{first}")

    other = new_page(browser)
    log_in(other, bo.username)
    other.goto(other.base + moa.get_absolute_url())
    assert highlight(other, first) == ""
    assert "Four weeks of training" not in other.content()
    assert highlight(other, second) == spanning  # shared with researchers

    page.screenshot(path=str(screenshot_dir(tmp_path) / "document-notes-1280.png"), full_page=True)
    # On a phone: nothing sticks out, and the form is usable.
    page.set_viewport_size({"width": 375, "height": 812})
    page.goto(page.base + moa.get_absolute_url())
    page.evaluate(SELECT_JS, ["immigration officer", 0])
    page.get_by_role("button", name="Write a note on the selected words").click()
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= 375, overflowing(page, 375)
    page.screenshot(path=str(screenshot_dir(tmp_path) / "document-notes-375.png"), full_page=True)
    assert refused == []  # the script and styles are static files the policy allows


def test_without_javascript_a_note_is_written_by_copying_its_words(browser, moa):
    """The script only captures a selection: the highlights, the notes and the form work
    without it, the passage given by its words (which must occur once)."""
    page = new_page(browser, javascript=False)
    log_in(page, ResearcherFactory().username)
    page.goto(page.base + moa.get_absolute_url())
    page.locator("summary", has_text="Write a note").click()
    page.get_by_label("Passage").fill("ICE")
    page.get_by_role("textbox", name="Note:").fill("Which office?")
    page.get_by_role("button", name="Save the note").click()
    times = MOA_TEXT.count("ICE")
    assert f"These words occur {times} times" in page.locator("#note-form").inner_text()

    page.get_by_label("Passage").fill("at a location designated by ICE")
    page.get_by_role("button", name="Save the note").click()
    page.wait_for_url(re.compile(r"#note-\d+$"))
    pk = int(page.url.rsplit("-", 1)[1])
    assert page.locator(f"mark#note-{pk}").inner_text() == "at a location designated by ICE"
    assert "Which office?" in page.locator(f"#annotation-{pk}").inner_text()


def test_a_public_note_reaches_anonymous_readers_once_a_curator_approves_it(browser, moa):
    ana, curator = ResearcherFactory(), CuratorFactory()
    page = new_page(browser)
    log_in(page, ana.username)
    page.goto(page.base + moa.get_absolute_url())
    pk = annotate(page, "supervised and directed by ICE", "ICE directs.", visibility="Public")
    assert "Waiting for a curator" in page.locator(f"#annotation-{pk}").inner_text()

    anonymous = new_page(browser)
    anonymous.goto(anonymous.base + moa.get_absolute_url())
    assert highlight(anonymous, pk) == "" and "ICE directs." not in anonymous.content()

    admin = new_page(browser)
    log_in(admin, curator.username, "/admin/login/?next=/admin/research/annotation/")
    admin.wait_for_url(re.compile(r"/admin/research/annotation/"))
    admin.locator(f"input[name='_selected_action'][value='{pk}']").check()
    admin.locator("select[name='action']").select_option("approve")
    admin.get_by_role("button", name="Go").click()
    assert "1 note approved." in admin.locator(".messagelist").inner_text()

    anonymous.reload()
    assert highlight(anonymous, pk) == "supervised and directed by ICE"
    assert "ICE directs." in anonymous.locator(f"#annotation-{pk}").inner_text()


def test_after_a_new_extraction_with_an_inserted_paragraph_the_note_stays_on_its_clause(
    browser, moa
):
    ana = ResearcherFactory()
    page = new_page(browser)
    log_in(page, ana.username)
    page.goto(page.base + moa.get_absolute_url())
    pk = annotate(page, CLAUSE, "The training clause.")

    # Re-extracted: a paragraph inserted before the clause moves it down the text.
    new_text = MOA_TEXT.replace("II. TRAINING", INSERTED + "II. TRAINING")
    moa.text = new_text
    moa.text_sha256 = hashlib.sha256(new_text.encode()).hexdigest()
    moa.save(update_fields=["text", "text_sha256"])
    reanchor_document(moa)

    page.reload()
    assert page.evaluate("document.getElementById('document-text').textContent") == new_text
    assert highlight(page, pk) == CLAUSE
    note = Annotation.objects.get(pk=pk)
    assert (note.start, note.anchor) == (new_text.index(CLAUSE), Annotation.Anchor.ANCHORED)
