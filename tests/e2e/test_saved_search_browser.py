"""A researcher saves a search in a real browser; a document published later is in the daily e-mail.

Debian's chromium driven by Playwright against pytest-django's ``live_server``.
The curator's publication commits in this process, so the matching runs
in-process (the embedded default); the daily digest is the beat task called
directly, as beat would send it to an in-process worker.
"""

from __future__ import annotations

import pytest
from django.core import mail

from research.models import Document
from research.services.review import document_publish
from research.tasks import alert_digests_task
from tests.conftest import chromium_path
from tests.e2e.test_browser import CHROMIUM_ARGS
from tests.research.factories import CuratorFactory, DocumentFactory, ResearcherFactory

pytestmark = [pytest.mark.browser]


@pytest.fixture
def page(transactional_db, live_server, monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the server has its own.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 375, "height": 800})
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.base = live_server.url
        yield page
        context.close()
        browser.close()


def test_a_search_saved_from_the_search_page_is_in_the_daily_email_once(page):
    DocumentFactory(title="Old jail inspection report")  # already public: not news
    ResearcherFactory(username="reader", email="reader@example.org")
    curator = CuratorFactory()
    mail.outbox = []

    page.goto(page.base + "/accounts/login/?next=/search/")
    page.get_by_label("Username").fill("reader")
    page.get_by_label("Password").fill("secret-pass-287g")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/search/")
    page.get_by_label("Search documents, agencies and notes").fill("jail")
    page.get_by_role("button", name="Search", exact=True).click()
    page.get_by_role("link", name="Save this search").click()
    page.wait_for_url("**/me/searches/?search=*")
    page.get_by_label("Name").fill("Jails")
    page.get_by_label("E-mail").select_option("daily")
    page.get_by_role("button", name="Save search").click()
    page.wait_for_url("**/me/searches/")
    assert "Search saved." in page.locator(".messages").inner_text()
    assert "Jails" in page.locator("table").inner_text()
    assert "Daily" in page.locator("table").inner_text()

    document = DocumentFactory(status="needs_review", title="County jail joins 287(g)")
    DocumentFactory(
        status="needs_review", title="Budget hearing", text="The council discussed roads."
    )
    for waiting in Document.objects.filter(status="needs_review"):
        document_publish(document=waiting, user=curator)  # commits: matched in-process
    assert mail.outbox == []  # a daily search waits for the daily digest

    assert alert_digests_task("daily") == 1
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["reader@example.org"]
    assert "County jail joins 287(g)" in message.body
    assert document.get_absolute_url() in message.body
    assert "Budget hearing" not in message.body
    assert "Old jail inspection report" not in message.body

    assert alert_digests_task("daily") == 0  # the next day, nothing new: nothing sent
    assert len(mail.outbox) == 1
