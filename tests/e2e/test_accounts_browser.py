"""An invitee makes their account and logs in again, in a real browser (Debian's chromium)."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from portal import accounts
from research import policy
from tests.conftest import chromium_path
from tests.e2e.test_browser import CHROMIUM_ARGS, overflowing, screenshot_dir
from tests.research.factories import CuratorFactory, role

pytestmark = [pytest.mark.browser]

PASSWORD = "a-long-new-passphrase-287g"


@pytest.fixture
def browser(live_server, monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the server has its own.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.mark.parametrize("width", [1280, 375])
def test_an_invitee_makes_their_account_and_logs_in_again(
    browser, live_server, transactional_db, tmp_path, width
):
    role(policy.RESEARCHERS)
    accounts.invite(email="rita@example.org", invited_by=CuratorFactory())
    (message,) = mail.outbox
    path = re.search(r"/accounts/invitation/[^\s/]+/", message.body).group(0)

    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    refused: list[str] = []
    page.on(
        "console",
        lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
    )
    folder = screenshot_dir(tmp_path)

    page.goto(live_server.url + path)
    assert "rita@example.org" in page.locator("main").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= width, overflowing(page, width)
    page.get_by_label("Username").fill("rita")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.screenshot(path=str(folder / f"invitation-{width}.png"), full_page=True)
    page.get_by_role("button", name="Make my account").click()

    page.wait_for_url(live_server.url + "/")
    assert "Welcome, rita" in page.locator(".messages").inner_text()
    assert "rita" in page.locator(".account").inner_text()
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(live_server.url + "/")
    assert page.get_by_role("link", name="Log in").is_visible()

    # The link is spent; the password is what lets rita in from now on.
    assert page.goto(live_server.url + path).status == 410
    page.goto(live_server.url + "/accounts/login/")
    assert page.evaluate("document.documentElement.scrollWidth") <= width, overflowing(page, width)
    assert page.get_by_role("link", name="request access").is_visible()
    page.get_by_label("Username").fill("rita")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(live_server.url + "/")
    account = page.locator(".account")
    assert "rita" in account.inner_text()
    assert account.get_by_role("link", name="Change password").is_visible()
    page.screenshot(path=str(folder / f"logged-in-{width}.png"), full_page=True)
    assert refused == []
    context.close()
