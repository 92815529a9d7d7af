"""The Redis cache acts as an empty cache while its server does not answer (portal/cache.py)."""

from __future__ import annotations

import logging
import socket
import threading

import pytest
from django.conf import settings

from portal import cache as fail_soft
from portal.cache import FailSoftRedisCache
from tests.conftest import _free_port


@pytest.fixture
def unreachable_cache(monkeypatch):
    monkeypatch.setattr(fail_soft, "_down_until", {})
    url = f"redis://127.0.0.1:{_free_port()}/1"
    return FailSoftRedisCache(url, {"OPTIONS": {"socket_connect_timeout": 0.5}})


def test_an_unreachable_cache_misses_and_stores_nothing(unreachable_cache):
    unreachable_cache.set("figures", {"total": 3})
    assert unreachable_cache.get("figures") is None
    assert unreachable_cache.get("figures", "drawn anew") == "drawn anew"
    assert unreachable_cache.get_or_set("figures", lambda: 7) == 7
    assert unreachable_cache.add("figures", 1) is False
    assert unreachable_cache.get_many(["a", "b"]) == {}
    assert unreachable_cache.has_key("figures") is False
    with pytest.raises(ValueError):
        unreachable_cache.incr("attempts")


def test_an_outage_is_logged_once_and_redis_is_left_alone_meanwhile(
    unreachable_cache, caplog, monkeypatch
):
    with caplog.at_level(logging.WARNING, logger="portal.cache"):
        for _ in range(20):
            unreachable_cache.get("figures")
    assert len(caplog.records) == 1
    assert "pages are drawn from the database" in caplog.records[0].getMessage()

    def never(*args, **kwargs):
        raise AssertionError("Redis was asked while known to be down")

    monkeypatch.setattr(fail_soft.RedisCacheClient, "get", never)
    assert unreachable_cache.get("figures", "miss") == "miss"


@pytest.fixture
def not_redis():
    """A loopback TCP server that answers every request as a web server would."""
    listener = socket.create_server(("127.0.0.1", 0))

    def answer():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.recv(1024)
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    threading.Thread(target=answer, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()


def test_an_address_that_answers_something_else_than_redis_is_a_miss(not_redis, monkeypatch):
    """A proxy or another service at the cache's address fails the cache, not the page."""
    monkeypatch.setattr(fail_soft, "_down_until", {})
    cache = FailSoftRedisCache(f"redis://127.0.0.1:{not_redis}/0", {})
    assert cache.get("figures", "drawn anew") == "drawn anew"


@pytest.mark.redis
def test_a_live_redis_cache_keeps_values_in_its_own_database():
    cache_url = settings.CACHE_REDIS_URL or fail_soft_url()
    assert cache_url != settings.REDIS_URL
    cache = FailSoftRedisCache(cache_url, {"KEY_PREFIX": "test-cache"})
    cache.set("figures", {"total": 3})
    try:
        assert cache.get("figures") == {"total": 3}
    finally:
        cache.delete("figures")


def fail_soft_url() -> str:
    from portal.env import cache_redis_url

    return cache_redis_url("", settings.REDIS_URL)
