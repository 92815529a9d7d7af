"""Celery tasks of the research app: thin wrappers around the services."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from portal.http import FetchError
from portal.tasks import ClaimedTask
from research.models import Document
from research.services.ingest import (
    document_process,
    document_process_interrupted,
    documents_requeue_stale,
)

PROCESS_SOFT_TIME_LIMIT = 5 * 60
PROCESS_TIME_LIMIT = 6 * 60


@shared_task(
    bind=True,
    base=ClaimedTask,
    name="research.tasks.document_process_task",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(FetchError,),
    retry_backoff=30,
    retry_backoff_max=15 * 60,
    retry_jitter=True,
    max_retries=4,
    soft_time_limit=PROCESS_SOFT_TIME_LIMIT,
    time_limit=PROCESS_TIME_LIMIT,
    ignore_result=True,
)
def document_process_task(self, document_id: int) -> str:
    """Fetch, extract, de-duplicate and link one document; safe to run twice.

    Only transient fetch errors (timeouts, 5xx, 429, connection) are raised for
    a retry with backoff; in-process (eager) runs never wait to retry, the
    periodic sweep sends the document again instead.
    """
    retry = not self.request.is_eager and self.request.retries < self.max_retries
    try:
        document = document_process(
            document_id=document_id,
            retry_transient=retry,
            resume=getattr(self.request, "resumed", False),
        )
    except Document.DoesNotExist:
        return "missing"
    except SoftTimeLimitExceeded:
        document_process_interrupted(
            document_id=document_id,
            reason=f"Processing took longer than {PROCESS_SOFT_TIME_LIMIT // 60} minutes.",
        )
        return "interrupted"
    return document.status


@shared_task(
    name="research.tasks.documents_requeue_stale_task",
    acks_late=True,
    soft_time_limit=120,
    time_limit=180,
    ignore_result=True,
)
def documents_requeue_stale_task(queued_for_seconds: int = 600) -> int:
    """Re-send documents left queued or fetching for too long (lost messages, dead workers)."""
    return documents_requeue_stale(queued_for=timedelta(seconds=queued_for_seconds))


@shared_task(
    name="research.tasks.search_postings_refresh_task",
    soft_time_limit=20 * 60,
    time_limit=25 * 60,
    ignore_result=True,
)
def search_postings_refresh_task() -> int:
    """Read again the searched words' postings after a write, so searches need not."""
    from research.search.sync import search_postings_refresh

    return search_postings_refresh()


# --- Feeds and MOA links (C2): polled by Celery beat, see CELERY_BEAT_SCHEDULE. ---


@shared_task(
    name="research.tasks.feeds_poll_task",
    acks_late=True,
    soft_time_limit=60,
    time_limit=90,
    ignore_result=True,
)
def feeds_poll_task() -> int:
    """Send one ``feed_poll_task`` per active feed; returns how many were sent."""
    from portal.tasks import enqueue_on_commit
    from research.models import Feed

    feed_ids = list(Feed.objects.filter(active=True).values_list("pk", flat=True))
    for feed_id in feed_ids:
        enqueue_on_commit(feed_poll_task, feed_id)
    return len(feed_ids)


@shared_task(
    name="research.tasks.feed_poll_task",
    acks_late=True,
    soft_time_limit=5 * 60,
    time_limit=6 * 60,
    ignore_result=True,
)
def feed_poll_task(feed_id: int) -> str:
    """Poll one feed (conditional request) and submit its new entries."""
    from research.models import Feed
    from research.services.feeds import feed_poll

    feed = Feed.objects.filter(pk=feed_id, active=True).first()
    if feed is None:
        return "inactive or deleted"
    return feed_poll(feed=feed).summary()


@shared_task(
    name="research.tasks.agreement_moas_submit_task",
    acks_late=True,
    soft_time_limit=10 * 60,
    time_limit=11 * 60,
    ignore_result=True,
)
def agreement_moas_submit_task() -> str:
    """Submit every agreement's MOA and addendum link that has no document yet."""
    from research.services.moas import agreement_moas_submit

    return agreement_moas_submit().summary()


# --- Alerts: matching after each list and each published document, then sending. ---


@shared_task(
    bind=True,
    base=ClaimedTask,
    name="research.tasks.alerts_match_snapshot_task",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=5 * 60,
    time_limit=6 * 60,
    ignore_result=True,
)
def alerts_match_snapshot_task(self, snapshot_id: int) -> int:
    """Match a newly applied list's changes against the watches (a second run adds nothing)."""
    from research.services.alerts import alerts_match_snapshot, alerts_send_pending

    result = alerts_match_snapshot(snapshot_id=snapshot_id)
    if getattr(self.request, "resumed", False):
        alerts_send_pending()  # what the dead worker matched but had not sent
    return result.deliveries


@shared_task(
    bind=True,
    base=ClaimedTask,
    name="research.tasks.alerts_match_documents_task",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=5 * 60,
    time_limit=6 * 60,
    ignore_result=True,
)
def alerts_match_documents_task(self, document_ids: list[int]) -> int:
    """Match newly published documents against saved searches and MOA watches."""
    from research.services.alerts import alerts_match_documents, alerts_send_pending

    result = alerts_match_documents(document_ids=document_ids)
    if getattr(self.request, "resumed", False):
        alerts_send_pending()  # what the dead worker matched but had not sent
    return result.deliveries


@shared_task(
    bind=True,
    base=ClaimedTask,
    name="research.tasks.alert_digest_send_task",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=60,
    time_limit=90,
    ignore_result=True,
)
def alert_digest_send_task(self, digest_id: int) -> bool:
    """Send one alert e-mail unless it was sent (a killed worker's digest is sent by the next)."""
    from research.services.alerts import digest_send

    return digest_send(digest_id=digest_id)


@shared_task(
    name="research.tasks.alert_digests_task",
    acks_late=True,
    soft_time_limit=10 * 60,
    time_limit=11 * 60,
    ignore_result=True,
)
def alert_digests_task(rate: str) -> int:
    """Run by beat: gather each researcher's unsent deliveries at ``rate`` and send them."""
    from research.services.alerts import alerts_send_pending, digests_prepare

    prepared = digests_prepare(rate=rate)
    alerts_send_pending()
    return prepared


@shared_task(
    bind=True,
    base=ClaimedTask,
    name="research.tasks.webhook_call_task",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=60,
    time_limit=90,
    ignore_result=True,
)
def webhook_call_task(self, call_id: int) -> str:
    """POST one delivery to its webhook; a failure waits for ``alerts_send_pending_task``."""
    from research.services.alerts import webhook_call_attempt

    return webhook_call_attempt(call_id=call_id)


@shared_task(
    name="research.tasks.alerts_send_pending_task",
    acks_late=True,
    soft_time_limit=60,
    time_limit=90,
    ignore_result=True,
)
def alerts_send_pending_task() -> int:
    """Run by beat each minute: webhook calls whose backoff is over, digests a dead worker left."""
    from research.services.alerts import alerts_send_pending

    return alerts_send_pending(settled=timedelta(minutes=2))


def alerts_on_snapshot_applied(sender, snapshot_id: int, **kwargs) -> None:
    """Receiver of agreements.signals.snapshot_applied: match the list's changes in the background."""
    from portal.tasks import enqueue_on_commit

    enqueue_on_commit(alerts_match_snapshot_task, snapshot_id)
