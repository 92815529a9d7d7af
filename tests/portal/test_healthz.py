"""/healthz tells monitoring what works, in JSON."""

import pytest


@pytest.mark.django_db
def test_healthz_reports_database_and_broker(client, settings):
    settings.REDIS_URL = ""
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert "in-process" in body["broker"]["detail"]


@pytest.mark.django_db
def test_healthz_names_the_database_when_it_fails(client, monkeypatch):
    from django.db.backends.utils import CursorWrapper

    def broken(*args, **kwargs):
        raise RuntimeError("connection refused")

    monkeypatch.setattr(CursorWrapper, "execute", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"]["ok"] is False
    assert "database" in response.json()["status"]


@pytest.mark.redis
@pytest.mark.django_db
def test_healthz_is_ok_with_a_live_redis(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["broker"]["detail"] == "redis"


@pytest.mark.postgres
@pytest.mark.django_db
def test_suite_runs_on_postgresql_when_asked(client):
    response = client.get("/healthz")
    assert response.json()["database"]["detail"] == "postgresql"


@pytest.mark.parametrize(
    ("setting", "service", "status_code", "status", "detail"),
    [
        # Without a broker no work is sent: monitoring must page someone.
        ("REDIS_URL", "broker", 503, "failing: broker", "broker unreachable"),
        # Without the cache pages still answer from the database, only slower.
        ("CACHE_REDIS_URL", "cache", 200, "degraded: cache", "pages drawn from the database"),
    ],
)
@pytest.mark.django_db
def test_healthz_names_a_redis_that_does_not_answer(
    client, settings, setting, service, status_code, status, detail
):
    settings.REDIS_URL = settings.CACHE_REDIS_URL = ""
    setattr(settings, setting, "redis://127.0.0.1:1/0")
    response = client.get("/healthz")
    assert response.status_code == status_code
    body = response.json()
    assert body["status"] == status
    assert body[service]["ok"] is False
    assert detail in body[service]["detail"]
    assert body["database"]["ok"] is True
