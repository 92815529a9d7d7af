"""The portal's own tables: the outbox and claims of background work, invitations,
access requests and API tokens."""

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


class Invitation(models.Model):
    """A curator's invitation to one e-mail address: a single-use link that expires.

    Only the SHA-256 of the link's token is kept, so the table cannot be used to
    accept anyone's invitation. Sending it again gives it a new token (the old
    link stops working) and a new expiry.
    """

    email = models.EmailField(_("e-mail address"))
    token_hash = models.CharField(_("token hash"), max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("invited by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    access_request = models.ForeignKey(
        "AccessRequest",
        verbose_name=_("answers the request"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="invitations",
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    sent_at = models.DateTimeField(_("last sent"), default=timezone.now)
    expires_at = models.DateTimeField(_("link expires"))
    accepted_at = models.DateTimeField(_("accepted"), null=True, blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("account made"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="invitation",
    )

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        ordering = ["-sent_at"]
        constraints = [
            # One open invitation per address: inviting again re-sends it.
            models.UniqueConstraint(
                fields=["email"],
                condition=models.Q(accepted_at__isnull=True),
                name="portal_invitation_one_open_per_email",
            ),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def is_accepted(self) -> bool:
        return self.accepted_at is not None

    def is_expired(self, now=None) -> bool:
        return (now or timezone.now()) >= self.expires_at


class AccessRequest(models.Model):
    """Someone asking, through the public form, for a researcher's account."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        APPROVED = "approved", _("approved: invitation sent")
        DECLINED = "declined", _("declined")

    name = models.CharField(_("name"), max_length=200)
    email = models.EmailField(_("e-mail address"))
    affiliation = models.CharField(_("affiliation"), max_length=300)
    reason = models.TextField(_("why they ask"), max_length=4000)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    created_at = models.DateTimeField(_("received"), default=timezone.now)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("access request")
        verbose_name_plural = _("access requests")
        ordering = ["-created_at"]
        constraints = [
            # Asking twice while the first request waits stores nothing new.
            models.UniqueConstraint(
                fields=["email"],
                condition=models.Q(status="pending"),
                name="portal_accessrequest_one_pending_per_email",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


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
