"""Poll the RSS and Atom feeds curators follow; each new entry becomes a document."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import feedparser
from django.core.exceptions import ValidationError
from django.utils import timezone

from portal.http import FetchError, fetch
from research.models import Document, Feed
from research.services.ingest import document_submit

__all__ = ["FeedPollResult", "feed_poll"]

logger = logging.getLogger(__name__)

FEED_MAX_BYTES = 5 * 1024 * 1024
FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)


@dataclass
class FeedPollResult:
    """What one poll of a feed did."""

    feed: Feed
    not_modified: bool = False
    entries: int = 0
    documents: list[Document] = field(default_factory=list)
    error: str = ""

    def summary(self) -> str:
        if self.error:
            return f"{self.feed}: {self.error}"
        if self.not_modified:
            return f"{self.feed}: not modified since the last poll."
        return f"{self.feed}: {self.entries} entries, {len(self.documents)} submitted."


def _entry_url(entry) -> str:
    link = entry.get("link", "")
    if not link:
        for candidate in entry.get("links", []):
            if candidate.get("rel", "alternate") == "alternate" and candidate.get("href"):
                link = candidate["href"]
                break
    return link.strip()


def _feed_error(feed: Feed, message: str) -> FeedPollResult:
    """Record why the poll failed; the feed's validators and entries stay as they were."""
    feed.last_error = message
    feed.last_polled_at = timezone.now()
    feed.save(update_fields=["last_error", "last_polled_at"])
    return FeedPollResult(feed=feed, error=message)


def feed_poll(*, feed: Feed) -> FeedPollResult:
    """Fetch ``feed`` (conditionally) and submit every entry's link as a document.

    A 304 answer means nothing new. A feed that cannot be fetched or parsed
    gets a sentence in ``last_error`` and nothing else changes. Entries already
    known come back as their existing document (``document_submit`` de-duplicates).
    """
    try:
        result = fetch(
            feed.url,
            max_bytes=FEED_MAX_BYTES,
            accept=FEED_ACCEPT,
            etag=feed.etag,
            last_modified=feed.last_modified,
        )
    except FetchError as exc:
        return _feed_error(feed, exc.message)
    if result.not_modified:
        feed.last_error = ""
        feed.last_polled_at = timezone.now()
        feed.save(update_fields=["last_error", "last_polled_at"])
        return FeedPollResult(feed=feed, not_modified=True)

    parsed = feedparser.parse(result.content)
    if not parsed.get("version") or (parsed.get("bozo") and not parsed.entries):
        reason = parsed.get("bozo_exception")
        detail = f" ({reason})" if reason else ""
        return _feed_error(
            feed,
            f"The address {feed.url} did not return a valid RSS or Atom feed{detail}; "
            "check the feed address.",
        )

    poll = FeedPollResult(feed=feed, entries=len(parsed.entries))
    for entry in parsed.entries:
        url = _entry_url(entry)
        if not url:
            continue
        try:
            document = document_submit(
                url=url,
                kind=feed.default_kind,
                title=(entry.get("title") or "")[:500],
                feed=feed,
            )
        except (ValidationError, ValueError) as exc:  # IngestError is a ValueError
            logger.info("Feed %s: entry %s refused: %s", feed.pk, url, exc)
            continue
        poll.documents.append(document)

    feed.etag = result.etag[:255]
    feed.last_modified = result.last_modified[:255]
    feed.last_error = ""
    feed.last_polled_at = timezone.now()
    if not feed.title:
        feed.title = (parsed.feed.get("title") or "")[:255]
    feed.save(update_fields=["etag", "last_modified", "last_error", "last_polled_at", "title"])
    return poll
