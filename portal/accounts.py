"""Researchers' accounts: invitations, requests for access, and their e-mails.

A curator invites an e-mail address; the invitee follows a single-use link
that expires after ``INVITATION_EXPIRY_DAYS`` and chooses a username and a
password, which makes an active account in the Researchers group. The link
carries a random token of which only the SHA-256 is stored. Someone without
an invitation asks through the public form; a curator approves the request
(which sends an invitation) or declines it (a polite e-mail).

E-mails leave after the transaction commits, so a rolled-back invitation never
sends a link that does not work.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from portal.context_processors import SITE_NAME
from portal.models import AccessRequest, Invitation
from research import policy

User = get_user_model()


class InvitationRefused(Exception):
    """An invitation link that cannot be used; ``gone`` when it existed but is spent."""

    def __init__(self, message: str, *, gone: bool):
        super().__init__(message)
        self.message = message
        self.gone = gone


class AlreadyRegistered(Exception):
    """An invitation to an address that already has an account."""


NOT_VALID = (
    "This invitation link is not valid. It may have been mistyped, or replaced by a newer "
    "invitation: use the link in the latest e-mail, or ask a curator to invite you again."
)
USED = (
    "This invitation has already been used to make an account. Log in with the username "
    "and password chosen then, or reset the password if it is lost."
)
EXPIRED = (
    "This invitation link has expired. Ask the curator who invited you to send it again, "
    "or request access again."
)


def normalize_email(email: str) -> str:
    """One spelling per address, so one person gets one invitation and one pending request."""
    return email.strip().lower()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_path(token: str) -> str:
    return reverse("invitation-accept", kwargs={"token": token})


def _expiry(now):
    return now + timedelta(days=settings.INVITATION_EXPIRY_DAYS)


def _send_after_commit(*, subject: str, template: str, context: dict, to: str) -> None:
    context = {"site_name": SITE_NAME, "site_url": settings.SITE_URL, **context}
    body = render_to_string(template, context)
    transaction.on_commit(
        lambda: send_mail(f"[{SITE_NAME}] {subject}", body, None, [to], fail_silently=False)
    )


# --- Invitations ----------------------------------------------------------------------


@transaction.atomic
def invite(
    *, email: str, invited_by=None, access_request: AccessRequest | None = None
) -> Invitation:
    """Invite ``email`` to make a researcher's account, and e-mail the link.

    An open invitation to the same address is sent again with a new token, so
    its earlier link stops working. An address that already has an account is
    refused with :class:`AlreadyRegistered`.
    """
    email = normalize_email(email)
    if User.objects.filter(email__iexact=email).exists():
        raise AlreadyRegistered(
            f"{email} already has an account: its owner can log in, or reset the password."
        )
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    invitation = (
        Invitation.objects.select_for_update().filter(email=email, accepted_at=None).first()
    )
    if invitation is None:
        invitation = Invitation(email=email, created_at=now)
    invitation.token_hash = token_hash(token)
    invitation.sent_at = now
    invitation.expires_at = _expiry(now)
    invitation.invited_by = invited_by or invitation.invited_by
    invitation.access_request = access_request or invitation.access_request
    invitation.save()
    _send_after_commit(
        subject="Your invitation to a researcher's account",
        template="registration/invitation_email.txt",
        context={
            "link": settings.SITE_URL + invitation_path(token),
            "expires_at": invitation.expires_at,
            "days": settings.INVITATION_EXPIRY_DAYS,
            "inviter": invited_by,
        },
        to=email,
    )
    return invitation


def open_invitation(*, token: str) -> Invitation:
    """The invitation a link's token opens, or :class:`InvitationRefused` saying why not."""
    invitation = Invitation.objects.filter(token_hash=token_hash(token)).first()
    if invitation is None:
        raise InvitationRefused(NOT_VALID, gone=False)
    if invitation.is_accepted:
        raise InvitationRefused(USED, gone=True)
    if invitation.is_expired():
        raise InvitationRefused(EXPIRED, gone=True)
    return invitation


