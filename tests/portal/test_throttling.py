"""API throttles count a client by the address the trusted proxies saw, not by its headers."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import RequestFactory
from django.utils.module_loading import import_string
from rest_framework.views import APIView

import portal.settings as production
from portal.throttling import client_address
from tests.conftest import _free_port, run_python

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def production_throttles(monkeypatch):
    """The throttles the portal runs with (the test settings turn them off)."""
    classes = [import_string(c) for c in production.REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"]]
    monkeypatch.setattr(APIView, "throttle_classes", classes)


@pytest.mark.django_db
def test_a_new_forwarded_for_on_each_request_does_not_escape_the_anonymous_limit(
    client, production_throttles
):
    limit = int(production.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["anon"].split("/")[0])
    statuses = [
        client.get(
            "/api/v1/snapshots/", HTTP_X_FORWARDED_FOR=f"203.0.113.{n % 250}, 10.0.{n}.1"
        ).status_code
        for n in range(300)
    ]
    assert statuses[:limit] == [200] * limit
    assert statuses[limit:] == [429] * (300 - limit)


@pytest.mark.django_db
def test_behind_one_proxy_each_client_has_its_own_limit(client, production_throttles, settings):
    settings.NUM_PROXIES = 1
    limit = int(production.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["anon"].split("/")[0])
    for _ in range(limit):
        client.get("/api/v1/snapshots/", HTTP_X_FORWARDED_FOR="198.51.100.7")
    spoofing = client.get("/api/v1/snapshots/", HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.7")
    other = client.get("/api/v1/snapshots/", HTTP_X_FORWARDED_FOR="198.51.100.8")
    assert spoofing.status_code == 429
    assert other.status_code == 200


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "1.2.3.4", "192.0.2.1"),
        (1, "", "192.0.2.1"),
        (1, "1.2.3.4", "1.2.3.4"),
        (1, "6.6.6.6, 1.2.3.4", "1.2.3.4"),
        (2, "6.6.6.6, 1.2.3.4, 10.0.0.2", "1.2.3.4"),
        (3, "1.2.3.4", "1.2.3.4"),
    ],
)
def test_client_address_trusts_only_the_configured_proxies(settings, proxies, forwarded, expected):
    settings.NUM_PROXIES = proxies
    request = RequestFactory().get("/", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == expected


@pytest.mark.django_db
def test_forwarded_proto_is_ignored_without_a_proxy(client, settings):
    """A client cannot claim HTTPS: the portal still redirects it to https://."""
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/methodology/", HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 301
    assert response["Location"].startswith("https://")


def _setting(name: str, **env: str) -> str:
    code = f"import portal.settings as s; print(repr(s.{name}))"
    result = run_python(code, env={"PATH": "/usr/bin:/bin", "DEBUG": "1", **env})
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_forwarded_proto_is_trusted_only_behind_a_configured_proxy():
    assert _setting("SECURE_PROXY_SSL_HEADER") == "None"
    assert _setting("SECURE_PROXY_SSL_HEADER", NUM_PROXIES="1") == (
        "('HTTP_X_FORWARDED_PROTO', 'https')"
    )


@pytest.mark.django_db
def test_throttles_let_requests_through_while_the_cache_is_down(
    client, production_throttles, settings, monkeypatch
):
    """The throttles' counts live in the cache: without it they fail open, not closed."""
    from portal import cache as fail_soft

    monkeypatch.setattr(fail_soft, "_down_until", {})
    settings.CACHES = {
        "default": {
            "BACKEND": "portal.cache.FailSoftRedisCache",
            "LOCATION": f"redis://127.0.0.1:{_free_port()}/1",
        }
    }
    limit = int(production.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["anon"].split("/")[0])
    statuses = {client.get("/api/v1/snapshots/").status_code for _ in range(limit + 10)}
    assert statuses == {200}
