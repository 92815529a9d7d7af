"""An invitee makes their account and logs in again, in a real browser (Debian's chromium)."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from portal import accounts
from research import policy
from tests.e2e.conftest import csp_refusals, new_page, overflowing, screenshot_dir
from tests.research.factories import CuratorFactory, role

pytestmark = [pytest.mark.browser]

PASSWORD = "a-long-new-passphrase-287g"


@pytest.mark.parametrize("width", [1280, 375])
def test_an_invitee_makes_their_account_and_logs_in_again(
    browser, live_server, transactional_db, tmp_path, width
):
    role(policy.RESEARCHERS)
    accounts.invite(email="rita@example.org", invited_by=CuratorFactory())
    (message,) = mail.outbox
    path = re.search(r"/accounts/invitation/[^\s/]+/", message.body).group(0)

    page = new_page(browser, width)
    refused = csp_refusals(page)
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
    page.context.close()
