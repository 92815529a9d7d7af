"""A Redis cache that the portal can do without.

Pages, figures and the API's throttles use the cache to save work, never to keep
data, so when the cache's Redis does not answer each call acts as if the cache
were empty (``get`` misses, ``set`` stores nothing) and the page is drawn from
the database. The outage is logged once, and Redis is not asked again for
``RETRY_SECONDS``, so a cache that is down costs no connection attempt per call.

This is Django's own ``RedisCache`` with its client's calls guarded; django-redis's
``IGNORE_EXCEPTIONS`` does the same but replaces Django's backend with another
client stack and logs a traceback for every failed call (several per page).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from django.core.cache.backends.redis import RedisCache, RedisCacheClient

logger = logging.getLogger(__name__)

# How long a process leaves an unreachable cache alone: trades a few seconds of
# misses after Redis comes back for no connection attempt per call while it is down.
RETRY_SECONDS = 5.0

_lock = threading.Lock()
# Per cache location, the monotonic time until which Redis is not asked (per process).
_down_until: dict[str, float] = {}


def _missing(*args: Any, **kwargs: Any) -> Any:
    raise ValueError("Key not found.")  # what Django's incr says of a key the cache lacks


def _guarded(fallback: Callable[..., Any]) -> Callable:
    """Run the client call, or answer ``fallback(*args)`` while Redis does not answer."""

    def decorate(method: Callable) -> Callable:
        @functools.wraps(method)
        def call(self: FailSoftRedisClient, *args: Any, **kwargs: Any) -> Any:
            if _down_until.get(self.location, 0.0) > time.monotonic():
                return fallback(*args, **kwargs)
            try:
                result = method(self, *args, **kwargs)
            # Not only a server that is down: one that refuses or answers nonsense
            # (full, read-only, not Redis at all) must not fail the page either.
            except redis.RedisError as exc:
                self.went_down(exc)
                return fallback(*args, **kwargs)
            if self.location in _down_until:
                self.came_back()
            return result

        return call

    return decorate


class FailSoftRedisClient(RedisCacheClient):
    """Django's Redis cache client, answering as an empty cache while Redis fails."""

    def __init__(self, servers: list[str], **options: Any):
        super().__init__(servers, **options)
        self.location = ",".join(servers)

    def went_down(self, exc: Exception) -> None:
        with _lock:
            first = self.location not in _down_until
            _down_until[self.location] = time.monotonic() + RETRY_SECONDS
        if first:
            logger.warning(
                "The cache at %s does not answer (%s: %s); pages are drawn from the "
                "database and throttles let requests through until it does.",
                self.location,
                exc.__class__.__name__,
                exc,
            )

    def came_back(self) -> None:
        with _lock:
            was_down = _down_until.pop(self.location, None) is not None
        if was_down:
            logger.warning("The cache at %s answers again.", self.location)

    add = _guarded(lambda *a, **k: False)(RedisCacheClient.add)
    get = _guarded(lambda key, default=None: default)(RedisCacheClient.get)
    set = _guarded(lambda *a, **k: None)(RedisCacheClient.set)
    touch = _guarded(lambda *a, **k: False)(RedisCacheClient.touch)
    delete = _guarded(lambda *a, **k: False)(RedisCacheClient.delete)
    get_many = _guarded(lambda *a, **k: {})(RedisCacheClient.get_many)
    has_key = _guarded(lambda *a, **k: False)(RedisCacheClient.has_key)
    incr = _guarded(_missing)(RedisCacheClient.incr)
    set_many = _guarded(lambda *a, **k: None)(RedisCacheClient.set_many)
    delete_many = _guarded(lambda *a, **k: None)(RedisCacheClient.delete_many)
    clear = _guarded(lambda *a, **k: False)(RedisCacheClient.clear)


class FailSoftRedisCache(RedisCache):
    """``CACHES`` backend: Django's ``RedisCache`` that degrades to no cache when Redis is down."""

    def __init__(self, server: str, params: dict[str, Any]):
        super().__init__(server, params)
        self._class = FailSoftRedisClient
