"""The portal's own tables: the outbox and claims of background work, and API tokens."""

from django.conf import settings
from django.db import models
from django.utils import timezone
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


class ApiToken(models.Model):
    """A named key to the API that a person makes on their dashboard.

    Only the sha256 of the secret is kept: the secret is shown once, when the
    token is made, and cannot be read back. A revoked token stays, so its owner
    (and the API's refusal) can say when it was revoked.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        verbose_name=_("owner"),
    )
    name = models.CharField(_("name"), max_length=100)
    key_hash = models.CharField(_("sha256 of the secret"), max_length=64, unique=True)
    key_prefix = models.CharField(
        _("start of the secret"), max_length=12, help_text=_("Shown to tell tokens apart.")
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["user", "revoked_at"], name="portal_token_user_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"

    def expired(self, now=None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    @property
    def active(self) -> bool:
        return self.revoked_at is None and not self.expired()
