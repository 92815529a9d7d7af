"""PostgreSQL restarted under traffic: pages answer 503 at once, then recover without a restart.

gunicorn serves the portal from a PostgreSQL cluster of the test's own, which
the test stops, freezes (a port that accepts and never answers) and starts again.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

from tests.conftest import ROOT, start_gunicorn, stop_process

pytestmark = pytest.mark.postgres

PATHS = ["/agencies/", "/documents/", "/api/v1/agreements/"]
# Shorter than gunicorn's timeout: a request that hangs fails the test instead.
CLIENT_TIMEOUT = 20


@pytest.fixture
def portal(postgres_cluster, tmp_path):
    """gunicorn on the own cluster, migrated; yields (base URL, cluster)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "DATABASE_URL", "DATABASE_STATEMENT_TIMEOUT"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="portal.test_settings",
        DATABASE_URL=postgres_cluster.url(),
        MEDIA_ROOT=str(tmp_path / "media"),
        PYTHONUNBUFFERED="1",
    )
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=600
    )
    server, base = start_gunicorn(env=env, log_path=tmp_path / "gunicorn.log")
    yield base, postgres_cluster
    stop_process(server)
    server.log.close()


class Frozen:
    """A port that accepts connections and never answers, like a stuck server."""

    def __init__(self, port: int):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(64)

    def close(self) -> None:
        self.sock.close()


class Traffic:
    """Requests in a loop from a thread; every answer's status, or the error."""

    def __init__(self, base: str):
        self.base, self.seen, self.errors = base, [], []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        with httpx.Client(timeout=CLIENT_TIMEOUT) as client:
            while not self.stop.is_set():
                for path in PATHS:
                    try:
                        self.seen.append(client.get(self.base + path).status_code)
                    except httpx.HTTPError as exc:
                        self.errors.append(f"{path}: {exc!r}")
                time.sleep(0.1)

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(CLIENT_TIMEOUT * len(PATHS) + 5)


def statuses(base: str) -> dict[str, int]:
    with httpx.Client(timeout=CLIENT_TIMEOUT) as client:
        return {path: client.get(base + path).status_code for path in PATHS}


def test_a_database_restart_fails_requests_fast_and_the_portal_recovers(portal):
    base, cluster = portal
    assert set(statuses(base).values()) == {200}
    traffic = Traffic(base)

    cluster.stop()
    assert set(statuses(base).values()) == {503}
    page = httpx.get(base + "/agencies/", timeout=CLIENT_TIMEOUT)
    assert "try again in a minute" in page.text
    assert page.headers["Retry-After"]

    frozen = Frozen(cluster.port)  # a server that takes connections and never answers
    try:
        assert set(statuses(base).values()) == {503}
    finally:
        frozen.close()

    cluster.start()
    assert set(statuses(base).values()) == {200}  # the same gunicorn, not restarted
    traffic.finish()
    assert traffic.errors == []
    assert set(traffic.seen) <= {200, 503}
