"""Brute-force limits: logins (page, admin, API Basic auth) and password-reset e-mails."""

from __future__ import annotations

import base64
import datetime as dt
import itertools

import pytest
from axes.models import AccessAttempt
from django.core import mail
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from portal.lockout import RESET_LIMITED, lockout_message
from tests.research.factories import (
    AdministratorFactory,
    CuratorFactory,
    ResearcherFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

PASSWORD = "secret-pass-287g"  # the factories' password
LOCKED = "Too many failed logins"
_addresses = (f"198.51.100.{n}" for n in itertools.count(1))


def _spoofed() -> dict:
    """A different, made-up X-Forwarded-For on every request."""
    return {"HTTP_X_FORWARDED_FOR": next(_addresses)}


def _logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


@pytest.fixture
def limit(settings) -> int:
    return settings.AXES_FAILURE_LIMIT


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_wrong_passwords_lock_the_account_even_for_the_right_one(path, limit):
    user = CuratorFactory()
    client = Client()
    for _ in range(limit):
        response = client.post(path, {"username": user.username, "password": "guess"}, **_spoofed())
        assert not _logged_in(client)
    response = client.post(path, {"username": user.username, "password": PASSWORD}, **_spoofed())
    assert response.status_code == 429
    assert LOCKED in response.content.decode()
    assert lockout_message() in response.content.decode()
    assert not _logged_in(client)


def test_fewer_failures_than_the_limit_still_let_the_right_password_in(limit):
    user = ResearcherFactory()
    client = Client()
    for _ in range(limit - 1):
        client.post("/accounts/login/", {"username": user.username, "password": "guess"})
    response = client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302
    assert _logged_in(client)


def test_logging_into_ones_own_account_does_not_clear_the_count(limit):
    """A guesser with an account of their own, between guesses, still gets locked out."""
    guesser, victim = ResearcherFactory(), ResearcherFactory()
    client = Client(REMOTE_ADDR="203.0.113.20")
    for attempt in range(limit):
        client.post("/accounts/login/", {"username": victim.username, "password": "guess"})
        if attempt % 3 == 2:
            client.post("/accounts/login/", {"username": guesser.username, "password": PASSWORD})
            client.post("/accounts/logout/")
    response = client.post("/accounts/login/", {"username": victim.username, "password": PASSWORD})
    assert response.status_code == 429


def test_the_lockout_ends_after_the_cool_off(settings, limit):
    user = ResearcherFactory()
    client = Client()
    for _ in range(limit):
        client.post("/accounts/login/", {"username": user.username, "password": "guess"})
    earlier = timezone.now() - settings.AXES_COOLOFF_TIME - dt.timedelta(seconds=1)
    AccessAttempt.objects.update(attempt_time=earlier)
    client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert _logged_in(client)


def test_guessing_many_accounts_from_one_address_locks_the_address(limit):
    """A fresh username or a spoofed X-Forwarded-For on each try does not reset the count."""
    client = Client(REMOTE_ADDR="203.0.113.7")
    for n in range(limit):
        client.post("/accounts/login/", {"username": f"nobody{n}", "password": "x"}, **_spoofed())
    victim = ResearcherFactory()
    response = client.post(
        "/accounts/login/", {"username": victim.username, "password": PASSWORD}, **_spoofed()
    )
    assert response.status_code == 429
    assert not _logged_in(client)
    # Another address, never wrong, still logs the same account in.
    other = Client(REMOTE_ADDR="203.0.113.8")
    other.post("/accounts/login/", {"username": victim.username, "password": PASSWORD})
    assert _logged_in(other)


def test_behind_a_proxy_the_address_the_proxy_saw_is_counted(settings, limit):
    settings.NUM_PROXIES = 1
    client = Client(REMOTE_ADDR="10.0.0.2")  # the proxy
    for n in range(limit):
        # The client made up the left entry; the proxy appended the real address.
        forwarded = f"{next(_addresses)}, 203.0.113.50"
        client.post(
            "/accounts/login/",
            {"username": f"nobody{n}", "password": "x"},
            HTTP_X_FORWARDED_FOR=forwarded,
        )
    user = ResearcherFactory()
    locked = client.post(
        "/accounts/login/",
        {"username": user.username, "password": PASSWORD},
        HTTP_X_FORWARDED_FOR="203.0.113.50",
    )
    assert locked.status_code == 429
    elsewhere = client.post(
        "/accounts/login/",
        {"username": user.username, "password": PASSWORD},
        HTTP_X_FORWARDED_FOR="203.0.113.51",
    )
    assert elsewhere.status_code == 302


def _basic(username: str, password: str) -> dict:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {token}"}


def test_api_basic_auth_locks_out_with_a_429(limit):
    user = ResearcherFactory()
    client = APIClient()
    statuses = [
        client.get("/api/v1/documents/", **_basic(user.username, "guess"), **_spoofed()).status_code
        for _ in range(limit)
    ]
    assert statuses[0] in {401, 403} and statuses[-1] == 429
    response = client.get("/api/v1/documents/", **_basic(user.username, PASSWORD), **_spoofed())
    assert response.status_code == 429
    assert response.json() == {"detail": lockout_message()}
    assert "Retry-After" in response


@pytest.mark.parametrize(
    ("username", "password"), [("a\x00b", "guess"), ("someone", "gu\x00ess"), ("x" * 151, "guess")]
)
def test_basic_auth_with_a_name_no_account_can_have_is_refused_not_a_server_error(
    username, password
):
    # PostgreSQL stores no NUL byte: recording such a failure raised a 500 there.
    response = APIClient().get("/api/v1/documents/", **_basic(username, password))
    assert response.status_code in {401, 403}
    assert not AccessAttempt.objects.exists()


def test_api_basic_auth_with_the_right_password_works():
    user = ResearcherFactory()
    response = APIClient().post(
        "/api/v1/documents/", {"url": "not a url"}, format="json", **_basic(user.username, PASSWORD)
    )
    assert response.status_code == 400  # authenticated and allowed: only the URL is wrong


def test_password_reset_emails_are_capped_per_address():
    user = UserFactory(email="reader@example.org")
    client = Client()
    statuses = [
        client.post("/accounts/password_reset/", {"email": user.email}, **_spoofed()).status_code
        for _ in range(20)
    ]
    assert len(mail.outbox) == 3
    assert statuses[:3] == [302, 302, 302]
    assert set(statuses[3:]) == {429}
    refused = client.post("/accounts/password_reset/", {"email": "READER@example.org"})
    assert RESET_LIMITED in refused.content.decode()
    assert len(mail.outbox) == 3


def test_password_reset_requests_are_capped_per_client():
    """Asking for many addresses from one client stops too; unknown addresses count the same."""
    users = [UserFactory(email=f"reader{n}@example.org") for n in range(8)]
    client = Client(REMOTE_ADDR="203.0.113.9")
    statuses = [
        client.post("/accounts/password_reset/", {"email": u.email}).status_code for u in users
    ]
    assert statuses.count(302) == 5
    assert len(mail.outbox) == 5
    unknown = Client(REMOTE_ADDR="203.0.113.9").post(
        "/accounts/password_reset/", {"email": "nobody@example.org"}
    )
    assert unknown.status_code == 429


def test_an_administrator_lifts_a_lockout_in_the_admin(limit):
    user = ResearcherFactory()
    client = Client()
    for _ in range(limit):
        client.post("/accounts/login/", {"username": user.username, "password": "guess"})
    admin = Client()
    admin.force_login(AdministratorFactory())
    page = admin.get("/admin/axes/accessattempt/")
    assert page.status_code == 200 and user.username in page.content.decode()
    attempt = AccessAttempt.objects.get(username=user.username)
    admin.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert _logged_in(client)
