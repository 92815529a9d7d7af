"""The portal's own table: the outbox and claims of background work."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class WorkItem(models.Model):
    """One task message: stored before it is sent, claimed while it runs.

    The row outlives the broker and the worker: a message Redis could not take
    is sent again when it answers, and work whose holder stopped beating is
    sent again to the next worker, under the same task id so it runs once.
    """

    class State(models.TextChoices):
        PENDING = "pending", _("pending: not yet sent to the broker")
        SENT = "sent", _("sent: waiting for a worker")
        RUNNING = "running", _("running")
        DONE = "done", _("done")

    task_id = models.CharField(_("task id"), max_length=64, unique=True)
    task_name = models.CharField(_("task"), max_length=200)
    args = models.JSONField(_("arguments"), default=list, blank=True)
    kwargs = models.JSONField(_("keyword arguments"), default=dict, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=State.choices)
    holder = models.CharField(_("held by"), max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(_("last heartbeat"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    state_changed_at = models.DateTimeField(_("state changed"))

    class Meta:
        verbose_name = _("work item")
        verbose_name_plural = _("work items")
        indexes = [models.Index(fields=["state", "state_changed_at"], name="portal_work_state_idx")]

    def __str__(self) -> str:
        return f"{self.task_name}{tuple(self.args)!r} ({self.state})"
