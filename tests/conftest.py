"""Fixtures shared by the whole suite.

Tests that need a server are marked ``postgres``, ``redis``, ``celery_worker`` or
``browser``. Without that server they skip and say why; with
``REQUIRE_SERVICES=1`` (CI's PostgreSQL/Redis run) a missing server is a failure
instead, so CI cannot pass while skipping them.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

ROOT = Path(__file__).resolve().parent.parent

# Property tests draw few examples so the suite stays fast; HYPOTHESIS_PROFILE=thorough
# draws many more. Web requests are slow examples, and a database fixture spans them.
_HYPOTHESIS_COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}
hypothesis_settings.register_profile("portal", max_examples=25, **_HYPOTHESIS_COMMON)
hypothesis_settings.register_profile("thorough", max_examples=500, **_HYPOTHESIS_COMMON)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "portal"))
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def _require_services() -> bool:
    return os.environ.get("REQUIRE_SERVICES", "").lower() in {"1", "true", "yes"}


def _redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except Exception:
        return False


def _missing(marker: str) -> str | None:
    """Why the server behind ``marker`` is unavailable, or None if it is there."""
    if marker == "postgres":
        if connection.vendor != "postgresql":
            return "needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/test"
    elif marker in {"redis", "celery_worker"}:
        if not settings.REDIS_URL:
            return "needs Redis: set REDIS_URL=redis://127.0.0.1:6379/0"
        if not _redis_answers(settings.REDIS_URL):
            return f"needs Redis, but nothing answers at {settings.REDIS_URL}"
        if marker == "celery_worker" and connection.vendor == "sqlite":
            return "needs a database a worker process can share: set DATABASE_URL to PostgreSQL"
    elif marker == "browser" and not Path(CHROMIUM).exists():
        return f"needs Debian's chromium at {CHROMIUM} (apt-get install -y chromium)"
    return None


@pytest.fixture(autouse=True)
def _servers_for_markers(request):
    for marker in ("postgres", "redis", "celery_worker", "browser"):
        if request.node.get_closest_marker(marker) is None:
            continue
        reason = _missing(marker)
        if reason is None:
            continue
        if marker == "browser":
            required = os.environ.get("REQUIRE_BROWSER") == "1"
        else:
            required = _require_services()
        if required:
            pytest.fail(
                f"this test {reason}, and CI requires it (REQUIRE_SERVICES/REQUIRE_BROWSER)"
            )
        pytest.skip(reason)


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts with an empty cache, so no figure leaks between tests."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _media_root(tmp_path, settings):
    """Each test writes uploaded and fetched files into its own folder."""
    settings.MEDIA_ROOT = tmp_path / "media"


# --- A local HTTP server: ingestion tests never leave loopback. ----------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    routes: dict = {}

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        route = self.routes.get(self.path)
        if route is None:
            return super().do_GET()
        status, headers, body = route(self) if callable(route) else route
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if isinstance(body, str):
            body = body.encode()
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class LocalServer:
    """Serves a folder, plus ``routes`` (path -> (status, headers, body) or callable)."""

    def __init__(self, directory: Path):
        handler = type("Handler", (_QuietHandler,), {"routes": {}})
        self.routes = handler.routes
        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(handler, directory=str(directory))
        )
        self.directory = directory
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + "/" + path.lstrip("/")

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def local_server(tmp_path, settings):
    """A loopback HTTP server over a temporary folder; loopback fetching allowed."""
    settings.FETCH_ALLOW_LOOPBACK = True
    root = tmp_path / "www"
    root.mkdir()
    server = LocalServer(root)
    yield server
    server.close()


# --- A real Celery worker process. ----------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url_for_subprocess() -> str:
    """A DATABASE_URL that reaches the database this test is using."""
    db = connection.settings_dict
    if connection.vendor != "postgresql":
        raise RuntimeError("a worker subprocess needs PostgreSQL")
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    user = db.get("USER") or "postgres"
    return f"postgres://{user}@{host}:{port}/{db['NAME']}"


@pytest.fixture
def celery_worker(transactional_db, settings):
    """Start ``celery worker`` against Redis and the test database; yield the app.

    Use with ``@pytest.mark.celery_worker``. Tasks sent from the test go to Redis
    (eager mode is switched off) and the worker sees the committed test data.
    """
    from portal.celery import app

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.test_settings",
        "DATABASE_URL": database_url_for_subprocess(),
        "REDIS_URL": settings.REDIS_URL,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "FETCH_ALLOW_LOOPBACK": "1" if settings.FETCH_ALLOW_LOOPBACK else "0",
        "PYTHONUNBUFFERED": "1",
    }
    cmd = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "portal",
        "worker",
        "--pool=solo",
        "--loglevel=INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        f"--hostname=test-{_free_port()}@localhost",
    ]
    log = open(Path(settings.MEDIA_ROOT).parent / "worker.log", "w+")  # noqa: SIM115
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            log.seek(0)
            if " ready." in log.read():
                break
            if proc.poll() is not None:
                log.seek(0)
                pytest.fail(f"celery worker exited early:\n{log.read()[-3000:]}")
            time.sleep(0.2)
        else:
            pytest.fail("celery worker did not become ready within 60 s")
        app.worker_log = log  # let tests read the log on failure
        yield app
    finally:
        app.conf.task_always_eager = previous
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def chromium_path() -> str:
    return CHROMIUM if Path(CHROMIUM).exists() else (shutil.which("chromium") or CHROMIUM)
