"""A real Redis cache stopped and started again under the portal (its own redis-server).

While the cache's server is down, pages answer from the database and nothing is
stored; once it is back, the portal uses it again by itself, without a restart.
"""

from __future__ import annotations

import logging

import pytest

from portal import cache as fail_soft
from tests.conftest import start_redis_server
from tests.portal.test_page_cache import import_list, texas

pytestmark = [pytest.mark.redis, pytest.mark.django_db]


@pytest.fixture
def cache_server(settings, monkeypatch, tmp_path):
    server = start_redis_server(tmp_path, maxmemory="64mb")
    monkeypatch.setattr(fail_soft, "_down_until", {})
    # No pause between attempts, so the test sees the return at once.
    monkeypatch.setattr(fail_soft, "RETRY_SECONDS", 0.0)
    settings.CACHES = {
        "default": {
            "BACKEND": "portal.cache.FailSoftRedisCache",
            "LOCATION": server.url,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 1},
        }
    }
    yield server
    server.stop()


@pytest.fixture
def a_list():
    import datetime as dt

    return import_list(
        [texas("Polk County Sheriff's Office"), texas("Tyler County Sheriff's Office")],
        dt.datetime(2025, 6, 2, 9, tzinfo=dt.UTC),
    )


def test_pages_answer_while_the_cache_is_stopped_and_use_it_again_after(
    client, cache_server, a_list, caplog
):
    assert client.get("/agencies/").status_code == 200
    assert cache_server.keys() > 0

    cache_server.stop()
    with caplog.at_level(logging.WARNING, logger="portal.cache"):
        for path in ("/", "/agencies/", "/states/TX/", "/statistics/", "/api/v1/agencies/"):
            response = client.get(path)
            assert response.status_code == 200, path
        assert "Polk County Sheriff" in client.get("/agencies/").content.decode()
    # One line for the outage, not one per cache call.
    assert sum("does not answer" in r.getMessage() for r in caplog.records) == 1

    cache_server.start()  # empty, as after a restart
    with caplog.at_level(logging.WARNING, logger="portal.cache"):
        assert client.get("/agencies/").status_code == 200
    assert any("answers again" in r.getMessage() for r in caplog.records)
    assert cache_server.keys() > 0


def test_made_up_parameters_add_no_key_to_a_real_redis(client, cache_server, a_list):
    client.get("/agencies/")
    warm = cache_server.keys()
    for n in range(50):
        client.get("/agencies/", {"zz": f"{n}-random"})
    assert cache_server.keys() == warm
