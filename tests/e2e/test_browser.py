"""The public pages in a real browser (Debian's chromium, driven by Playwright).

The portal is loaded with ICE's real sample lists through the importer, served
by pytest-django's ``live_server``, and used the way a visitor would: search and
narrow by a facet, open an agency, change the as-of date of the statistics,
download a CSV. Screenshots at desktop and phone width go to
``$SCREENSHOT_DIR`` (default: the test's temporary folder).
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import pytest

from agreements.services.snapshots import snapshot_import
from tests.conftest import chromium_path

pytestmark = [pytest.mark.browser]

DATA = Path(__file__).resolve().parent.parent / "agreements" / "data"
MAY_SHA256 = "d5253958e4906e37c4b98a24b1a4f7308443c29ce6df92cfa3a9d03da8a1ebe0"
JULY_SHA256 = "fac5cf8f8e6d34aa10b1b92f98bfc57b6436cc78ad9438a05c1546256109b9df"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def sample_lists(transactional_db):
    """ICE's participating lists of May 23 and July 11, 2025, imported for real."""
    for name in ("participatingAgencies05232025am.xlsx", "participatingAgencies07112025pm.xlsx"):
        with open(DATA / name, "rb") as handle:
            snapshot_import(file=handle, filename=name)


@pytest.fixture
def browser_page(sample_lists, live_server, monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own
    # database work is done, and the server answers from its own thread.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        context = browser.new_context(
            viewport={"width": 1280, "height": 900}, accept_downloads=True
        )
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.base = live_server.url
        yield page
        context.close()
        browser.close()


def screenshot_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


OVERFLOWING_JS = """(width) => Array.from(document.querySelectorAll('body *'))
  .filter((el) => !el.closest('svg') && el.getBoundingClientRect().right > width + 1)
  .slice(0, 8).map((el) => el.tagName + '.' + el.className + ' ' + el.getBoundingClientRect().right)"""


def overflowing(page, width: int) -> list[str]:
    """The elements sticking out past the right edge, to say what breaks the layout."""
    return page.evaluate(OVERFLOWING_JS, width)


def result_total(page) -> int:
    heading = page.locator("#results-heading").inner_text()
    match = re.search(r"of ([\d,]+) result", heading)
    return int(match.group(1).replace(",", "")) if match else 0


def test_search_narrow_by_state_and_open_an_agency(browser_page):
    page = browser_page
    page.goto(page.base + "/search/")
    page.get_by_label("Search documents, agencies and notes").fill("sheriff")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"q=sheriff"))
    everywhere = result_total(page)
    assert everywhere > 50

    page.locator("section[aria-labelledby='facet-state'] a", has_text="Georgia").first.click()
    page.wait_for_url(re.compile(r"state=GA"))
    in_georgia = result_total(page)
    assert 0 < in_georgia < everywhere

    page.get_by_label("Search documents, agencies and notes").fill("Polk")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"q=Polk.*state=GA|state=GA.*q=Polk"))
    page.get_by_role("link", name=re.compile("Polk County Sheriff")).first.click()

    assert page.locator("h1").inner_text() == "Polk County Sheriff's Office"
    assert page.get_by_role("link", name="Georgia").first.is_visible()
    assert "2020-07-02" in page.locator("#agreements + .table-scroll").inner_text()
    # Each change of the timeline links to the ICE file it was seen in.
    page.locator(".timeline a", has_text="ICE list of 2025-05-23").first.click()
    assert MAY_SHA256 in page.locator("dl.facts").inner_text()


def test_statistics_follow_the_as_of_date_and_download_as_csv(browser_page, tmp_path):
    page = browser_page
    page.goto(page.base + "/statistics/")
    assert JULY_SHA256 in page.locator(".source").inner_text()

    page.get_by_label("As of").fill("2025-06-01")
    page.get_by_role("button", name="Show figures").click()
    page.wait_for_url(re.compile(r"as_of=2025-06-01"))
    assert "as of May 23, 2025" in page.locator("h1").inner_text()
    assert MAY_SHA256 in page.locator(".source").inner_text()
    total = int(page.locator(".card .figure").first.inner_text())

    with page.expect_download() as download_info:
        page.locator(".source").get_by_role("link", name="CSV").click()
    path = tmp_path / "stats.csv"
    download_info.value.save_as(path)
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["snapshot_sha256"] for row in rows} == {MAY_SHA256}
    assert sum(int(row["total"]) for row in rows) == total
    assert "FL" in {row["state"] for row in rows}


