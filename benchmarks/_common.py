"""What the benchmarks share: Django set up as in production, gunicorn on loopback, CPU time."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django(var: Path, name: str) -> None:
    """Set Django up with production settings, its files in ``var``; DATABASE_URL is the caller's.

    Settings already in the environment win, so a run can point elsewhere.
    """
    os.environ.setdefault("SECRET_KEY", f"bench-{name}-not-secret-" + "0123456789abcdef" * 3)
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
    os.environ.setdefault("STATIC_ROOT", str(var / "static"))
    os.environ.setdefault("MEDIA_ROOT", str(var / "media"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` and its finished children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def each_worker_cpu(master: int) -> dict[int, float]:
    """CPU seconds used so far by each live worker process of ``master``."""
    used = {}
    for child in Path(f"/proc/{master}/task/{master}/children").read_text().split():
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            used[int(child)] = process_cpu(int(child))
    return used


def workers_cpu(master: int) -> float:
    """CPU seconds used so far by the (gunicorn) workers of ``master``."""
    return sum(each_worker_cpu(master).values())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def served(command: list[str], *, port: int, ready: str, name: str, **popen):
    """Start a server in its own process group; yield (process, base URL) once ``ready``
    (a path) answers without a server error; stop the whole group afterwards."""
    import httpx

    server = subprocess.Popen(command, start_new_session=True, **popen)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + ready, timeout=2).status_code < 500:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"{name} did not answer within 60 s")
            time.sleep(0.3)
        yield server, base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


@contextlib.contextmanager
def gunicorn(workers: int, *, timeout: int = 30):
    """Collect static files, start gunicorn on a free loopback port; yield (process, base
    URL) once every worker has read the search arrays (portal/gunicorn.py), so that no
    client's kept-alive connection goes to a worker still reading them."""
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        check=True,
        env=os.environ.copy(),
    )
    port = free_port()
    with (
        tempfile.NamedTemporaryFile("r", suffix=".log") as log,
        served(
            [str(Path(sys.executable).parent / "gunicorn"), "portal.wsgi:application"]
            + ["-c", "python:portal.gunicorn"]  # as in production (docker/Dockerfile)
            + ["--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
            + ["--timeout", str(timeout), "--log-level", "info", "--error-logfile", log.name],
            port=port,
            ready="/healthz",
            name="gunicorn",
            cwd=ROOT,
            env=os.environ.copy(),
        ) as running,
    ):
        deadline = time.monotonic() + 300
        while Path(log.name).read_text().count("Search arrays") < workers:
            if time.monotonic() > deadline:
                sys.exit("gunicorn's workers did not read the search arrays within 300 s")
            time.sleep(0.3)
        yield running
