"""Celery tasks of the research app: retries, the sweep, and a real worker."""

from __future__ import annotations

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


# --- A real worker -------------------------------------------------------------------


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
def test_worker_processes_a_submission(local_server, celery_worker):
    local_server.routes["/moa.pdf"] = (200, PDF, POLK.read_bytes())
    document = document_submit(url=local_server.url("/moa.pdf"), kind="moa")
    _wait_for_status(document, Document.Status.NEEDS_REVIEW, 60, celery_worker)
    assert document.attempts == 1
