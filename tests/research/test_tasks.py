"""Celery tasks of the research app: retries, the sweep, and Redis going away."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from portal.celery import app
from portal.http import FetchError
from research.models import Document
from research.services.ingest import document_submit
from research.tasks import document_process_task, documents_requeue_stale_task

DATA = Path(__file__).parent / "data"
POLK = DATA / "287gJEM_PolkCoGa2020-07-02.pdf"
PDF = {"Content-Type": "application/pdf"}


@pytest.fixture(autouse=True)
def _no_pace(settings):
    settings.FETCH_HOST_INTERVAL_SECONDS = 0


def queued(url: str) -> Document:
    return Document.objects.create(source_url=url, canonical_url=url, status=Document.Status.QUEUED)


# --- In-process ---------------------------------------------------------------------


@pytest.mark.django_db
def test_task_processes_document_and_reports_status(local_server):
    local_server.routes["/moa.pdf"] = (200, PDF, POLK.read_bytes())
    document = queued(local_server.url("/moa.pdf"))
    assert document_process_task.apply(args=[document.pk]).get() == "needs_review"
    document.refresh_from_db()
    assert len(document.page_offsets) == 11


@pytest.mark.django_db
def test_task_for_a_deleted_document_does_nothing():
    assert document_process_task.apply(args=[987654]).get() == "missing"


@pytest.mark.django_db
def test_transient_error_in_a_worker_asks_celery_to_retry(local_server, monkeypatch):
    local_server.routes["/busy"] = (503, {}, "busy")
    document = queued(local_server.url("/busy"))
    retried = {}

    class Retrying(Exception):
        pass

    def fake_retry(*args, exc=None, **kwargs):
        retried["exc"] = exc
        retried["countdown"] = kwargs.get("countdown")
        return Retrying()

    monkeypatch.setattr(document_process_task, "retry", fake_retry)
    document_process_task.push_request(id="t1", retries=0, is_eager=False)
    try:
        with pytest.raises(Retrying):
            document_process_task.run(document.pk)
    finally:
        document_process_task.pop_request()
    assert isinstance(retried["exc"], FetchError)
    assert retried["exc"].retryable
    assert retried["countdown"] is not None  # backoff declared on the task
    document.refresh_from_db()
    assert document.status == Document.Status.QUEUED
    assert document.error_code == "server_error"


@pytest.mark.django_db
def test_last_retry_leaves_the_document_to_the_sweep(local_server):
    local_server.routes["/busy"] = (503, {}, "busy")
    document = queued(local_server.url("/busy"))
    document_process_task.push_request(
        id="t2", retries=document_process_task.max_retries, is_eager=False
    )
    try:
        assert document_process_task.run(document.pk) == "queued"
    finally:
        document_process_task.pop_request()
    document.refresh_from_db()
    assert "periodic sweep" in document.status_message


@pytest.mark.django_db
def test_permanent_error_is_not_retried(local_server, monkeypatch):
    local_server.routes["/gone"] = (410, {}, "gone")
    document = queued(local_server.url("/gone"))
    monkeypatch.setattr(
        document_process_task, "retry", lambda *a, **k: pytest.fail("must not retry")
    )
    document_process_task.push_request(id="t3", retries=0, is_eager=False)
    try:
        assert document_process_task.run(document.pk) == "failed"
    finally:
        document_process_task.pop_request()


@pytest.mark.django_db
def test_time_limit_leaves_the_document_queued_for_the_sweep(local_server, monkeypatch):
    from celery.exceptions import SoftTimeLimitExceeded

    from research.services import ingest

    def too_slow(*args, **kwargs):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(ingest, "extract", too_slow)
    local_server.routes["/moa.pdf"] = (200, PDF, POLK.read_bytes())
    document = queued(local_server.url("/moa.pdf"))
    assert document_process_task.apply(args=[document.pk]).get() == "interrupted"
    document.refresh_from_db()
    assert document.status == Document.Status.QUEUED
    assert document.error_code == "timeout"
    assert "took longer than" in document.status_message


def test_task_declares_late_ack_retries_and_time_limits():
    assert document_process_task.acks_late is True
    assert document_process_task.max_retries >= 3
    assert document_process_task.soft_time_limit < document_process_task.time_limit
    assert FetchError in document_process_task.autoretry_for


def test_sweep_is_scheduled_by_beat():
    scheduled = {entry["task"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()}
    assert documents_requeue_stale_task.name in scheduled
    assert documents_requeue_stale_task.name in app.tasks


# --- A real worker, and Redis going away ------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A private redis-server this test may stop and start at will."""

    def __init__(self, port: int):
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis.from_url(self.url, socket_connect_timeout=0.5).ping():
                    return
            except redis.RedisError:
                time.sleep(0.1)
        raise RuntimeError("the private redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


def _reset_producer_pools() -> None:
    app._pool = None
    app.amqp._producer_pool = None


class BrokerSwitch:
    """Stops the broker this process publishes to: without redis-server, by aiming it at a dead port."""

    def __init__(self, url: str):
        self.url = url

    def stop(self) -> None:
        app.conf.broker_url = "redis://127.0.0.1:1/0"
        _reset_producer_pools()

    def start(self) -> None:
        app.conf.broker_url = self.url
        _reset_producer_pools()


@pytest.fixture
def broker(settings):
    """A broker the test may stop and start: a private redis-server when installed."""
    previous = app.conf.broker_url
    server = None
    if shutil.which("redis-server"):
        server = RedisServer(_free_port())
        server.start()
        settings.REDIS_URL = server.url  # the celery_worker fixture passes it on
        app.conf.broker_url = server.url
    else:
        app.conf.broker_url = settings.REDIS_URL
    _reset_producer_pools()
    try:
        yield server or BrokerSwitch(settings.REDIS_URL)
    finally:
        app.conf.broker_url = previous
        _reset_producer_pools()
        if server is not None:
            server.stop()


def _wait_for_status(document: Document, status: str, seconds: float, worker) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        document.refresh_from_db()
        if document.status == status:
            return
        time.sleep(0.5)
    worker.worker_log.seek(0)
    pytest.fail(
        f"document stayed {document.status!r} ({document.status_message}); worker log:\n"
        + worker.worker_log.read()[-4000:]
    )


@pytest.mark.redis
@pytest.mark.celery_worker
def test_submission_while_redis_is_down_is_processed_once_redis_is_back(
    local_server, broker, celery_worker
):
    local_server.routes["/moa.pdf"] = (200, PDF, POLK.read_bytes())
    broker.stop()

    # transactional_db: the commit happens here and sending the task fails.
    document = document_submit(url=local_server.url("/moa.pdf"), kind="moa")
    document.refresh_from_db()
    assert document.status == Document.Status.QUEUED
    time.sleep(2)
    document.refresh_from_db()
    assert document.status == Document.Status.QUEUED  # nothing lost, nothing done

    broker.start()
    # What beat does every few minutes: send the sweep, which re-sends the document.
    documents_requeue_stale_task.apply_async(kwargs={"queued_for_seconds": 0})
    _wait_for_status(document, Document.Status.NEEDS_REVIEW, 90, celery_worker)
    assert len(document.page_offsets) == 11
    assert "Polk County" in document.text


@pytest.mark.redis
@pytest.mark.celery_worker
def test_worker_processes_a_submission(local_server, celery_worker):
    local_server.routes["/moa.pdf"] = (200, PDF, POLK.read_bytes())
    document = document_submit(url=local_server.url("/moa.pdf"), kind="moa")
    _wait_for_status(document, Document.Status.NEEDS_REVIEW, 60, celery_worker)
    assert document.attempts == 1
