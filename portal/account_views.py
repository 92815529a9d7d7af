"""Account pages beyond Django's own: accepting an invitation, requesting access."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_safe
from rest_framework import status

from portal import accounts
from portal.forms import AccessRequestForm, InvitedAccountForm
from portal.throttling import AddressRateThrottle

REQUESTS_LIMITED = (
    "Too many requests for access from here: nothing was stored. Try again in an hour, "
    "or write to the portal's curators."
)


class AccessRequestThrottle(AddressRateThrottle):
    scope = "access_request_address"


def _refused(request, refusal: accounts.InvitationRefused):
    return render(
        request,
        "registration/invitation_invalid.html",
        {"message": refusal.message},
        status=status.HTTP_410_GONE if refusal.gone else status.HTTP_404_NOT_FOUND,
    )


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def accept_invitation(request, token: str):
    """The invitation link's page: choose a username and password, and be logged in."""
    try:
        invitation = accounts.open_invitation(token=token)
    except accounts.InvitationRefused as refusal:
        return _refused(request, refusal)
    form = InvitedAccountForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            user = accounts.accept_invitation(
                token=token,
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password1"],
            )
        except accounts.InvitationRefused as refusal:
            return _refused(request, refusal)
        except ValidationError as error:
            for field, sentences in error.message_dict.items():
                for sentence in sentences:
                    form.add_error("password1" if field == "password" else field, sentence)
        else:
            login(request, user, backend="portal.auth.PermissionsBackend")
            messages.success(request, f"Welcome, {user.get_username()}: your account is ready.")
            return redirect("home")
    return render(
        request, "registration/invitation_accept.html", {"form": form, "invitation": invitation}
    )


@require_http_methods(["GET", "HEAD", "POST"])
def request_access(request):
    """The public form asking curators for a researcher's account."""
    form = AccessRequestForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if not AccessRequestThrottle().allow_request(request, None):
            form.is_valid()
            form.add_error(None, REQUESTS_LIMITED)
            response = render(request, "registration/request_access.html", {"form": form})
            response.status_code = status.HTTP_429_TOO_MANY_REQUESTS
            return response
        if form.is_valid():
            accounts.request_access(**form.cleaned_data)
            return redirect("request-access-sent")
    return render(request, "registration/request_access.html", {"form": form})


@require_safe
def request_access_sent(request):
    return render(request, "registration/request_access_sent.html")
