"""Background work that survives a stopped broker and a killed worker.

``work_enqueue`` stores a ``WorkItem`` in the caller's transaction and sends the
message after commit (the outbox). A worker running a ``ClaimedTask`` claims the
item and beats a heartbeat while it works; ``work_recover``, run by every worker
on start and then periodically (and by beat), sends again what the broker never
took and what a dead holder left behind. The task id stays the same, so a late
copy of the original message finds the item done and does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import timedelta

from django.db import IntegrityError, close_old_connections, connection, transaction
from django.db.models import Q
from django.utils import timezone

from portal.models import WorkItem

logger = logging.getLogger(__name__)

# A holder beats this often; after STALE_AFTER without a beat it is presumed dead.
# A shorter limit recovers sooner but risks taking work from a holder stalled by load.
HEARTBEAT_INTERVAL = timedelta(seconds=10)
STALE_AFTER = timedelta(seconds=45)
# An item the after-commit send has not marked sent by then is sent by recovery.
PENDING_GRACE = timedelta(seconds=10)
# A sent message not started by then was lost (a broker that lost its data).
LOST_AFTER = timedelta(hours=2)
KEEP_DONE = timedelta(days=2)
RECOVER_INTERVAL_SECONDS = 15
TASK_ID_PREFIX = "work-"

_holders: dict[int, str] = {}


def holder() -> str:
    """Who holds a claim: this process (a forked pool child is another), never a restarted one."""
    pid = os.getpid()
    if pid not in _holders:
        _holders[pid] = f"{socket.gethostname()}:{pid}:{uuid.uuid4().hex[:8]}"
    return _holders[pid]


def _publish(item: WorkItem) -> None:
    from portal.celery import app

    # No result subscription: with Redis down, subscribing retries at length inside a request.
    app.send_task(
        item.task_name,
        args=item.args,
        kwargs=item.kwargs,
        task_id=item.task_id,
        ignore_result=True,
    )


def _mark_sent(pk: int) -> None:
    WorkItem.objects.filter(pk=pk, state=WorkItem.State.PENDING).update(
        state=WorkItem.State.SENT, state_changed_at=timezone.now()
    )


def work_enqueue(task, args: tuple = (), kwargs: dict | None = None) -> WorkItem:
    """Store the work in the current transaction; send it once that commits.

    A broker that is down only delays the work: the item stays pending and
    ``work_recover`` sends it when the broker answers again.
    """
    item = WorkItem.objects.create(
        task_id=f"{TASK_ID_PREFIX}{uuid.uuid4()}",
        task_name=task.name,
        args=list(args),
        kwargs=kwargs or {},
        state=WorkItem.State.PENDING,
        state_changed_at=timezone.now(),
    )

    def send() -> None:
        try:
            _publish(item)
        except Exception:  # kombu raises several kinds when the broker is unreachable
            logger.warning(
                "Could not send %s%r now; it stays in the outbox.", task.name, args, exc_info=True
            )
            return
        _mark_sent(item.pk)

    transaction.on_commit(send)
    return item


def _recoverable(now):
    return WorkItem.objects.filter(
        Q(state=WorkItem.State.PENDING, state_changed_at__lt=now - PENDING_GRACE)
        | Q(state=WorkItem.State.RUNNING, heartbeat_at__lt=now - STALE_AFTER)
        | Q(state=WorkItem.State.SENT, state_changed_at__lt=now - LOST_AFTER)
    )


def work_recover(*, limit: int = 500) -> int:
    """Send again unsent work and work whose holder died; returns how many were sent.

    Stops at the first send the broker refuses, leaving the rest for next time.
    """
    now = timezone.now()
    sent = 0
    WorkItem.objects.filter(
        state=WorkItem.State.DONE, state_changed_at__lt=now - KEEP_DONE
    ).delete()
    ids = list(_recoverable(now).order_by("state_changed_at").values_list("pk", flat=True)[:limit])
    for pk in ids:
        with transaction.atomic():
            item = _recoverable(now).select_for_update(skip_locked=True).filter(pk=pk).first()
            if item is None:
                continue
            try:
                _publish(item)
            except Exception:
                logger.warning("The broker refused %s; will try again.", item, exc_info=True)
                break
            if item.state == WorkItem.State.RUNNING:
                logger.warning("Taking over %s from %s, which stopped beating.", item, item.holder)
            item.state = WorkItem.State.SENT
            item.state_changed_at = timezone.now()
            item.save(update_fields=["state", "state_changed_at"])
            sent += 1
    return sent


class Claim:
    """The outcome of claiming a task's work item before running it."""

    def __init__(self, item: WorkItem | None, *, run: bool, resumed: bool = False):
        self.item = item
        self.run = run
        self.resumed = resumed


def work_claim(*, task_id: str, task_name: str, args, kwargs) -> Claim:
    """Claim the work for this process, unless it is done or alive in another's hands.

    A task id never stored (a beat message) is stored now, so its work can be
    taken over too. ``resumed`` says that a dead holder had started it.
    """
    now = timezone.now()
    try:
        with transaction.atomic():
            item = WorkItem.objects.select_for_update().filter(task_id=task_id).first()
            if item is None:
                if task_id.startswith(TASK_ID_PREFIX):
                    return Claim(None, run=False)  # stored by work_enqueue, then pruned
                item = WorkItem(
                    task_id=task_id, task_name=task_name, args=list(args), kwargs=kwargs
                )
            elif item.state == WorkItem.State.DONE:
                return Claim(item, run=False)
            if (
                item.state == WorkItem.State.RUNNING
                and item.holder != holder()
                and item.heartbeat_at
                and now - item.heartbeat_at < STALE_AFTER
            ):
                return Claim(item, run=False)
            # A holder recorded on an item not running is one that died (or retried).
            resumed = bool(item.holder)
            item.state = WorkItem.State.RUNNING
            item.holder = holder()
            item.heartbeat_at = now
            item.state_changed_at = now
            item.save()
            return Claim(item, run=True, resumed=resumed)
    except IntegrityError:  # another worker stored the same beat message first
        return Claim(None, run=False)


def work_release(item: WorkItem, *, done: bool) -> None:
    """Mark the work done, or sent again (a retry is on its way to the broker)."""
    WorkItem.objects.filter(pk=item.pk, holder=holder(), state=WorkItem.State.RUNNING).update(
        state=WorkItem.State.DONE if done else WorkItem.State.SENT,
        state_changed_at=timezone.now(),
    )


@contextmanager
def heartbeat(item: WorkItem):
    """Beat for ``item`` from a thread while the body runs, so a death is noticed."""
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(HEARTBEAT_INTERVAL.total_seconds()):
                try:
                    WorkItem.objects.filter(
                        pk=item.pk, holder=holder(), state=WorkItem.State.RUNNING
                    ).update(heartbeat_at=timezone.now())
                except Exception:
                    logger.warning("Heartbeat of %s failed.", item, exc_info=True)
                    close_old_connections()
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"heartbeat-{item.pk}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def _recover_forever() -> None:
    while True:
        try:
            close_old_connections()
            sent = work_recover()
            if sent:
                logger.info("Recovered %d work items.", sent)
        except Exception:
            logger.warning("Work recovery failed; will try again.", exc_info=True)
            close_old_connections()
        time.sleep(RECOVER_INTERVAL_SECONDS)


def start_recovery_thread() -> threading.Thread:
    """Recover on start and then periodically, in this worker, without waiting for beat."""
    thread = threading.Thread(target=_recover_forever, name="work-recovery", daemon=True)
    thread.start()
    return thread
