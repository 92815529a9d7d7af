"""Who a request comes from, for every limit the portal sets on a client.

Behind ``NUM_PROXIES`` trusted proxies, the client is the address the outermost
trusted proxy saw: the ``NUM_PROXIES``-th address from the right of
``X-Forwarded-For``. Anything further left was written by the client and is
ignored; with no proxy (the default) only the socket's ``REMOTE_ADDR`` counts, so
a client cannot take a new identity by sending a header. This is the rule of
Django REST framework's ``NUM_PROXIES``, read from the portal's own setting.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from rest_framework import throttling


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


class AnonRateThrottle(ClientAddressMixin, throttling.AnonRateThrottle):
    """DRF's limit for anonymous clients, by their trusted address."""


class UserRateThrottle(ClientAddressMixin, throttling.UserRateThrottle):
    """DRF's limit per account (per trusted address when anonymous)."""


class AddressRateThrottle(throttling.SimpleRateThrottle):
    """A limit per client address on one of the portal's forms; ``scope`` names its rate."""

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": client_address(request)}
