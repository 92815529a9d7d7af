"""Who a request comes from, for every limit the portal sets on a client.

Behind ``NUM_PROXIES`` trusted proxies, the client is the address the outermost
trusted proxy saw: the ``NUM_PROXIES``-th address from the right of
``X-Forwarded-For``. Anything further left was written by the client and is
ignored; with no proxy (the default) only the socket's ``REMOTE_ADDR`` counts, so
a client cannot take a new identity by sending a header. This is the rule of
Django REST framework's ``NUM_PROXIES``, read from the portal's own setting.

The API's throttles count a client three ways: anonymous clients by address,
each account (all its sessions and tokens together), and each API token on its
own, so one runaway script does not use up its owner's other tokens. Each
throttle notes what is left of its allowance on the request, which
``RateLimitHeadersMiddleware`` sends back as ``X-RateLimit-Limit`` and
``X-RateLimit-Remaining`` (the tightest of the limits that counted the
request), and :func:`usage` reads for ``/api/v1/me/usage/``.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from rest_framework import throttling

from portal.models import ApiToken


def client_address(request: HttpRequest) -> str:
    """The client's address as seen by the first proxy the portal trusts (or the socket)."""
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.NUM_PROXIES
    if proxies <= 0:
        return remote
    forwarded = [
        address.strip()
        for address in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if address.strip()
    ]
    if not forwarded:
        return remote
    return forwarded[-min(proxies, len(forwarded))]


class ClientAddressMixin:
    """Identify anonymous clients by :func:`client_address`."""

    def get_ident(self, request) -> str:
        return client_address(request)


class CountedMixin:
    """Notes on the request what this throttle leaves of its allowance, once it decides."""

    def allow_request(self, request, view) -> bool:
        allowed = super().allow_request(request, view)
        if self.rate is not None and self.key is not None:
            _note(request, self._state(allowed))
        return allowed

    def _state(self, allowed: bool) -> dict:
        oldest = self.history[-1] if self.history else self.now
        return {
            "scope": self.scope,
            "limit": self.num_requests,
            "remaining": max(self.num_requests - len(self.history), 0) if allowed else 0,
            "period_seconds": self.duration,
            "resets_in_seconds": max(int(self.duration - (self.now - oldest)), 0),
        }

    def peek(self, request, view) -> dict | None:
        """The state now, without counting a request (for the usage endpoint)."""
        if self.rate is None:
            return None
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return None
        self.now = self.timer()
        self.history = [t for t in self.cache.get(self.key, []) if t > self.now - self.duration]
        return self._state(True)


class AnonRateThrottle(CountedMixin, ClientAddressMixin, throttling.AnonRateThrottle):
    """DRF's limit for anonymous clients, by their trusted address."""


class UserRateThrottle(CountedMixin, ClientAddressMixin, throttling.UserRateThrottle):
    """DRF's limit per account (per trusted address when anonymous)."""


class AddressRateThrottle(throttling.SimpleRateThrottle):
    """A limit per client address on one of the portal's forms; ``scope`` names its rate."""

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": client_address(request)}


class TokenRateThrottle(CountedMixin, throttling.SimpleRateThrottle):
    """A limit per API token, within its owner's; requests without a token pass."""

    scope = "token"

    def get_cache_key(self, request, view) -> str | None:
        if not isinstance(request.auth, ApiToken):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}


# --- Telling a client its usage -------------------------------------------------

_NOTES = "portal_rate_limits"


def _note(request, state: dict) -> None:
    # On Django's request, which the middleware sees, not DRF's wrapper.
    django_request = getattr(request, "_request", request)
    notes = getattr(django_request, _NOTES, None)
    if notes is None:
        notes = {}
        setattr(django_request, _NOTES, notes)
    notes[state["scope"]] = state


def usage(request, view) -> list[dict]:
    """What each of ``view``'s throttles has left for this client, this request counted."""
    states = []
    for throttle in view.get_throttles():
        state = throttle.peek(request, view) if isinstance(throttle, CountedMixin) else None
        if state is not None:
            states.append(state)
    return states


class RateLimitHeadersMiddleware:
    """Adds ``X-RateLimit-Limit`` and ``X-RateLimit-Remaining`` to throttled API answers.

    The figures are those of the limit closest to running out, the one that
    will refuse the client first.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        notes = getattr(request, _NOTES, None)
        if notes:
            tightest = min(notes.values(), key=lambda s: (s["remaining"], s["limit"]))
            response["X-RateLimit-Limit"] = str(tightest["limit"])
            response["X-RateLimit-Remaining"] = str(tightest["remaining"])
            response["X-RateLimit-Reset"] = str(tightest["resets_in_seconds"])
        return response
