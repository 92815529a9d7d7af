"""A researcher watches a state in a real browser; a list that adds an agreement there is e-mailed.

Debian's chromium driven by Playwright against pytest-django's ``live_server``;
the list is ICE's real file, imported through the importer, whose commit sets
off the matching and the e-mail in-process (the embedded default).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core import mail

from agreements.models import AgreementEvent
from agreements.services.snapshots import snapshot_import
from tests.conftest import chromium_path
from tests.research.factories import ResearcherFactory

pytestmark = [pytest.mark.browser]

DATA = Path(__file__).resolve().parent.parent / "agreements" / "data"
MAY = "participatingAgencies05232025am.xlsx"
JULY = "participatingAgencies07112025pm.xlsx"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
]


def import_list(name: str) -> None:
    with open(DATA / name, "rb") as handle:
        snapshot_import(file=handle, filename=name)


@pytest.fixture
def page(transactional_db, live_server, monkeypatch):
    from playwright.sync_api import sync_playwright

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


def test_watch_a_state_then_a_new_list_there_is_emailed(page):
    import_list(MAY)
    ResearcherFactory(username="reader", email="reader@example.org")
    mail.outbox = []

    page.goto(page.base + "/accounts/login/?next=/me/watches/")
    page.get_by_label("Username").fill("reader")
    page.get_by_label("Password").fill("secret-pass-287g")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/me/watches/")
    page.get_by_label("A state").check()
    page.get_by_label("State", exact=True).select_option("NY")
    page.get_by_label("E-mail").select_option("realtime")
    page.get_by_role("button", name="Watch").click()
    page.wait_for_url("**/me/watches/")
    assert "State NY" in page.locator("table").inner_text()
    assert "Watch saved." in page.locator(".messages").inner_text()

    import_list(JULY)  # commits: the watch is matched and the e-mail sent, in-process

    signed = AgreementEvent.objects.filter(
        kind="signed", agency__state="NY", snapshot__original_filename=JULY
    ).select_related("agency")
    assert signed.exists()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["reader@example.org"]
    assert all(event.agency.name in message.body for event in signed)

    # The e-mail's unsubscribe link works in the browser without the session.
    link = next(line for line in message.body.splitlines() if "/alerts/unsubscribe/" in line)
    path = link[link.index("/alerts/unsubscribe/") :].strip()
    page.context.clear_cookies()
    page.goto(page.base + path)
    page.get_by_role("button", name="Unsubscribe").click()
    assert "No more e-mails" in page.locator("main").inner_text()
