"""Researchers' accounts: invitations, requests for access, password change and reset."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.utils import timezone

from portal import accounts
from portal.models import AccessRequest, Invitation
from research import policy
from tests.research.factories import (
    CuratorFactory,
    DocumentFactory,
    ResearcherFactory,
    UserFactory,
    role,
)

pytestmark = pytest.mark.django_db

User = get_user_model()
NEW_PASSWORD = "a-long-new-passphrase-287g"
LINK = re.compile(r"https?://[^\s]+/accounts/invitation/[^\s/]+/")


@pytest.fixture(autouse=True)
def _roles():
    role(policy.RESEARCHERS)


@pytest.fixture
def send(django_capture_on_commit_callbacks):
    """Run a write and its after-commit e-mails, as a request would."""

    def run(function, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return function(**kwargs)

    return run


def link_in(message) -> str:
    """The invitation link's path, as the invitee would open it."""
    match = LINK.search(message.body)
    assert match, message.body
    return re.sub(r"^https?://[^/]+", "", match.group(0))


def _logged_in_as(client: Client):
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id) if user_id else None


def accept(client: Client, path: str, username: str = "reporter", password: str = NEW_PASSWORD):
    return client.post(path, {"username": username, "password1": password, "password2": password})


# --- Invitations ------------------------------------------------------------------------


def test_an_invitee_follows_the_link_and_is_a_researcher_reading_full_text(send):
    secret = "The closing paragraph that only researchers read. " * 10
    document = DocumentFactory(text="An opening paragraph. " * 30 + secret)
    curator = CuratorFactory()
    send(accounts.invite, email="Reporter@Example.org ", invited_by=curator)

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["reporter@example.org"]
    assert "7 days" in message.body
    path = link_in(message)

    client = Client()
    page = client.get(path)
    assert page.status_code == 200
    assert "reporter@example.org" in page.content.decode()
    assert secret not in client.get(f"/documents/{document.pk}/").content.decode()

    response = accept(client, path)
    assert response.status_code == 302
    user = _logged_in_as(client)
    assert user.username == "reporter" and user.email == "reporter@example.org"
    assert user.is_active and not user.is_staff
    assert list(user.groups.values_list("name", flat=True)) == [policy.RESEARCHERS]
    assert policy.reads_full_text(user) and policy.can_annotate(user)
    home = client.get(response["Location"])
    assert "Welcome, reporter" in home.content.decode()
    assert secret in client.get(f"/documents/{document.pk}/").content.decode()
    # The password works for a later login.
    assert Client().login(username="reporter", password=NEW_PASSWORD)


def test_the_link_is_stored_only_as_a_hash(send):
    send(accounts.invite, email="reporter@example.org")
    token = link_in(mail.outbox[0]).rstrip("/").rsplit("/", 1)[1]
    invitation = Invitation.objects.get()
    assert token not in invitation.token_hash
    assert invitation.token_hash == accounts.token_hash(token)


def test_a_used_link_is_refused_the_second_time(send):
    send(accounts.invite, email="reporter@example.org")
    path = link_in(mail.outbox[0])
    accept(Client(), path)

    other = Client()
    page = other.get(path)
    assert page.status_code == 410
    assert "already been used" in page.content.decode()
    response = accept(other, path, username="second")
    assert response.status_code == 410
    assert _logged_in_as(other) is None
    assert list(User.objects.values_list("username", flat=True)) == ["reporter"]


def test_an_expired_link_is_refused_and_changes_nothing(send, settings):
    settings.INVITATION_EXPIRY_DAYS = 2
    send(accounts.invite, email="reporter@example.org")
    path = link_in(mail.outbox[0])
    assert "2 days" in mail.outbox[0].body
    later = timezone.now() + timedelta(days=2, minutes=1)

    client = Client()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(timezone, "now", lambda: later)
        page = client.get(path)
        response = accept(client, path)
    assert page.status_code == 410
    assert "expired" in page.content.decode()
    assert response.status_code == 410
    assert not User.objects.exists()
    assert Invitation.objects.get().accepted_at is None


def test_a_link_one_day_before_expiry_still_works(send):
    send(accounts.invite, email="reporter@example.org")
    path = link_in(mail.outbox[0])
    Invitation.objects.update(expires_at=timezone.now() + timedelta(days=1))
    assert accept(Client(), path).status_code == 302


@pytest.mark.parametrize("token", ["forged-token", "x" * 43, "%2E%2E"])
def test_a_forged_link_is_refused(send, token):
    send(accounts.invite, email="reporter@example.org")
    client = Client()
    page = client.get(f"/accounts/invitation/{token}/")
    assert page.status_code == 404
    assert "This invitation link is not valid" in page.content.decode()
    response = accept(client, f"/accounts/invitation/{token}/")
    assert response.status_code == 404
    assert not User.objects.exists()


