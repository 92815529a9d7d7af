"""Every page carries a Content-Security-Policy that no inline script can pass.

The policy allows the portal's own files only, and the pages hold no inline
script, event handler or style for it to refuse: a rendered page is parsed and
each ``<script>`` must load a file (or be inert JSON data).
"""

from __future__ import annotations

import datetime as dt
import io
from html.parser import HTMLParser
from pathlib import Path

import pytest

from agreements.services import snapshot_import
from tests.agreements.ice_builder import row, workbook
from tests.conftest import run_python
from tests.research.factories import DocumentFactory

ROOT = Path(__file__).resolve().parents[2]

PAGES = [
    "/",
    "/agencies/",
    "/agencies/?state=TX",
    "/agreements/",
    "/states/TX/",
    "/statistics/",
    "/changes/",
    "/data/",
    "/methodology/",
    "/documents/",
    "/search/?q=sheriff",
    "/api/docs/",
    "/accounts/login/",
    "/admin/login/",
]
INERT_SCRIPT_TYPES = {"application/json", "application/ld+json"}


@pytest.fixture
def site():
    data = workbook([row(), row(agency="Tyler County Sheriff's Office")])
    snapshot = snapshot_import(
        file=io.BytesIO(data),
        filename="participatingAgencies06022025am.xlsx",
        published_at=dt.datetime(2025, 6, 2, 9, tzinfo=dt.UTC),
    ).snapshot
    document = DocumentFactory(status="published")
    agency = snapshot.rows.first().agency
    return [
        *PAGES,
        agency.get_absolute_url(),
        snapshot.get_absolute_url(),
        f"/documents/{document.pk}/",
    ]


def policy(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy", "")
    directives = [part.split() for part in header.split(";") if part.strip()]
    return {words[0]: words[1:] for words in directives}


class InlineCode(HTMLParser):
    """Collects what the CSP refuses: inline scripts, handlers, <style> elements."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []
        self._inline_script = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "script":
            inert = (attributes.get("type") or "").lower() in INERT_SCRIPT_TYPES
            self._inline_script = not attributes.get("src") and not inert
        if tag == "style":
            self.found.append("<style> element")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=...>")
            if name in {"href", "src", "action"} and (value or "").lower().startswith(
                "javascript:"
            ):
                self.found.append(f"<{tag} {name}=javascript:...>")

    def handle_data(self, data):
        if self._inline_script and data.strip():
            self.found.append(f"inline <script>: {data.strip()[:60]}")

    def handle_endtag(self, tag):
        if tag == "script":
            self._inline_script = False


@pytest.mark.django_db
def test_every_page_sends_a_policy_of_its_own_files_with_no_inline_script(client, site):
    for path in site:
        response = client.get(path)
        assert response.status_code == 200, path
        directives = policy(response)
        assert directives.get("default-src") == ["'self'"], path
        assert directives.get("script-src") == ["'self'"], path
        assert "'unsafe-inline'" not in directives.get("style-src", ["'unsafe-inline'"]), path
        remote = [w for ws in directives.values() for w in ws if w.startswith(("http", "*"))]
        assert not remote, f"{path} allows remote sources: {remote}"


@pytest.mark.django_db
def test_no_page_holds_inline_script_or_style_element(client, site):
    found = {}
    for path in site:
        parser = InlineCode()
        parser.feed(client.get(path).content.decode())
        if parser.found:
            found[path] = parser.found
    assert not found


@pytest.mark.django_db
def test_the_api_docs_script_is_a_file_of_the_portal(client):
    page = client.get("/api/docs/").content.decode()
    assert 'src="/api/docs/?script=' in page
    script = client.get("/api/docs/", {"script": ""})
    assert script.status_code == 200
    assert "javascript" in script["Content-Type"]
    assert "SwaggerUIBundle" in script.content.decode()


def _policies(debug: str) -> str:
    """Which of the enforced and the report-only policy the settings send, as "True False"."""
    code = (
        "import portal.settings as s; "
        "print(bool(s.CONTENT_SECURITY_POLICY), bool(s.CONTENT_SECURITY_POLICY_REPORT_ONLY))"
    )
    env = {"PATH": "/usr/bin:/bin", "DEBUG": debug, "SECRET_KEY": "k" * 20 + "0123456789" * 4}
    result = run_python(code, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_development_only_reports_what_the_policy_refuses():
    """Django's debug pages are inline: with DEBUG=1 the same policy is report-only."""
    assert _policies("0") == "True False"
    assert _policies("1") == "False True"