def account_errors(*, username: str, password: str, email: str = "") -> dict[str, list[str]]:
    """What is wrong with a chosen username and password, by field (empty when nothing)."""
    errors: dict[str, list[str]] = {}
    field = User._meta.get_field(User.USERNAME_FIELD)
    username = User.normalize_username(username)
    try:
        field.clean(username, None)
    except ValidationError as error:
        errors["username"] = list(error.messages)
    else:
        if User._default_manager.filter(**{f"{User.USERNAME_FIELD}__iexact": username}).exists():
            errors["username"] = ["This username is taken: choose another."]
    try:
        validate_password(password, User(**{User.USERNAME_FIELD: username, "email": email}))
    except ValidationError as error:
        errors["password"] = list(error.messages)
    return errors


@transaction.atomic
def accept_invitation(*, token: str, username: str, password: str):
    """Make the invitee's account: active, in the Researchers group, with their password.

    Refused with :class:`InvitationRefused` (a spent or unknown link) or a
    ``ValidationError`` by field (a taken username, a weak password); either way
    nothing changes.
    """
    invitation = open_invitation(token=token)
    # Two tabs submitting at once: the second waits here, then finds the link spent.
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.token_hash != token_hash(token):
        raise InvitationRefused(NOT_VALID, gone=False)  # sent again meanwhile
    if invitation.is_accepted:
        raise InvitationRefused(USED, gone=True)
    errors = account_errors(username=username, password=password, email=invitation.email)
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                username=User.normalize_username(username),
                email=invitation.email,
                password=password,
            )
    except IntegrityError:
        raise ValidationError({"username": ["This username is taken: choose another."]}) from None
    user.groups.add(Group.objects.get(name=policy.RESEARCHERS))
    invitation.accepted_at = timezone.now()
    invitation.user = user
    invitation.save(update_fields=["accepted_at", "user"])
    return user


# --- Requests for access -------------------------------------------------------------


def request_access(*, name: str, email: str, affiliation: str, reason: str) -> AccessRequest:
    """Store a request for an account; a second one while the first waits stores nothing."""
    email = normalize_email(email)
    pending = AccessRequest.objects.filter(email=email, status=AccessRequest.Status.PENDING)
    existing = pending.first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return AccessRequest.objects.create(
                name=name.strip(), email=email, affiliation=affiliation.strip(), reason=reason
            )
    except IntegrityError:
        # The same request submitted twice at once: the other one was stored.
        return pending.get()


@transaction.atomic
def approve_request(*, access_request: AccessRequest, curator) -> Invitation:
    """Approve a pending request: the requester gets an invitation by e-mail."""
    access_request = AccessRequest.objects.select_for_update().get(pk=access_request.pk)
    if access_request.status != AccessRequest.Status.PENDING:
        raise ValueError(f"The request from {access_request.email} was already answered.")
    invitation = invite(
        email=access_request.email, invited_by=curator, access_request=access_request
    )
    access_request.status = AccessRequest.Status.APPROVED
    access_request.decided_at = timezone.now()
    access_request.decided_by = curator
    access_request.save(update_fields=["status", "decided_at", "decided_by"])
    return invitation


@transaction.atomic
def decline_request(*, access_request: AccessRequest, curator) -> AccessRequest:
    """Decline a pending request and tell the requester, politely, by e-mail."""
    access_request = AccessRequest.objects.select_for_update().get(pk=access_request.pk)
    if access_request.status != AccessRequest.Status.PENDING:
        raise ValueError(f"The request from {access_request.email} was already answered.")
    access_request.status = AccessRequest.Status.DECLINED
    access_request.decided_at = timezone.now()
    access_request.decided_by = curator
    access_request.save(update_fields=["status", "decided_at", "decided_by"])
    _send_after_commit(
        subject="Your request for a researcher's account",
        template="registration/access_declined_email.txt",
        context={"access_request": access_request},
        to=access_request.email,
    )
    return access_request
