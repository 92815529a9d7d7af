"""API tokens: made and revoked on the dashboard, shown once, stored hashed, accepted by the
API, refused with a sentence when revoked, expired or unknown, and throttled per token."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.views import APIView

from portal import throttling, tokens
from portal.models import ApiToken
from portal.tokens import TokenRefused, token_create, token_revoke
from tests.research.factories import ResearcherFactory, UserFactory

pytestmark = pytest.mark.django_db

USAGE = "/api/v1/me/usage/"


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def bearer(secret: str, keyword: str = "Bearer") -> dict:
    return {"HTTP_AUTHORIZATION": f"{keyword} {secret}"}


def make_on_dashboard(client: Client, name: str = "laptop", **fields) -> str:
    """Make a token through the dashboard's form; returns the secret the page shows."""
    response = client.post("/me/tokens/", {"name": name, **fields})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    found = re.search(r'value="(287g_[^"]+)"', response.content.decode())
    assert found, "the page shows the new token"
    return found.group(1)


# --- Making, showing, revoking ------------------------------------------------------


def test_a_token_is_shown_once_and_stored_only_as_its_sha256():
    researcher = ResearcherFactory()
    client = signed_in(researcher)
    secret = make_on_dashboard(client, "nightly script")
    token = ApiToken.objects.get(user=researcher)
    assert token.name == "nightly script"
    assert token.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert len(secret) > 40
    stored = [str(value) for value in ApiToken.objects.values_list().get()]
    assert not any(secret in value for value in stored)
    dashboard = client.get("/me/").content.decode()
    assert "nightly script" in dashboard
    assert token.key_prefix in dashboard
    assert secret not in dashboard


def test_two_tokens_never_share_a_secret():
    researcher = ResearcherFactory()
    first = token_create(user=researcher, name="a")[1]
    second = token_create(user=researcher, name="b")[1]
    assert first != second


def test_a_token_needs_a_name_and_a_future_expiry():
    client = signed_in(ResearcherFactory())
    nameless = client.post("/me/tokens/", {"name": "   "})
    assert nameless.status_code == 400
    past = client.post("/me/tokens/", {"name": "old", "expires_on": "2000-01-01"})
    assert past.status_code == 400
    assert "The expiry date has passed" in past.content.decode()
    assert not ApiToken.objects.exists()


def test_a_person_holds_a_limited_number_of_tokens(monkeypatch):
    monkeypatch.setattr(tokens, "MAX_ACTIVE_TOKENS", 2)
    researcher = ResearcherFactory()
    token_create(user=researcher, name="one")
    second, _ = token_create(user=researcher, name="two")
    with pytest.raises(TokenRefused, match="revoke one you no longer need"):
        token_create(user=researcher, name="three")
    token_revoke(user=researcher, token_id=second.pk)
    token_create(user=researcher, name="three")  # a revoked token frees its place


def test_revoking_on_the_dashboard_stops_the_token():
    researcher = ResearcherFactory()
    client = signed_in(researcher)
    secret = make_on_dashboard(client)
    assert Client().get(USAGE, **bearer(secret)).status_code == 200
    token = ApiToken.objects.get(user=researcher)
    assert client.post(f"/me/tokens/{token.pk}/revoke/").status_code == 302
    refused = Client().get(USAGE, **bearer(secret))
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]
    assert "Revoked" in client.get("/me/").content.decode()


def test_someone_elses_token_by_id_is_not_found_and_stays_valid():
    owner, other = ResearcherFactory(), ResearcherFactory()
    token, secret = token_create(user=owner, name="owner's")
    response = signed_in(other).post(f"/me/tokens/{token.pk}/revoke/")
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
    assert Client().get(USAGE, **bearer(secret)).status_code == 200


# --- The API accepts them -------------------------------------------------------------


@pytest.mark.parametrize("keyword", ["Bearer", "Token", "bearer"])
def test_the_api_knows_the_owner_of_a_token(keyword):
    researcher = ResearcherFactory(username="ana")
    token, secret = token_create(user=researcher, name="laptop")
    body = Client().get(USAGE, **bearer(secret, keyword)).json()
    assert body["username"] == "ana"
    assert body["token"]["id"] == token.pk
    assert body["token"]["name"] == "laptop"


def test_a_token_carries_its_owners_permissions():
    """A researcher's token may submit documents (the form is checked); no token may not."""
    _, secret = token_create(user=ResearcherFactory(), name="script")
    with_token = Client().post("/api/v1/documents/", {}, **bearer(secret))
    anonymous = Client().post("/api/v1/documents/", {})
    assert with_token.status_code == 400
    assert "url" in with_token.json()
    assert anonymous.status_code == 403


def test_a_token_of_an_account_without_a_role_submits_nothing():
    _, secret = token_create(user=UserFactory(), name="script")
    assert Client().post("/api/v1/documents/", {}, **bearer(secret)).status_code == 403