def test_pages_fit_a_phone_and_are_keyboard_usable(browser_page, tmp_path):
    page = browser_page
    folder = screenshot_dir(tmp_path)
    pages = {
        "home": "/",
        "agencies": "/agencies/?state=GA",
        "agency": "/agencies/polk-county-sheriffs-office-ga/",
        "stats": "/statistics/",
        "changes": "/changes/?state=GA",
        "data": "/data/",
        "documents": "/documents/",
    }
    for width in (1280, 375):
        page.set_viewport_size({"width": width, "height": 900})
        for name, path in pages.items():
            page.goto(page.base + path)
            wide = page.evaluate("document.documentElement.scrollWidth")
            assert wide <= width, (name, width, overflowing(page, width))
            page.screenshot(path=str(folder / f"{name}-{width}.png"), full_page=True)

    page.goto(page.base + "/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.keyboard.press("Enter")
    # The map's state tiles are links a keyboard reaches.
    tile = page.locator("svg.tile-map a[href='/states/FL/']")
    tile.focus()
    assert page.evaluate("document.activeElement.getAttribute('href')") == "/states/FL/"
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/states/FL/$"))
    assert "Florida" in page.locator("h1").inner_text()


CSP_PAGES = ["/", "/agencies/", "/states/FL/", "/statistics/", "/changes/", "/search/?q=sheriff"]


def test_the_content_security_policy_refuses_nothing_the_portal_serves(browser_page):
    """The browser enforces the policy: no page, the API docs included, breaks it."""
    page = browser_page
    refused: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused.append(f"{page.url}: {message.text}")
            if "Content Security Policy" in message.text
            else None
        ),
    )
    for path in CSP_PAGES:
        response = page.goto(page.base + path)
        assert "script-src 'self'" in response.headers["content-security-policy"]
    page.goto(page.base + "/api/docs/")
    # Swagger UI, drawn by its script files, lists the API's operations.
    page.get_by_text("/api/v1/agencies/", exact=True).first.wait_for()
    assert not refused


PHONE = {"width": 375, "height": 812}
LONG_WORD = "Supercalifragilisticexpialidocious" * 3
# Each visible column heading that a reader cannot reach: neither inside the
# viewport nor inside a scrolling region a keyboard can focus and a screen reader names.
UNREACHABLE_COLUMNS_JS = """() => {
  const width = window.innerWidth;
  const scroller = (el) => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      if (['auto', 'scroll'].includes(getComputedStyle(p).overflowX)) return p;
    }
    return null;
  };
  return Array.from(document.querySelectorAll('th')).filter((th) => th.offsetParent !== null)
    .filter((th) => {
      const box = th.getBoundingClientRect();
      if (box.left >= 0 && box.right <= width + 1) return false;
      const region = scroller(th);
      return !(region && region.getBoundingClientRect().right <= width + 1
        && region.tabIndex >= 0 && region.getAttribute('role') === 'region'
        && (region.getAttribute('aria-label') || region.getAttribute('aria-labelledby')));
    }).map((th) => th.textContent.trim());
}"""


def assert_fits_a_phone(page, name: str) -> None:
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= PHONE["width"], (name, overflowing(page, PHONE["width"]))
    assert page.evaluate(UNREACHABLE_COLUMNS_JS) == [], name


def test_on_a_phone_search_results_come_first_and_long_queries_wrap(browser_page, tmp_path):
    page = browser_page
    page.set_viewport_size(PHONE)
    page.goto(page.base + f"/search/?q=Polk+OR+{LONG_WORD}")

    first = page.locator(".search-results .hit").first.bounding_box()
    facets = page.locator("#facets-heading").bounding_box()
    assert first["y"] + first["height"] <= PHONE["height"], "the first result is below the fold"
    assert first["x"] >= 0 and first["x"] + first["width"] <= PHONE["width"]
    assert first["y"] < facets["y"]
    assert_fits_a_phone(page, "search")
    # The facets still narrow the results, without JavaScript.
    page.locator("section[aria-labelledby='facet-state'] a", has_text="Georgia").first.click()
    page.wait_for_url(re.compile(r"state=GA"))
    page.screenshot(path=str(screenshot_dir(tmp_path) / "search-375.png"), full_page=True)


def test_on_a_phone_every_table_column_of_an_agency_and_the_statistics_is_reachable(
    browser_page, tmp_path
):
    page = browser_page
    page.set_viewport_size(PHONE)
    for name, path in {
        "agency": "/agencies/polk-county-sheriffs-office-ga/",
        "stats": "/statistics/",
        "agreements": "/agreements/",
    }.items():
        page.goto(page.base + path)
        assert page.locator("th").count() > 0, name
        assert_fits_a_phone(page, name)
        page.screenshot(path=str(screenshot_dir(tmp_path) / f"{name}-375.png"), full_page=True)
