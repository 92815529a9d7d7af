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

from tests.e2e.conftest import log_in, new_page, overflowing, screenshot_dir
from tests.research.factories import CollectionFactory, ResearcherFactory

pytestmark = [pytest.mark.browser]


def call_api(url: str, secret: str) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {secret}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_make_a_token_on_the_dashboard_and_call_the_api_with_it(
    browser, transactional_db, tmp_path
):
    ResearcherFactory(username="ana")
    page = new_page(browser)
    base = page.base
    log_in(page, "ana", "/accounts/login/?next=/me/")
    page.wait_for_url(f"{base}/me/")
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


def test_the_dashboard_fits_a_phone(browser, transactional_db, tmp_path):
    researcher = ResearcherFactory(username="ben")
    CollectionFactory(owner=researcher, title="A collection with a rather long title to wrap")
    page = new_page(browser)
    base = page.base
    log_in(page, "ben", "/accounts/login/?next=/me/")
    page.wait_for_url(f"{base}/me/")
    page.get_by_label("Token name").fill("phone")
    page.get_by_role("button", name="Make a token").click()
    page.set_viewport_size({"width": 375, "height": 800})
    assert overflowing(page, 375) == []  # the page showing the long secret
    page.goto(f"{base}/me/")
    page.screenshot(path=str(screenshot_dir(tmp_path) / "dashboard-375.png"), full_page=True)
    assert overflowing(page, 375) == []
