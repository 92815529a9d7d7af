"""Fixtures shared by the whole suite.

Tests that need a server are marked ``postgres``, ``redis``, ``celery_worker``,
``browser`` or ``package_index`` (pip's index, to install the project afresh). Without that server they skip and say why; with
``REQUIRE_SERVICES=1`` (CI's PostgreSQL/Redis run) a missing server is a failure
instead, so CI cannot pass while skipping them.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

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


def run_python(
    code: str,
    *,
    env: dict[str, str],
    python: str | Path = sys.executable,
    cwd: Path = ROOT,
    timeout: int = 60,
) -> subprocess.CompletedProcess:
    """Run ``code`` in a new interpreter with exactly ``env``, capturing its output as text."""
    return subprocess.run(
        [str(python), "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


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
    elif marker == "package_index":
        return _index_unreachable()
    return None


def _index_unreachable() -> str | None:
    """Why pip cannot reach its package index, or None when it can."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "config", "get", "global.index-url"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    url = os.environ.get("PIP_INDEX_URL") or done.stdout.strip() or "https://pypi.org/simple"
    parts = urlsplit(url)
    if parts.scheme == "file":
        return None if Path(parts.path).is_dir() else f"needs the package index {url}, missing"
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        with socket.create_connection((parts.hostname, port), timeout=5):
            return None
    except (OSError, ValueError) as exc:
        return f"needs the package index {url} to install the project; unreachable: {exc}"


@pytest.fixture(autouse=True)
def _servers_for_markers(request):
    for marker in ("postgres", "redis", "celery_worker", "browser", "package_index"):
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


def second_connection():
    """Another PostgreSQL connection to the test database (in a transaction), to hold
    locks against the code under test."""
    import psycopg

    return psycopg.connect(database_url_for_subprocess().replace("postgres://", "postgresql://"))


def start_celery_worker(
    *, redis_url: str, media_root: Path, log_path: Path, loopback: bool
) -> subprocess.Popen:
    """Start ``celery worker`` against ``redis_url`` and the test database; wait until ready."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.test_settings",
        "DATABASE_URL": database_url_for_subprocess(),
        "REDIS_URL": redis_url,
        "MEDIA_ROOT": str(media_root),
        "FETCH_ALLOW_LOOPBACK": "1" if loopback else "0",
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
    log = open(log_path, "a+")  # noqa: SIM115
    start = log.seek(0, os.SEEK_END)
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    proc.log = log
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        log.seek(start)
        if " ready." in log.read():
            return proc
        if proc.poll() is not None:
            log.seek(start)
            pytest.fail(f"celery worker exited early:\n{log.read()[-3000:]}")
        time.sleep(0.2)
    stop_process(proc)
    pytest.fail("celery worker did not become ready within 60 s")


def start_gunicorn(
    *, env: dict, log_path: Path, ready_path: str = "/healthz", options: tuple[str, ...] = ()
) -> tuple[subprocess.Popen, str]:
    """Start gunicorn on a free loopback port; return it (``.log``: its output) and its base URL.

    Ready once ``ready_path`` answers at all: the tests judge the status themselves.
    """
    import httpx

    port = _free_port()
    log = open(log_path, "w+")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "portal.wsgi",
            "--config=python:portal.gunicorn",
            f"--bind=127.0.0.1:{port}",
            "--workers=1",
            "--threads=4",
            "--timeout=60",
            *options,
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    proc.log = log
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(base + ready_path, timeout=5)
            return proc, base
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop_process(proc)
                log.seek(0)
                output = log.read()[-3000:]
                log.close()
                pytest.fail(f"gunicorn did not answer within 60 s:\n{output}")
            time.sleep(0.3)


def stop_process(proc: subprocess.Popen, *, kill: bool = False) -> None:
    """End a process started in its own session: SIGKILL at once, or SIGTERM then SIGKILL."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)