@pytest.mark.parametrize(
    ("case", "sentence"),
    [
        ("unknown", "This API token is not known"),
        ("revoked", "This API token was revoked on"),
        ("expired", "This API token expired on"),
        ("disabled", "is disabled"),
        ("malformed", "Send the token as"),
    ],
)
def test_a_refused_token_gets_401_with_a_sentence(case, sentence):
    researcher = ResearcherFactory()
    token, secret = token_create(user=researcher, name="t")
    header = f"Bearer {secret}"
    if case == "unknown":
        header = "Bearer 287g_" + "x" * 43
    elif case == "revoked":
        token_revoke(user=researcher, token_id=token.pk)
    elif case == "expired":
        ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(days=1))
    elif case == "disabled":
        researcher.is_active = False
        researcher.save()
    elif case == "malformed":
        header = f"Bearer {secret} extra"
    response = Client().get("/api/v1/agencies/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert sentence in response.json()["detail"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_other_schemes_are_left_to_their_own_classes():
    """Basic auth and no header at all are not the token class's business."""
    UserFactory(username="basic-user")
    assert Client().get("/api/v1/agencies/").status_code == 200
    basic = Client().get("/api/v1/agencies/", HTTP_AUTHORIZATION="Basic Zm9vOmJhcg==")
    assert basic.status_code == 403


def test_last_used_is_written_at_most_once_a_minute():
    token, secret = token_create(user=ResearcherFactory(), name="t")
    client = Client()
    client.get(USAGE, **bearer(secret))
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    with CaptureQueriesContext(connection) as queries:
        client.get(USAGE, **bearer(secret))
    assert not any(q["sql"].lstrip().upper().startswith("UPDATE") for q in queries)
    token.refresh_from_db()
    assert token.last_used_at == first
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - timedelta(minutes=2))
    client.get(USAGE, **bearer(secret))
    token.refresh_from_db()
    assert token.last_used_at > first - timedelta(minutes=2)


def test_the_schema_documents_bearer_tokens():
    schema = Client().get("/api/schema/?format=json").json()
    scheme = schema["components"]["securitySchemes"]["tokenAuth"]
    assert scheme["type"] == "http"
    assert scheme["scheme"] == "bearer"
    usage = schema["paths"][USAGE]["get"]
    assert {"tokenAuth": []} in usage["security"]
    assert "401" in usage["responses"]


# --- Throttles and usage ----------------------------------------------------------


@pytest.fixture
def small_limits(monkeypatch):
    """The portal's throttles, with small allowances so that a test reaches them."""
    rates = {"anon": "4/min", "user": "5/min", "token": "3/min"}
    classes = [
        throttling.AnonRateThrottle,
        throttling.UserRateThrottle,
        throttling.TokenRateThrottle,
    ]
    for cls in classes:
        monkeypatch.setattr(cls, "THROTTLE_RATES", rates)
    monkeypatch.setattr(APIView, "throttle_classes", classes)


def test_each_token_has_its_own_limit(small_limits):
    researcher = ResearcherFactory()
    _, first = token_create(user=researcher, name="first")
    _, second = token_create(user=researcher, name="second")
    client = Client()
    answers = [client.get(USAGE, **bearer(first)).status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]  # the token's 3 a minute
    assert client.get(USAGE, **bearer(second)).status_code == 200


def test_the_tokens_of_one_person_share_their_owners_limit(small_limits):
    researcher = ResearcherFactory()
    _, first = token_create(user=researcher, name="first")
    _, second = token_create(user=researcher, name="second")
    client = Client()
    assert [client.get(USAGE, **bearer(first)).status_code for _ in range(3)] == [200] * 3
    answers = [client.get(USAGE, **bearer(second)).status_code for _ in range(3)]
    assert answers == [200, 200, 429]  # the owner's 5 a minute
    assert signed_in(researcher).get(USAGE).status_code == 429  # the session too
    other = token_create(user=ResearcherFactory(), name="someone else's")[1]
    assert client.get(USAGE, **bearer(other)).status_code == 200


def test_the_api_tells_a_client_its_usage(small_limits):
    _, secret = token_create(user=ResearcherFactory(), name="t")
    client = Client()
    headers = client.get("/api/v1/agencies/", **bearer(secret))
    assert headers["X-RateLimit-Limit"] == "3"
    assert headers["X-RateLimit-Remaining"] == "2"
    body = client.get(USAGE, **bearer(secret)).json()
    limits = {limit["scope"]: limit for limit in body["limits"]}
    assert limits["token"]["limit"] == 3
    assert limits["token"]["remaining"] == 1
    assert limits["user"]["limit"] == 5
    assert limits["user"]["remaining"] == 3
    assert limits["token"]["period_seconds"] == 60


def test_anonymous_clients_see_their_address_limit_in_headers(small_limits):
    response = Client().get("/api/v1/agencies/")
    assert response["X-RateLimit-Remaining"] == "3"
    assert response["X-RateLimit-Limit"] == "4"
