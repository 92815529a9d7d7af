"""The portal's models in the admin: invitations and requests for access."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from portal import accounts
from portal.admin_common import QueueFilter
from portal.models import AccessRequest, Invitation
from research import policy


class InvitationForm(forms.ModelForm):
    """The e-mail address to invite; inviting an open invitation's address sends it again."""

    class Meta:
        model = Invitation
        fields = ["email"]

    def clean_email(self) -> str:
        email = accounts.normalize_email(self.cleaned_data["email"])
        if get_user_model().objects.filter(email__iexact=email).exists():
            raise ValidationError(
                _("%(email)s already has an account: its owner can log in, or reset the password."),
                params={"email": email},
            )
        return email

    def validate_unique(self) -> None:
        # One open invitation per address is kept by sending that one again (accounts.invite).
        pass


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    """Curators invite researchers by e-mail; the link is sent, never shown here."""

    form = InvitationForm
    list_display = ["email", "state", "invited_by", "sent_at", "expires_at", "user"]
    list_filter = [("accepted_at", admin.EmptyFieldListFilter)]
    search_fields = ["email", "user__username"]
    readonly_fields = [
        "email",
        "invited_by",
        "access_request",
        "created_at",
        "sent_at",
        "expires_at",
        "accepted_at",
        "user",
    ]
    actions = ["send_again"]

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def has_add_permission(self, request) -> bool:
        return policy.can_invite(request.user)

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # an invitation is sent, sent again or deleted; never edited

    @admin.display(description=_("state"))
    def state(self, invitation: Invitation) -> str:
        if invitation.is_accepted:
            return _("accepted")
        return _("expired") if invitation.is_expired() else _("open")

    def save_form(self, request, form, change):
        return accounts.invite(email=form.cleaned_data["email"], invited_by=request.user)

    def save_model(self, request, obj, form, change) -> None:
        pass  # saved by accounts.invite in save_form

    def save_related(self, request, form, formsets, change) -> None:
        pass  # an invitation has nothing related to save

    def response_add(self, request, obj, post_url_continue=None):
        self.message_user(
            request,
            _("Invitation sent to %(email)s: the link works for %(days)s days.")
            % {"email": obj.email, "days": settings.INVITATION_EXPIRY_DAYS},
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:portal_invitation_changelist"))

    @admin.action(
        description=_("Send again with a new link (the old link stops working)"),
        permissions=["add"],
    )
    def send_again(self, request, queryset) -> None:
        sent = skipped = 0
        for invitation in queryset:
            if invitation.is_accepted:
                skipped += 1
                continue
            try:
                accounts.invite(email=invitation.email, invited_by=request.user)
            except accounts.AlreadyRegistered as error:
                self.message_user(request, str(error), messages.WARNING)
                skipped += 1
            else:
                sent += 1
        self.message_user(request, _("%(n)s invitation(s) sent again.") % {"n": sent})
        if skipped:
            self.message_user(
                request,
                _("%(n)s left alone: already accepted, or the address has an account.")
                % {"n": skipped},
                messages.WARNING,
            )


class AccessRequestQueueFilter(QueueFilter):
    """Opens on the requests waiting for an answer; curators switch to the answered or all."""

    title = _("status")
    parameter_name = "status"
    default = AccessRequest.Status.PENDING

    def lookups(self, request, model_admin):
        return [*AccessRequest.Status.choices, ("all", _("all requests"))]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset if value == "all" else queryset.filter(status=value)


@admin.register(AccessRequest)
class AccessRequestAdmin(admin.ModelAdmin):
    """The queue of requests for access: approve (an invitation is sent) or decline."""

    list_display = ["name", "email", "affiliation", "created_at", "status", "decided_by"]
    list_filter = [AccessRequestQueueFilter]
    search_fields = ["name", "email", "affiliation"]
    readonly_fields = [
        "name",
        "email",
        "affiliation",
        "reason",
        "status",
        "created_at",
        "decided_at",
        "decided_by",
    ]
    actions = ["approve", "decline"]

    def has_add_permission(self, request) -> bool:
        return False  # requests come from the public form

    def has_change_permission(self, request, obj=None) -> bool:
        return policy.can_answer_access_requests(request.user)

    def _answer(self, request, queryset, service, done: str) -> None:
        answered = 0
        for access_request in queryset:
            try:
                service(access_request=access_request, curator=request.user)
            except (ValueError, accounts.AlreadyRegistered) as error:
                self.message_user(request, str(error), messages.WARNING)
            else:
                answered += 1
        self.message_user(request, done % {"n": answered}, messages.SUCCESS)

    @admin.action(description=_("Approve: send an invitation"), permissions=["change"])
    def approve(self, request, queryset) -> None:
        self._answer(
            request, queryset, accounts.approve_request, _("%(n)s request(s) approved: invited.")
        )

    @admin.action(description=_("Decline: send a polite e-mail"), permissions=["change"])
    def decline(self, request, queryset) -> None:
        self._answer(request, queryset, accounts.decline_request, _("%(n)s request(s) declined."))
