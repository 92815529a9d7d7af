"""What the browser tests share: Debian's chromium, pages on the live server, logging in.

Fixtures: ``browser`` (chromium for one test, ``browser.base`` is the live
server's address). Helpers: ``new_page``, ``log_in``, ``csp_refusals``,
``screenshot_dir``, ``overflowing``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import chromium_path

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "secret-pass-287g"  # the factories' password
OVERFLOWING_JS = """(width) => Array.from(document.querySelectorAll('body *'))
  .filter((el) => !el.closest('svg') && el.getBoundingClientRect().right > width + 1)
  .slice(0, 8).map((el) => el.tagName + '.' + el.className + ' ' + el.getBoundingClientRect().right)"""


@pytest.fixture
def browser(live_server, monkeypatch):
    """Debian's chromium for this test; ``browser.base`` is the live server's address."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the server has its own.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        browser.base = live_server.url
        yield browser
        browser.close()


def new_page(browser, width: int = 1280, *, height: int = 900, javascript: bool = True, **options):
    """A page in a context of its own (its own cookies); ``page.base`` is the server's address."""
    context = browser.new_context(
        viewport={"width": width, "height": height}, java_script_enabled=javascript, **options
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.base = browser.base
    return page


def log_in(page, username: str, path: str = "/accounts/login/") -> None:
    """Log in through the form at ``path``; returns once the form has sent the user on."""
    page.goto(page.base + path)
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("#id_password").press("Enter")
    page.wait_for_url(lambda url: "/login/" not in url)


def csp_refusals(page) -> list[str]:
    """A list that fills with what the Content Security Policy refuses on ``page``."""
    refused: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused.append(f"{page.url}: {message.text}")
            if "Content Security Policy" in message.text
            else None
        ),
    )
    return refused


def screenshot_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def overflowing(page, width: int) -> list[str]:
    """The elements sticking out past the right edge, to say what breaks the layout."""
    return page.evaluate(OVERFLOWING_JS, width)
