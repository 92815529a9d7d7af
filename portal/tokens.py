"""API tokens: made and revoked on the dashboard, sent as ``Authorization: Bearer <token>``.

A token is ``287g_`` followed by a long random secret from :mod:`secrets`; the
database keeps its sha256 only, so a copy of the database opens no account.
Every API view accepts tokens (``TokenAuthentication`` is one of the
``DEFAULT_AUTHENTICATION_CLASSES``); a token acts with its owner's permissions,
and the throttles count it both for its owner and on its own
(``portal.throttling.TokenRateThrottle``).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import NoReturn

from django.db import transaction
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, status

from portal.models import ApiToken

PREFIX = "287g_"
# 32 random bytes: as strong as the sha256 that stores them.
SECRET_BYTES = 32
# The last-used time is written at most this often, not on every request.
LAST_USED_PRECISION = timedelta(minutes=1)
# Enough for a laptop, a server and a few scripts; a person past it revokes old ones.
MAX_ACTIVE_TOKENS = 20
KEYWORDS = ("bearer", "token")


class TokenRefused(ValueError):
    """A token that cannot be made or revoked; ``message`` says why."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def token_create(*, user, name: str, expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """Make a token for ``user``; returns it and its secret, which is never available again."""
    name = " ".join(name.split())
    if not name:
        raise TokenRefused("Give the token a name, such as the computer or script that uses it.")
    if len(name) > 100:
        raise TokenRefused("A token's name is at most 100 characters; give a shorter one.")
    now = timezone.now()
    if expires_at is not None and expires_at <= now:
        raise TokenRefused("The expiry date has passed; choose a day in the future, or none.")
    with transaction.atomic():
        active = (
            ApiToken.objects.select_for_update()
            .filter(user=user, revoked_at__isnull=True)
            .exclude(expires_at__lte=now)
        )
        if len(active) >= MAX_ACTIVE_TOKENS:
            raise TokenRefused(
                f"You already have {MAX_ACTIVE_TOKENS} tokens in use; revoke one you no "
                "longer need, then make a new one."
            )
        secret = PREFIX + secrets.token_urlsafe(SECRET_BYTES)
        token = ApiToken.objects.create(
            user=user,
            name=name,
            key_hash=token_hash(secret),
            key_prefix=secret[: len(PREFIX) + 6],
            expires_at=expires_at,
        )
    return token, secret


def token_revoke(*, user, token_id: int) -> ApiToken:
    """Revoke one of ``user``'s tokens; someone else's is ``ApiToken.DoesNotExist``."""
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().get(pk=token_id, user=user)
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
    return token


def user_tokens(user):
    """``user``'s tokens, newest first, revoked ones included (they say when)."""
    return ApiToken.objects.filter(user=user)


def _mark_used(token: ApiToken, now: datetime) -> None:
    """Record the use, at most once per :data:`LAST_USED_PRECISION` (one UPDATE, no read)."""
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_PRECISION:
        return
    stale = now - LAST_USED_PRECISION
    ApiToken.objects.filter(pk=token.pk).exclude(last_used_at__gt=stale).update(last_used_at=now)
    token.last_used_at = now


class TokenNotAccepted(exceptions.APIException):
    """401 with a sentence and the scheme to use.

    DRF turns ``AuthenticationFailed`` into 403 when the first authentication
    class (the session's) names no scheme; a token that was sent and refused
    is a 401, whatever the order of the classes.
    """

    status_code = status.HTTP_401_UNAUTHORIZED
    default_code = "token_not_accepted"
    auth_header = 'Bearer realm="api"'


def _refuse(message: str) -> NoReturn:
    raise TokenNotAccepted(message)


class TokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <token>`` (or ``Token <token>``): the token's owner."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode("latin-1").lower() not in KEYWORDS:
            return None  # another scheme (Basic) or none: the other classes decide
        if len(header) != 2:
            _refuse(
                "Send the token as “Authorization: Bearer <token>”, with no space in the token."
            )
        try:
            secret = header[1].decode("ascii")
        except UnicodeDecodeError:
            _refuse(
                "This API token is not one the portal made; copy it again from where you kept it."
            )
        token = ApiToken.objects.select_related("user").filter(key_hash=token_hash(secret)).first()
        now = timezone.now()
        if token is None:
            _refuse(
                "This API token is not known: check it was copied whole, or make a new one "
                "on your dashboard (/me/)."
            )
        if token.revoked_at is not None:
            _refuse(
                f"This API token was revoked on {token.revoked_at:%Y-%m-%d}; make a new one "
                "on your dashboard (/me/)."
            )
        if token.expired(now):
            _refuse(
                f"This API token expired on {token.expires_at:%Y-%m-%d}; make a new one on "
                "your dashboard (/me/)."
            )
        if not token.user.is_active:
            _refuse("The account this API token belongs to is disabled.")
        _mark_used(token, now)
        return token.user, token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class TokenScheme(OpenApiAuthenticationExtension):
    """The schema documents tokens as HTTP bearer authentication."""

    target_class = "portal.tokens.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "An API token made on your dashboard (/me/), sent as "
                "`Authorization: Bearer <token>` (`Token <token>` works too)."
            ),
        }