def test_sending_again_replaces_the_old_link(send):
    send(accounts.invite, email="reporter@example.org")
    first = link_in(mail.outbox[0])
    send(accounts.invite, email="REPORTER@example.org")
    second = link_in(mail.outbox[1])
    assert first != second
    assert Invitation.objects.count() == 1

    assert Client().get(first).status_code == 404
    assert accept(Client(), first).status_code == 404
    assert accept(Client(), second).status_code == 302


def test_an_address_with_an_account_is_not_invited(send):
    UserFactory(email="reporter@example.org")
    with pytest.raises(accounts.AlreadyRegistered, match="already has an account"):
        send(accounts.invite, email="Reporter@example.org")
    assert mail.outbox == []
    assert not Invitation.objects.exists()


def test_a_taken_username_or_a_weak_password_keeps_the_link_open(send):
    ResearcherFactory(username="reporter")
    send(accounts.invite, email="new@example.org")
    path = link_in(mail.outbox[0])
    client = Client()

    taken = accept(client, path, username="REPORTER")
    assert taken.status_code == 200
    assert "This username is taken" in taken.content.decode()

    weak = accept(client, path, username="newcomer", password="12345678")
    assert weak.status_code == 200
    assert "too common" in weak.content.decode()

    mismatch = client.post(
        path, {"username": "newcomer", "password1": NEW_PASSWORD, "password2": "other"}
    )
    assert "The two passwords differ" in mismatch.content.decode()

    assert _logged_in_as(client) is None
    assert Invitation.objects.get().accepted_at is None
    assert accept(client, path, username="newcomer").status_code == 302


def test_a_curator_invites_from_the_admin_and_sends_again(django_capture_on_commit_callbacks):
    curator = Client()
    curator.force_login(CuratorFactory())
    with django_capture_on_commit_callbacks(execute=True):
        response = curator.post(
            "/admin/portal/invitation/add/", {"email": "reporter@example.org"}, follow=True
        )
    assert "Invitation sent to reporter@example.org" in response.content.decode()
    first = link_in(mail.outbox[0])
    invitation = Invitation.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        curator.post(
            "/admin/portal/invitation/",
            {"action": "send_again", "_selected_action": [invitation.pk]},
        )
    assert len(mail.outbox) == 2
    assert Client().get(first).status_code == 404
    assert Client().get(link_in(mail.outbox[1])).status_code == 200


def test_the_admin_refuses_to_invite_an_address_with_an_account():
    UserFactory(email="taken@example.org")
    curator = Client()
    curator.force_login(CuratorFactory())
    response = curator.post("/admin/portal/invitation/add/", {"email": "taken@example.org"})
    assert response.status_code == 200
    assert "taken@example.org already has an account" in response.content.decode()
    assert not Invitation.objects.exists()


def test_a_researcher_may_not_invite():
    researcher = Client()
    researcher.force_login(ResearcherFactory(is_staff=True))
    response = researcher.post("/admin/portal/invitation/add/", {"email": "friend@example.org"})
    assert response.status_code == 403
    assert not Invitation.objects.exists()


# --- Requests for access ------------------------------------------------------------------

REQUEST = {
    "name": "Rita Reporter",
    "email": "rita@example.org",
    "affiliation": "The Gazette",
    "reason": "I cover the county jail's agreement with ICE.",
}


def test_a_request_for_access_is_stored_once_per_pending_address():
    client = Client()
    response = client.post("/accounts/request-access/", REQUEST, follow=True)
    assert "Request received" in response.content.decode()
    again = client.post(
        "/accounts/request-access/", {**REQUEST, "email": "RITA@example.org"}, follow=True
    )
    assert "Request received" in again.content.decode()
    stored = AccessRequest.objects.get()
    assert (stored.name, stored.email, stored.status) == (
        "Rita Reporter",
        "rita@example.org",
        AccessRequest.Status.PENDING,
    )


def test_an_incomplete_request_says_what_is_missing():
    response = Client().post("/accounts/request-access/", {**REQUEST, "email": "not an address"})
    assert response.status_code == 200
    assert "Enter a valid email address" in response.content.decode()
    assert not AccessRequest.objects.exists()


def test_requests_for_access_are_throttled_per_client_address():
    client = Client(REMOTE_ADDR="203.0.113.30")
    for n in range(5):
        client.post("/accounts/request-access/", {**REQUEST, "email": f"r{n}@example.org"})
    refused = client.post("/accounts/request-access/", {**REQUEST, "email": "r9@example.org"})
    assert refused.status_code == 429
    assert "Too many requests for access from here" in refused.content.decode()
    assert AccessRequest.objects.count() == 5
    # A spoofed X-Forwarded-For is not a new client; another address is.
    spoofed = client.post(
        "/accounts/request-access/",
        {**REQUEST, "email": "r10@example.org"},
        HTTP_X_FORWARDED_FOR="198.51.100.99",
    )
    assert spoofed.status_code == 429
    other = Client(REMOTE_ADDR="203.0.113.31")
    assert other.post("/accounts/request-access/", REQUEST).status_code == 302


