"""The production stack files describe a stack that can run.

Docker cannot run here, so these tests read the files: the services exist with
health checks and volumes, and every variable they pass is one the settings read.
"""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
SETTINGS_SOURCE = (ROOT / "portal" / "settings.py").read_text()
DOCKERFILE = (ROOT / "docker" / "Dockerfile").read_text()


def read_by_settings() -> set[str]:
    return set(re.findall(r'env_(?:str|bool|int|float|list)\(\s*"([A-Z_]+)"', SETTINGS_SOURCE))


def test_compose_has_the_production_services_with_health_checks():
    services = COMPOSE["services"]
    assert set(services) == {"postgres", "redis", "cache", "proxy", "web", "worker", "beat"}
    for name, service in services.items():
        assert "healthcheck" in service, f"{name} has no health check"


def test_compose_volumes_are_named_and_declared():
    declared = set(COMPOSE["volumes"])
    for name, service in COMPOSE["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source in declared, f"{name} mounts undeclared volume {source}"
    assert {"pgdata", "media"} <= declared


def test_every_variable_the_stack_sets_is_read_by_the_settings():
    portal_env = COMPOSE["x-portal"]["environment"]
    known = read_by_settings() | {"DATABASE_URL", "REDIS_URL"}
    unknown = sorted(set(portal_env) - known)
    assert not unknown, f"compose sets variables the settings never read: {unknown}"
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS"} <= set(portal_env)


def test_web_worker_and_beat_run_the_portal():
    services = COMPOSE["services"]
    assert "gunicorn portal.wsgi -c python:portal.gunicorn" in services["web"]["command"]
    assert services["worker"]["command"][:4] == ["celery", "-A", "portal", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "portal", "beat"]
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_dockerfile_is_slim_non_root_and_collects_static():
    assert re.search(r"^FROM python:3\.1[1-9]-slim", DOCKERFILE, re.M)
    assert re.search(r"^USER portal$", DOCKERFILE, re.M)
    assert "collectstatic --noinput" in DOCKERFILE
    assert 'CMD ["gunicorn", "portal.wsgi", "-c", "python:portal.gunicorn"' in DOCKERFILE


def test_the_cache_is_its_own_capped_redis_apart_from_the_broker():
    services = COMPOSE["services"]
    cache = services["cache"]["command"]
    assert cache[cache.index("--maxmemory") + 1]
    assert cache[cache.index("--maxmemory-policy") + 1] == "allkeys-lru"
    broker = services["redis"]["command"]
    assert broker[broker.index("--maxmemory-policy") + 1] == "noeviction"
    portal_env = COMPOSE["x-portal"]["environment"]
    assert portal_env["CACHE_REDIS_URL"].startswith("redis://cache:")
    assert portal_env["REDIS_URL"].startswith("redis://redis:")


def test_only_the_proxy_is_published_and_the_portal_trusts_one_proxy():
    services = COMPOSE["services"]
    published = sorted(name for name, service in services.items() if service.get("ports"))
    assert published == ["proxy"]
    assert COMPOSE["x-portal"]["environment"]["NUM_PROXIES"] == "1"
    caddyfile = (ROOT / "docker" / "Caddyfile").read_text()
    assert "reverse_proxy web:8000" in caddyfile
    assert COMPOSE["configs"]["caddyfile"]["file"] == "./Caddyfile"
    assert services["proxy"]["configs"][0]["target"] == "/etc/caddy/Caddyfile"
