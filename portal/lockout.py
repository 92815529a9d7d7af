"""Brute-force limits on logins and password resets.

django-axes counts failed logins in the database, per account and per client
address (``portal.throttling.client_address``), wherever they come from: the login page,
the admin and the API's Basic authentication. Past ``AXES_FAILURE_LIMIT`` the
account and the address are refused, even with the right password, until
``AXES_COOLOFF_TIME`` has passed: pages answer with a sentence, the API with a
429. Password-reset e-mails are capped per client address and per e-mail
address by the same cache-backed throttles as the API.
"""

from __future__ import annotations

import hashlib

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from drf_spectacular.authentication import BasicScheme
from rest_framework import authentication, exceptions, status, throttling

from portal.throttling import AddressRateThrottle


def lockout_message() -> str:
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return (
        "Too many failed logins for this account or from this address: logins are "
        f"refused for {minutes} minutes. Wait, then try again, or reset your password."
    )


class LockoutBackend(AxesStandaloneBackend):
    """Refuses logins for a locked account or address (the next backend checks passwords).

    A login with no request (the test client, the shell) comes from no web client
    and so has no address to count; it goes on to the password check.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def lockout_response(request: HttpRequest, original_response=None, credentials=None):
    """What a locked-out client gets: JSON for the API, a page for people; both 429."""
    message = lockout_message()
    retry_after = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(
            {"detail": message}, status=status.HTTP_429_TOO_MANY_REQUESTS
        )
    else:
        response = render(
            request,
            "registration/locked_out.html",
            {"message": message},
            status=status.HTTP_429_TOO_MANY_REQUESTS,
        )
    response["Retry-After"] = retry_after
    return response


class LockedOut(exceptions.APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "locked_out"


# Django's username field's length.
USERNAME_MAX_CHARS = 150


class LockoutBasicAuthentication(authentication.BasicAuthentication):
    """HTTP Basic auth whose failures count toward the lockout, which answers 429."""

    def authenticate_credentials(self, userid, password, request=None):
        # No account has such a name, and the lockout's records could not store it.
        if "\x00" in userid or "\x00" in password or len(userid) > USERNAME_MAX_CHARS:
            raise exceptions.AuthenticationFailed("Invalid username/password.")
        try:
            return super().authenticate_credentials(userid, password, request)
        except exceptions.AuthenticationFailed:
            # django-axes marks the request when this failure (or an earlier one) locks it.
            if request is not None and getattr(request, "axes_locked_out", False):
                exc = LockedOut(lockout_message())
                exc.wait = settings.AXES_COOLOFF_TIME.total_seconds()
                raise exc from None
            raise


class LockoutBasicScheme(BasicScheme):
    """The schema shows the lockout's Basic auth as the plain Basic auth it is."""

    target_class = "portal.lockout.LockoutBasicAuthentication"


# --- Password resets ---------------------------------------------------------------


class PasswordResetAddressThrottle(AddressRateThrottle):
    """Reset requests from one client address (the API's throttles, on Django's form)."""

    scope = "password_reset_address"


class PasswordResetEmailThrottle(throttling.SimpleRateThrottle):
    """Reset requests for one e-mail address, from anywhere."""

    scope = "password_reset_email"

    def get_cache_key(self, request, view) -> str | None:
        email = request.POST.get("email", "").strip().lower()
        if not email:
            return None
        digest = hashlib.sha256(email.encode()).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": digest}


RESET_LIMITED = (
    "Too many password reset requests from here or for this address: no more e-mails "
    "are sent for now. Use the link in an e-mail already sent, or try again in an hour."
)


class LimitedPasswordResetView(auth_views.PasswordResetView):
    """Django's reset form, sending a few e-mails at most per client and per address.

    The refusal is the same whether or not an account has that address, so the
    limit reveals nothing about who has an account.
    """

    throttle_classes = (PasswordResetAddressThrottle, PasswordResetEmailThrottle)

    def post(self, request, *args, **kwargs):
        # Every throttle counts the request (no short-circuit), as the API's do.
        allowed = [throttle().allow_request(request, self) for throttle in self.throttle_classes]
        if all(allowed):
            return super().post(request, *args, **kwargs)
        form = self.get_form()
        form.is_valid()
        form.add_error("email", RESET_LIMITED)
        response = self.render_to_response(self.get_context_data(form=form))
        response.status_code = status.HTTP_429_TOO_MANY_REQUESTS
        return response
