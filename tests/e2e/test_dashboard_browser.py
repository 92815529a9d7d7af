"""A researcher makes an API token on the dashboard in a real browser and calls the API with it.

Debian's chromium through Playwright; the API is then called with urllib, as a
script would, against the same live server. The dashboard is also checked at
phone width (375 px) for anything sticking out.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.conftest import chromium_path
from tests.e2e.test_browser import CHROMIUM_ARGS, overflowing, screenshot_dir
from tests.research.factories import CollectionFactory, ResearcherFactory

pytestmark = [pytest.mark.browser]


@pytest.fixture
def browser_context(transactional_db, live_server, monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the server has its own.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        yield context
        context.close()
        browser.close()


def call_api(url: str, secret: str) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {secret}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def log_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/?next=/me/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("secret-pass-287g")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/me/")


def test_make_a_token_on_the_dashboard_and_call_the_api_with_it(
    browser_context, live_server, tmp_path
):
    ResearcherFactory(username="ana")
    base = live_server.url
    page = browser_context.new_page()
    log_in(page, base, "ana")
    page.get_by_label("Token name").fill("my script")
    page.get_by_role("button", name="Make a token").click()
    secret = page.get_by_label("Token").input_value()
    assert secret.startswith("287g_")
    assert page.get_by_text("it is shown only this once").is_visible()

    status, body = call_api(f"{base}/api/v1/me/usage/", secret)
    assert status == 200
    assert body["username"] == "ana"
    assert body["token"]["name"] == "my script"

    page.goto(f"{base}/me/")
    assert secret not in page.content()
    page.get_by_role("button", name="Revoke my script").click()
    page.wait_for_url(f"{base}/me/#tokens")
    status, body = call_api(f"{base}/api/v1/me/usage/", secret)
    assert status == 401
    assert "revoked" in body["detail"]


def test_the_dashboard_fits_a_phone(browser_context, live_server, tmp_path):
    researcher = ResearcherFactory(username="ben")
    CollectionFactory(owner=researcher, title="A collection with a rather long title to wrap")
    base = live_server.url
    page = browser_context.new_page()
    log_in(page, base, "ben")
    page.get_by_label("Token name").fill("phone")
    page.get_by_role("button", name="Make a token").click()
    page.set_viewport_size({"width": 375, "height": 800})
    assert overflowing(page, 375) == []  # the page showing the long secret
    page.goto(f"{base}/me/")
    page.screenshot(path=str(screenshot_dir(tmp_path) / "dashboard-375.png"), full_page=True)
    assert overflowing(page, 375) == []
