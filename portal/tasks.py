"""Site-wide Celery tasks and the one way to send a task after a commit."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import transaction
from django.utils import timezone

logger = logging.getLogger(__name__)


@shared_task(
    name="portal.tasks.heartbeat_task", ignore_result=False, time_limit=30, soft_time_limit=20
)
def heartbeat_task(payload: str = "") -> dict:
    """Answer with the payload and the time: proves a worker is consuming."""
    return {"payload": payload, "at": timezone.now().isoformat()}


def enqueue_on_commit(task, *args, **kwargs) -> None:
    """Send ``task`` once the current transaction commits.

    The database is the source of truth for pending work, so a broker that is
    down only delays the work: the failure is logged and the periodic sweep of
    the owning app sends the task again later.
    """

    def send() -> None:
        try:
            task.apply_async(args=args, kwargs=kwargs)
        except Exception:  # kombu raises several kinds when the broker is unreachable
            logger.warning(
                "Could not send %s%r now; the periodic sweep will retry.",
                task.name,
                args,
                exc_info=True,
            )

    transaction.on_commit(send)