def test_a_curator_approves_a_request_in_the_admin_and_the_requester_joins(
    django_capture_on_commit_callbacks,
):
    Client().post("/accounts/request-access/", REQUEST)
    access_request = AccessRequest.objects.get()
    curator = Client()
    curator.force_login(CuratorFactory())

    queue = curator.get("/admin/portal/accessrequest/", follow=True)
    assert "Rita Reporter" in queue.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = curator.post(
            "/admin/portal/accessrequest/",
            {"action": "approve", "_selected_action": [access_request.pk]},
            follow=True,
        )
    assert "1 request(s) approved" in response.content.decode()
    access_request.refresh_from_db()
    assert access_request.status == AccessRequest.Status.APPROVED
    assert mail.outbox[0].to == ["rita@example.org"]
    assert Invitation.objects.get().access_request == access_request

    invitee = Client()
    assert accept(invitee, link_in(mail.outbox[0]), username="rita").status_code == 302
    assert policy.reads_full_text(_logged_in_as(invitee))


def test_a_curator_declines_a_request_with_a_polite_email(django_capture_on_commit_callbacks):
    access_request = accounts.request_access(**REQUEST)
    curator = Client()
    curator.force_login(CuratorFactory())
    with django_capture_on_commit_callbacks(execute=True):
        curator.post(
            "/admin/portal/accessrequest/",
            {"action": "decline", "_selected_action": [access_request.pk]},
        )
    access_request.refresh_from_db()
    assert access_request.status == AccessRequest.Status.DECLINED
    (message,) = mail.outbox
    assert message.to == ["rita@example.org"]
    assert "Hello Rita Reporter" in message.body and "Thank you" in message.body
    assert "/accounts/invitation/" not in message.body
    assert not Invitation.objects.exists()


def test_the_queue_opens_on_the_requests_waiting_for_an_answer(send):
    waiting = accounts.request_access(**REQUEST)
    answered = accounts.request_access(**{**REQUEST, "name": "Dan Declined", "email": "d@x.org"})
    send(accounts.decline_request, access_request=answered, curator=CuratorFactory())
    curator = Client()
    curator.force_login(CuratorFactory())
    queue = curator.get("/admin/portal/accessrequest/").content.decode()
    assert waiting.name in queue and answered.name not in queue
    everything = curator.get("/admin/portal/accessrequest/?status=all").content.decode()
    assert waiting.name in everything and answered.name in everything


def test_an_answered_request_is_not_answered_again(send):
    access_request = accounts.request_access(**REQUEST)
    curator = CuratorFactory()
    send(accounts.decline_request, access_request=access_request, curator=curator)
    with pytest.raises(ValueError, match="already answered"):
        send(accounts.approve_request, access_request=access_request, curator=curator)
    assert len(mail.outbox) == 1
    assert not Invitation.objects.exists()
    # Once answered, the same address may ask again.
    assert accounts.request_access(**REQUEST).pk != access_request.pk


# --- Passwords ------------------------------------------------------------------------------


def test_the_login_page_links_to_request_access_and_password_reset():
    page = Client().get("/accounts/login/").content.decode()
    assert 'href="/accounts/request-access/"' in page
    assert 'href="/accounts/password_reset/"' in page


def test_the_header_links_a_signed_in_user_to_password_change():
    client = Client()
    client.force_login(ResearcherFactory(username="rita"))
    page = client.get("/").content.decode()
    assert "rita" in page
    assert 'href="/accounts/password_change/"' in page
    assert 'action="/accounts/logout/"' in page


def test_a_researcher_changes_their_password():
    user = ResearcherFactory()
    client = Client()
    client.force_login(user)
    form = client.get("/accounts/password_change/")
    assert 'href="/static/portal/site.css"' in form.content.decode()  # the portal's page
    assert "Django administration" not in form.content.decode()
    response = client.post(
        "/accounts/password_change/",
        {
            "old_password": "secret-pass-287g",
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
        follow=True,
    )
    assert "Password changed" in response.content.decode()
    assert _logged_in_as(client) == user  # still logged in here
    assert Client().login(username=user.username, password=NEW_PASSWORD)
    assert not Client().login(username=user.username, password="secret-pass-287g")


def test_a_password_reset_goes_through_the_portals_pages():
    user = ResearcherFactory(email="rita@example.org")
    client = Client()
    form = client.get("/accounts/password_reset/").content.decode()
    assert "Reset your password" in form and "Django administration" not in form
    done = client.post("/accounts/password_reset/", {"email": "rita@example.org"}, follow=True)
    assert "Check your e-mail" in done.content.decode()
    (message,) = mail.outbox
    assert "287(g) Research Portal" in message.body
    assert user.username in message.body
    link = re.search(r"https?://[^/\s]+(/accounts/reset/\S+/)", message.body).group(1)

    confirm = client.get(link, follow=True)
    assert "Choose a new password" in confirm.content.decode()
    complete = client.post(
        confirm.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        follow=True,
    )
    assert "Password set" in complete.content.decode()
    assert Client().login(username=user.username, password=NEW_PASSWORD)
    # The link works once.
    again = Client().get(link, follow=True)
    assert "This reset link cannot be used" in again.content.decode()
