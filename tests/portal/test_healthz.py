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
def test_healthz_names_the_broker_when_it_does_not_answer(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "failing: broker"
    assert body["broker"]["ok"] is False
    assert body["database"]["ok"] is True


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


@pytest.mark.django_db
def test_healthz_answers_degraded_when_only_the_cache_is_down(client, settings):
    settings.REDIS_URL = ""
    settings.CACHE_REDIS_URL = "redis://127.0.0.1:1/1"
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded: cache"
    assert body["cache"]["ok"] is False
    assert "pages drawn from the database" in body["cache"]["detail"]
