"""Celery tasks of the agreements app."""

from __future__ import annotations

import random

from celery import shared_task

from agreements.services.fetch import ice_lists_fetch
from portal.http import FetchError
from portal.tasks import ClaimedTask

MAX_RETRIES = 5


def retry_delay(retries: int) -> int:
    """Seconds before retry number ``retries + 1``: 2, 4, 8… minutes, jittered, at most 1 h."""
    base = min(120 * 2**retries, 3600)
    return base + random.randint(0, base // 4)  # noqa: S311 - jitter, not security


@shared_task(
    bind=True,
    base=ClaimedTask,
    name="agreements.tasks.fetch_ice_lists_task",
    acks_late=True,
    max_retries=MAX_RETRIES,
    time_limit=15 * 60,
    soft_time_limit=14 * 60,
)
def fetch_ice_lists_task(self, url: str = "") -> list[str]:
    """Download ICE's current lists and import the new ones (idempotent by sha256).

    Transient failures (timeouts, 5xx, 429) are retried with backoff; lists
    already imported are skipped on the retry.
    """
    try:
        outcomes = ice_lists_fetch(page_url=url)
    except FetchError as exc:
        if exc.retryable:
            raise self.retry(exc=exc, countdown=retry_delay(self.request.retries)) from exc
        raise
    transient = [o for o in outcomes if o.retryable]
    if transient:
        error = FetchError("; ".join(o.error for o in transient), retryable=True)
        raise self.retry(exc=error, countdown=retry_delay(self.request.retries))
    return [outcome.summary() for outcome in outcomes]
