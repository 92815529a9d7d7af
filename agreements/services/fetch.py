"""Download ICE's current 287(g) lists from its web page and import what is new."""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import PurePosixPath
from urllib.parse import unquote, urljoin, urlsplit

from agreements.models import ListSnapshot
from agreements.services.snapshots import ImportResult, SnapshotImportError, snapshot_import
from portal.http import FetchError, fetch

logger = logging.getLogger(__name__)

DEFAULT_PAGE_URL = "https://www.ice.gov/identify-and-arrest/287g"
PAGE_MAX_BYTES = 5 * 1024 * 1024
XLSX_ACCEPT = (
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet, "
    "application/octet-stream;q=0.9, */*;q=0.5"
)


@dataclass(frozen=True)
class ListLink:
    """A spreadsheet link on ICE's page and the list it seems to be."""

    url: str
    text: str
    kind: str | None


@dataclass
class FetchedList:
    """What happened to one of ICE's lists during a fetch."""

    url: str
    kind: str | None
    result: ImportResult | None = None
    known: ListSnapshot | None = None
    error: str = ""
    retryable: bool = False

    @property
    def ok(self) -> bool:
        return not self.error

    def summary(self) -> str:
        """One line for the log or the terminal."""
        label = self.kind or "unknown list"
        if self.error:
            return f"{label}: {self.error}"
        if self.known is not None:
            return (
                f"{label}: {self.url} is unchanged (already imported as snapshot "
                f"{self.known.pk}, published {self.known.published_at:%Y-%m-%d %H:%M})."
            )
        assert self.result is not None
        return f"{label}: {self.result.summary()}"


class _LinkParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href") or None
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, " ".join("".join(self._text).split())))
            self._href = None


def _kind_of(href: str, text: str) -> str | None:
    words = f"{unquote(href)} {text}".lower()
    if "pending" in words:
        return ListSnapshot.Kind.PENDING
    if "participat" in words:
        return ListSnapshot.Kind.PARTICIPATING
    return None


def ice_list_links(html: str, base_url: str) -> list[ListLink]:
    """The .xlsx links of ICE's 287(g) page, absolute, in page order, without repeats."""
    parser = _LinkParser()
    parser.feed(html)
    parser.close()
    links: dict[str, ListLink] = {}
    for href, text in parser.links:
        url = urljoin(base_url, href.strip())
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"}:
            continue
        if not parts.path.lower().endswith(".xlsx"):
            continue
        url = url.split("#", 1)[0]
        links.setdefault(url, ListLink(url=url, text=text, kind=_kind_of(parts.path, text)))
    found = list(links.values())
    # When the page names the lists, keep those; other spreadsheets are not ours.
    named = [link for link in found if link.kind]
    return named or found


def _filename(url: str) -> str:
    name = PurePosixPath(unquote(urlsplit(url).path)).name
    return name or "ice-287g-list.xlsx"


def _fetch_one(link: ListLink) -> FetchedList:
    outcome = FetchedList(url=link.url, kind=link.kind)
    try:
        download = fetch(link.url, accept=XLSX_ACCEPT)
    except FetchError as exc:
        outcome.error, outcome.retryable = str(exc), exc.retryable
        return outcome
    digest = hashlib.sha256(download.content).hexdigest()
    outcome.known = ListSnapshot.objects.filter(sha256=digest).first()
    if outcome.known is not None:
        return outcome
    try:
        outcome.result = snapshot_import(
            file=io.BytesIO(download.content),
            filename=_filename(download.final_url or link.url),
            source_url=download.final_url or link.url,
        )
    except SnapshotImportError as exc:
        outcome.error = str(exc)
    return outcome


def ice_lists_fetch(*, page_url: str = "") -> list[FetchedList]:
    """Read ICE's 287(g) page, download each list it links to, and import the new ones.

    A file already imported (same sha256) is not imported again. Raises
    ``FetchError`` when the page itself cannot be read or links to no list;
    a list that fails is reported in its ``FetchedList`` and the others proceed.
    """
    page_url = page_url or DEFAULT_PAGE_URL
    page = fetch(page_url, max_bytes=PAGE_MAX_BYTES, accept="text/html")
    html = page.content.decode("utf-8", errors="replace")
    links = ice_list_links(html, page.final_url or page_url)
    if not links:
        raise FetchError(
            f"The page {page_url} links to no .xlsx spreadsheet; ICE may have changed it, "
            "so check the page and pass the new address with --url.",
            retryable=False,
        )
    outcomes = [_fetch_one(link) for link in links]
    kinds = {link.kind for link in links}
    for kind in ListSnapshot.Kind.values:
        if None not in kinds and kind not in kinds:
            outcomes.append(
                FetchedList(
                    url=page_url,
                    kind=kind,
                    error=f"The page links to no {kind} agencies spreadsheet this time.",
                )
            )
    for outcome in outcomes:
        logger.info("ICE lists: %s", outcome.summary())
    return outcomes
