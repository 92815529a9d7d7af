"""Site-wide Celery tasks, the claimed task base, and the one way to send a task after a commit."""

from __future__ import annotations

import logging

from celery import Task, shared_task
from celery.exceptions import Retry
from django.db import transaction
from django.utils import timezone

logger = logging.getLogger(__name__)


@shared_task(
    name="portal.tasks.heartbeat_task", ignore_result=False, time_limit=30, soft_time_limit=20
)
def heartbeat_task(payload: str = "") -> dict:
    """Answer with the payload and the time: proves a worker is consuming."""
    return {"payload": payload, "at": timezone.now().isoformat()}


@shared_task(
    name="portal.tasks.work_recover_task",
    acks_late=True,
    soft_time_limit=60,
    time_limit=90,
    ignore_result=True,
)
def work_recover_task() -> int:
    """Send again unsent work and work a dead worker left (workers do it too; beat is a backstop)."""
    from portal.work import work_recover

    return work_recover()


class ClaimedTask(Task):
    """A task that runs once per work item, and that the next worker takes over from a dead one.

    ``self.request.resumed`` tells the body that a dead worker had started this work.
    """

    def __call__(self, *args, **kwargs):
        if self.request.is_eager or self.request.id is None:
            self.request.resumed = False
            return self.run(*args, **kwargs)
        from portal.work import heartbeat, work_claim, work_release

        claim = work_claim(task_id=self.request.id, task_name=self.name, args=args, kwargs=kwargs)
        if not claim.run:
            logger.info("%s[%s] is done or held by a live worker.", self.name, self.request.id)
            return None
        self.request.resumed = claim.resumed
        try:
            with heartbeat(claim.item):
                result = self.run(*args, **kwargs)
        except Retry:
            work_release(claim.item, done=False)
            raise
        except BaseException:
            work_release(claim.item, done=True)  # failures are recorded by the task itself
            raise
        work_release(claim.item, done=True)
        return result


def enqueue_on_commit(task, *args, **kwargs) -> None:
    """Send ``task`` once the current transaction commits, through the outbox.

    With a broker the message is stored first (``portal.work``), so a broker
    that is down only delays the work; in-process (eager) runs need no outbox.
    """
    from portal.celery import app

    if app.conf.task_always_eager:

        def run() -> None:
            try:
                task.apply_async(args=args, kwargs=kwargs)
            except Exception:
                logger.warning("%s%r failed in-process.", task.name, args, exc_info=True)

        transaction.on_commit(run)
        return
    from portal.work import work_enqueue

    work_enqueue(task, args, kwargs)