def wait_for(predicate, seconds: float) -> bool:
    """Poll ``predicate`` until it holds or ``seconds`` pass; whether it held."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return predicate()


@pytest.fixture
def workers(transactional_db, settings, redis_server, broker_at, tmp_path):
    """Start workers on the test's own Redis; every one is stopped at the end.

    They log to ``worker_log(tmp_path)`` and reach loopback addresses when
    ``settings.FETCH_ALLOW_LOOPBACK`` is on at the time of the start.
    """
    broker_at(redis_server.url)
    started = []

    def start():
        proc = start_celery_worker(
            redis_url=redis_server.url,
            media_root=Path(settings.MEDIA_ROOT),
            log_path=tmp_path / "workers.log",
            loopback=settings.FETCH_ALLOW_LOOPBACK,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        stop_process(proc)
        proc.log.close()


def worker_log(tmp_path) -> str:
    """The end of what the ``workers`` of this test wrote, to say why it failed."""
    return (tmp_path / "workers.log").read_text()[-4000:]


@pytest.fixture
def celery_worker(transactional_db, settings):
    """Start ``celery worker`` against Redis and the test database; yield the app.

    Use with ``@pytest.mark.celery_worker``. Tasks sent from the test go to Redis
    (eager mode is switched off) and the worker sees the committed test data.
    """
    from portal.celery import app

    proc = start_celery_worker(
        redis_url=settings.REDIS_URL,
        media_root=Path(settings.MEDIA_ROOT),
        log_path=Path(settings.MEDIA_ROOT).parent / "worker.log",
        loopback=settings.FETCH_ALLOW_LOOPBACK,
    )
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        app.worker_log = proc.log  # let tests read the log on failure
        yield app
    finally:
        app.conf.task_always_eager = previous
        stop_process(proc)
        proc.log.close()


# --- Servers of our own, to stop and start in fault tests. -----------------------


class RedisServer:
    """A redis-server of this test's own on a port of 6410-6419, without persistence."""

    def __init__(self, directory: Path, *, maxmemory: str | None = None):
        self.directory = directory
        self.port = next(p for p in range(6410, 6420) if _port_free(p))
        # A cache server evicts the least recently used keys at maxmemory, as in production.
        self.extra = (
            ["--maxmemory", maxmemory, "--maxmemory-policy", "allkeys-lru"] if maxmemory else []
        )
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while not _redis_answers(self.url):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                pytest.fail(f"redis-server did not start on port {self.port}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, kill=True)
            self.proc = None

    def keys(self) -> int:
        """How many keys the server holds."""
        import redis

        return redis.Redis.from_url(self.url).dbsize()


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start_redis_server(directory: Path, **options) -> RedisServer:
    """Start a Redis of the test's own; skips (fails under CI) without redis-server."""
    if shutil.which("redis-server") is None:
        if _require_services():
            pytest.fail("redis-server is not installed, and CI requires it")
        pytest.skip("needs redis-server on PATH for a Redis of the test's own")
    server = RedisServer(directory, **options)
    server.start()
    return server


@pytest.fixture
def redis_server(tmp_path):
    """A Redis of this test's own (to stop and start); skips without redis-server."""
    server = start_redis_server(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def broker_at():
    """Point this process's Celery app at another broker, with eager mode off; restore after."""
    from portal.celery import app

    saved = (app.conf.broker_url, app.conf.task_always_eager)

    def repoint(url: str):
        app.conf.broker_url = url
        app.conf.task_always_eager = False
        app._pool = None
        app.amqp._producer_pool = None
        return app

    yield repoint
    app.conf.broker_url, app.conf.task_always_eager = saved
    app._pool = None
    app.amqp._producer_pool = None


def chromium_path() -> str:
    return CHROMIUM if Path(CHROMIUM).exists() else (shutil.which("chromium") or CHROMIUM)


class PostgresCluster:
    """A PostgreSQL cluster of this test's own (initdb into a temporary folder), to restart."""

    def __init__(self, bindir: Path):
        import tempfile

        self.bindir = bindir
        self.directory = Path(tempfile.mkdtemp(prefix="pg-own-"))
        self.data = self.directory / "data"
        self.port = next(p for p in range(5440, 5480) if _port_free(p))
        if os.geteuid() == 0:  # initdb refuses root: run the cluster as postgres
            shutil.chown(self.directory, "postgres", "postgres")

    def url(self, name: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def _run(self, *args: str) -> None:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(map(shlex.quote, cmd))]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    def start(self) -> None:
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.directory / "log"), "-w",
            "-o", f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1", "start",
        )  # fmt: skip

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture
def postgres_cluster():
    """Start a PostgreSQL cluster of the test's own; skips without PostgreSQL's binaries."""
    import glob

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        if _require_services():
            pytest.fail("PostgreSQL's initdb is not installed, and CI requires it")
        pytest.skip("needs PostgreSQL's server binaries (/usr/lib/postgresql/*/bin)")
    cluster = PostgresCluster(Path(found[-1]).parent)
    cluster.init()
    cluster.start()
    yield cluster
    cluster.destroy()
