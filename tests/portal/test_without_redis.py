"""The portal answers every public page and API list from the database when Redis is down.

A real gunicorn process is started on loopback against a SQLite file loaded with
two of ICE's lists and a published document, with ``REDIS_URL`` pointing at a
port where nothing listens (so the broker and the cache are both unreachable).
Every page reachable from the front page, at least once per URL pattern, and
every collection the API root lists must answer without a server error.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter, deque
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from django.urls import Resolver404, resolve

from tests.conftest import _free_port, start_gunicorn, stop_process

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "agreements" / "data"
DOCS = ROOT / "tests" / "research" / "data"
LISTS = ["participatingAgencies05232025am.xlsx", "participatingAgencies07112025pm.xlsx"]
PUBLISH = (
    "from research.models import Document\n"
    "from research.services.review import document_publish\n"
    "for d in Document.objects.all(): document_publish(document=d)\n"
)
# Sign-in pages and the health check (tested below) are not public pages.
SKIPPED = ("/admin/", "/accounts/", "/healthz")
# Pages a visitor reaches by links; each URL pattern is visited this many times at most.
VISITS_PER_PATTERN = 2


def _environment(var: Path, **extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.endswith("_URL") and k != "SECRET_KEY"}
    return {
        **keep,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "1",  # static files from the source tree, no collectstatic needed
        "DATABASE_URL": f"sqlite:///{var / 'portal.sqlite3'}",
        "VAR_DIR": str(var),
        "MEDIA_ROOT": str(var / "media"),
        "PORTAL_ENV_FILE": str(var / "no.env"),
        "OCR_ENABLED": "0",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def _manage(env: dict[str, str], *args: str) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]


@pytest.fixture(scope="module")
def loaded_site(tmp_path_factory) -> Path:
    """A SQLite portal with two ICE lists and two published documents, loaded without Redis."""
    var = tmp_path_factory.mktemp("no-redis")
    env = _environment(var)
    _manage(env, "migrate", "--noinput", "-v0")
    _manage(env, "import_ice_sheet", *(str(DATA / name) for name in LISTS))
    _manage(
        env,
        "ingest_document",
        str(DOCS / "article_287g.html"),
        str(DOCS / "287gWSO_BakerCoFl2019-10-15.pdf"),
    )
    _manage(env, "shell", "-c", PUBLISH)
    return var


@pytest.fixture(scope="module")
def portal_without_redis(loaded_site):
    """gunicorn on loopback with the broker and the cache at a port where nothing listens."""
    env = _environment(loaded_site, REDIS_URL=f"redis://127.0.0.1:{_free_port()}/0")
    proc, base = start_gunicorn(
        env=env,
        log_path=loaded_site / "gunicorn.log",
        ready_path="/methodology/",
        options=(f"--control-socket={loaded_site / 'gunicorn.ctl'}",),
    )
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            client.log = proc.log
            yield client
    finally:
        stop_process(proc)
        proc.log.close()


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        href = dict(attrs).get("href")
        if tag in {"a", "link"} and href:
            self.hrefs.append(href)


def _pattern(path: str) -> str | None:
    try:
        return resolve(path).view_name
    except Resolver404:
        return None


# Path parameters that are secrets handed to someone, not found by following links.
CAPABILITY_PARAMETERS = {"key", "token"}


def _public_patterns() -> set[str]:
    """Every named page of the portal's public apps that the authorization matrix says
    answers an anonymous GET with 200 (a researcher's own pages and forms' POST targets
    are not for the public), and the front page. Pages reached only by a link given to
    someone (a shared collection's key, a signed unsubscribe token) are not linked."""
    from tests.portal.test_authorization import ROWS, routes

    public = {row.pattern for row in ROWS if row.get[0] == 200}
    return {"home"} | {
        route.name
        for route in routes()
        if route.name
        and route.name.split(":")[0] in {"agreements", "research"}
        and route.pattern in public
        and not CAPABILITY_PARAMETERS & set(route.parameters)
    }


def _log_tail(client) -> str:
    client.log.seek(0)
    return client.log.read()[-4000:]


@pytest.mark.django_db
def test_every_public_page_answers_without_redis(portal_without_redis):
    client = portal_without_redis
    # The original files of documents are linked for researchers only; visited anyway.
    start = ["/", "/documents/1/file/", "/documents/2/file/"]
    queue, seen, visits, failures = deque(start), set(start), Counter(), []
    while queue:
        path = queue.popleft()
        name = _pattern(urlsplit(path).path)
        if name is None or visits[name] >= VISITS_PER_PATTERN:
            continue
        visits[name] += 1
        response = client.get(path)
        if response.status_code >= 500:
            failures.append(f"{path}: {response.status_code}")
        if "html" not in response.headers.get("content-type", ""):
            continue
        parser = _Links()
        parser.feed(response.text)
        for href in parser.hrefs:
            url = urlsplit(urljoin(path, href))
            if url.netloc and url.netloc != client.base_url.netloc.decode():
                continue
            target = url.path + (f"?{url.query}" if url.query else "")
            if target not in seen and not target.startswith(SKIPPED):
                seen.add(target)
                queue.append(target)

    assert not failures, f"server errors without Redis: {failures}\n{_log_tail(client)}"
    missed = _public_patterns() - set(visits)
    assert not missed, f"no link led to these pages: {sorted(missed)}"
    # Logged once, as a sentence, not a traceback per cache call.
    assert _log_tail(client).count("does not answer") <= 2


@pytest.mark.django_db
def test_every_api_collection_answers_without_redis(portal_without_redis):
    client = portal_without_redis
    root = client.get("/api/v1/")
    assert root.status_code == 200
    links = {name: url for name, url in root.json().items() if name != "docs"}
    failures = {}
    for name, url in links.items():
        response = client.get(url, params={"q": "sheriff"} if name == "search" else None)
        if response.status_code != 200:
            failures[name] = response.status_code
    assert not failures, f"API routes failing without Redis: {failures}\n{_log_tail(client)}"
    assert client.get("/api/docs/").status_code == 200


@pytest.mark.django_db
def test_health_reports_the_cache_and_broker_down_without_redis(portal_without_redis):
    response = portal_without_redis.get("/healthz")
    body = response.json()
    assert response.status_code == 503
    assert body["database"]["ok"] is True
    assert body["cache"]["ok"] is False
    assert "drawn from the database" in body["cache"]["detail"]
    assert re.match(r"failing: broker, cache", body["status"])
