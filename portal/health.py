"""Checks of the services the portal depends on, for /healthz."""

from __future__ import annotations

from django.conf import settings
from django.db import connection


def check_database() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return False, f"database unreachable: {exc.__class__.__name__}: {exc}".strip()
    return True, connection.vendor


def _redis_error(url: str) -> Exception | None:
    """Why the Redis at ``url`` does not answer a ping, or None when it does."""
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping()
    except Exception as exc:
        return exc
    return None


def check_broker() -> tuple[bool, str]:
    if not settings.REDIS_URL:
        return True, "not configured: tasks run in-process"
    if exc := _redis_error(settings.REDIS_URL):
        return False, f"broker unreachable: {exc.__class__.__name__}: {exc}"
    return True, "redis"


def check_cache() -> tuple[bool, str]:
    """Whether the cache's Redis answers; without it the portal works, only slower."""
    if not settings.CACHE_REDIS_URL:
        return True, "local memory of each process"
    if exc := _redis_error(settings.CACHE_REDIS_URL):
        return False, f"cache unreachable, pages drawn from the database: {exc.__class__.__name__}"
    return True, "redis"
