"""Feeds curators follow are polled politely and each entry becomes a document."""

from __future__ import annotations

import time

import pytest

from research.models import Document, Feed
from research.services.feeds import feed_poll
from research.tasks import feeds_poll_task

from .factories import FeedFactory

pytestmark = pytest.mark.django_db

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0">
<channel>
  <title>County Ledger: immigration</title>
  <link>{base}/</link>
  <description>Local news</description>
  <item>
    <title>Sheriff signs 287(g) agreement with ICE</title>
    <link>{base}/news/sheriff-signs.html</link>
    <pubDate>Tue, 04 Mar 2025 10:00:00 GMT</pubDate>
  </item>
  <item>
    <title>Commissioners question jail program</title>
    <link>{base}/news/commissioners.html?utm_source=rss</link>
    <pubDate>Wed, 05 Mar 2025 10:00:00 GMT</pubDate>
  </item>
</channel>
</rss>
"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>State Legislature: bills</title>
  <id>urn:uuid:60a76c80-d399-11d9-b93C-0003939e0af6</id>
  <updated>2025-03-05T18:30:02Z</updated>
  <entry>
    <title>SB 1718 as enrolled</title>
    <link rel="alternate" href="{base}/bills/sb1718.html"/>
    <id>urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a</id>
    <updated>2025-03-05T18:30:02Z</updated>
  </entry>
</feed>
"""


@pytest.fixture(autouse=True)
def no_pace(settings):
    settings.FETCH_HOST_INTERVAL_SECONDS = 0


def serve_feed(server, path: str, body: str, etag: str = '"v1"', requests: list | None = None):
    """Serve ``body`` at ``path`` with an ETag, answering 304 when it matches."""

    def route(handler):
        if requests is not None:
            requests.append(dict(handler.headers))
        if handler.headers.get("If-None-Match") == etag:
            return 304, {"ETag": etag}, b""
        headers = {
            "Content-Type": "application/rss+xml; charset=utf-8",
            "ETag": etag,
            "Last-Modified": "Wed, 05 Mar 2025 12:00:00 GMT",
        }
        return 200, headers, body.format(base=server.base_url)

    server.routes[path] = route
    return server.url(path)


def test_rss_entries_become_queued_documents(local_server):
    feed = FeedFactory(url=serve_feed(local_server, "/rss.xml", RSS), title="")
    result = feed_poll(feed=feed)
    assert result.error == ""
    assert result.entries == 2
    documents = Document.objects.order_by("pk")
    assert [d.title for d in documents] == [
        "Sheriff signs 287(g) agreement with ICE",
        "Commissioners question jail program",
    ]
    assert {d.kind for d in documents} == {"news"}
    feed.refresh_from_db()
    assert feed.title == "County Ledger: immigration"
    assert (feed.etag, feed.last_error) == ('"v1"', "")
    assert feed.last_modified == "Wed, 05 Mar 2025 12:00:00 GMT"
    assert feed.last_polled_at is not None


def test_atom_entries_take_the_feed_kind(local_server):
    feed = FeedFactory(url=serve_feed(local_server, "/atom.xml", ATOM), default_kind="legislation")
    feed_poll(feed=feed)
    document = Document.objects.get()
    assert (document.title, document.kind) == ("SB 1718 as enrolled", "legislation")
    assert document.urls.get().url.endswith("/bills/sb1718.html")


def test_second_poll_is_conditional_and_304_adds_nothing(local_server):
    requests: list = []
    feed = FeedFactory(url=serve_feed(local_server, "/rss.xml", RSS, requests=requests))
    feed_poll(feed=feed)
    before = Document.objects.count()
    result = feed_poll(feed=Feed.objects.get(pk=feed.pk))
    assert result.not_modified
    assert requests[1].get("If-None-Match") == '"v1"'
    assert requests[1].get("If-Modified-Since") == "Wed, 05 Mar 2025 12:00:00 GMT"
    assert Document.objects.count() == before


def test_entries_already_known_are_not_duplicated(local_server):
    feed = FeedFactory(url=serve_feed(local_server, "/rss.xml", RSS))
    feed_poll(feed=feed)
    Feed.objects.filter(pk=feed.pk).update(etag="", last_modified="")
    feed_poll(feed=Feed.objects.get(pk=feed.pk))
    assert Document.objects.count() == 2


def test_malformed_feed_is_recorded_and_nothing_else_changes(local_server):
    local_server.routes["/broken.xml"] = (
        200,
        {"Content-Type": "text/html"},
        "<html><body><h1>We moved our news!</h1><p>Unclosed <b>tags",
    )
    feed = FeedFactory(
        url=local_server.url("/broken.xml"), etag='"old"', last_modified="Mon, 03 Mar 2025"
    )
    result = feed_poll(feed=feed)
    feed.refresh_from_db()
    assert "did not return a valid RSS or Atom feed" in feed.last_error
    assert result.error == feed.last_error
    assert (feed.etag, feed.last_modified) == ('"old"', "Mon, 03 Mar 2025")
    assert not Document.objects.exists()


def test_unreachable_feed_is_recorded(local_server):
    feed = FeedFactory(url=local_server.url("/missing.xml"))
    feed_poll(feed=feed)
    feed.refresh_from_db()
    assert "404" in feed.last_error or "not found" in feed.last_error.lower()
    assert not Document.objects.exists()


def test_feeds_poll_task_polls_active_feeds_only(local_server, django_capture_on_commit_callbacks):
    active = FeedFactory(url=serve_feed(local_server, "/rss.xml", RSS))
    FeedFactory(url=serve_feed(local_server, "/atom.xml", ATOM), active=False)
    with django_capture_on_commit_callbacks(execute=True):
        assert feeds_poll_task() == 1
    assert Document.objects.count() == 2
    active.refresh_from_db()
    assert active.last_polled_at is not None


def test_beat_polls_feeds_and_moa_links_with_registered_tasks(settings):
    from portal.celery import app

    app.loader.import_default_modules()
    for entry in ("research-poll-feeds", "research-submit-moas"):
        assert settings.CELERY_BEAT_SCHEDULE[entry]["task"] in app.tasks


@pytest.mark.celery_worker
def test_a_worker_polls_a_feed_sent_through_the_broker(local_server, celery_worker):
    FeedFactory(url=serve_feed(local_server, "/rss.xml", RSS))
    feeds_poll_task.delay()
    deadline = time.monotonic() + 60
    while Document.objects.count() < 2 and time.monotonic() < deadline:
        time.sleep(0.25)
    assert Document.objects.count() == 2, celery_worker.worker_log.read()[-2000:]
