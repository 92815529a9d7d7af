"""Background work survives a killed worker and a stopped broker (real processes).

Each test runs a Redis of its own (to stop it) and real worker processes on the
PostgreSQL test database; a new worker must finish the work exactly once within
two minutes, with no beat running.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from django.utils import timezone

from agreements.models import AgreementEvent, ListSnapshot
from portal.models import WorkItem
from research.models import Document
from research.services.ingest import document_submit
from tests.conftest import start_celery_worker, stop_process
from tests.research.factories import ResearcherFactory

pytestmark = [pytest.mark.celery_worker, pytest.mark.redis, pytest.mark.postgres]

DATA = Path(__file__).parent.parent / "agreements" / "data"
PARTICIPATING = "participatingAgencies07112025pm.xlsx"
# The promise: done within this long after a worker is available again.
RECOVERY_SECONDS = 120

ARTICLE = """<!doctype html><html><head><title>County signs a 287(g) agreement</title></head>
<body><article><h1>County signs a 287(g) agreement</h1>
<p>The sheriff's office of Example County signed a memorandum of agreement with
Immigration and Customs Enforcement on Tuesday, joining the task force model.</p>
<p>Commissioners heard from residents for three hours before the vote, and the
agreement takes effect at once, the sheriff said in a statement to reporters.</p>
</article></body></html>"""


def wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return predicate()


class Gate:
    """A route that holds its first request until released: a kill lands mid-download."""

    def __init__(self, body: bytes, content_type: str):
        self.body, self.content_type = body, content_type
        self.hits = 0
        self.arrived = threading.Event()
        self.release = threading.Event()

    def __call__(self, handler):
        self.hits += 1
        if self.hits == 1:
            self.arrived.set()
            self.release.wait(60)
        return 200, {"Content-Type": self.content_type}, self.body


class Served:
    """A route that notes when its body was handed out: the import starts right after."""

    def __init__(self, body: bytes, content_type: str):
        self.body, self.content_type = body, content_type
        self.hits = 0
        self.served = threading.Event()

    def __call__(self, handler):
        self.hits += 1
        self.served.set()
        return 200, {"Content-Type": self.content_type}, self.body


@pytest.fixture
def workers(transactional_db, settings, redis_server, broker_at, tmp_path):
    """Start workers on the test's own Redis; every one is stopped at the end."""
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
    return (tmp_path / "workers.log").read_text()[-4000:]


def test_a_fetch_cut_by_a_killed_worker_is_finished_once_by_the_next(
    local_server, workers, tmp_path
):
    gate = Gate(ARTICLE.encode(), "text/html; charset=utf-8")
    local_server.routes["/news/county-signs.html"] = gate
    first = workers()
    document = document_submit(
        url=local_server.url("/news/county-signs.html"), submitted_by=ResearcherFactory()
    )
    assert gate.arrived.wait(60), worker_log(tmp_path)
    stop_process(first, kill=True)
    gate.release.set()
    document.refresh_from_db()
    assert document.status == Document.Status.FETCHING  # the kill left it mid-fetch

    workers()
    assert wait_for(
        lambda: Document.objects.get(pk=document.pk).status == Document.Status.NEEDS_REVIEW,
        RECOVERY_SECONDS,
    ), worker_log(tmp_path)
    document.refresh_from_db()
    assert "Example County" in document.text
    assert Document.objects.count() == 1
    assert gate.hits == 2  # the cut download and the one that finished, no third
    assert document.attempts == 2
    assert list(WorkItem.objects.values_list("state", flat=True)) == [WorkItem.State.DONE]


def test_an_import_cut_by_a_killed_worker_is_finished_once_by_the_next(
    local_server, workers, tmp_path, settings
):
    from agreements.tasks import fetch_ice_lists_task

    sheet = Served(
        (DATA / PARTICIPATING).read_bytes(),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    local_server.routes[f"/287g/{PARTICIPATING}"] = sheet
    local_server.routes["/287g"] = (
        200,
        {"Content-Type": "text/html"},
        f'<a href="/287g/{PARTICIPATING}">Participating agencies</a>',
    )
    first = workers()
    fetch_ice_lists_task.apply_async(kwargs={"url": local_server.url("/287g")})
    assert sheet.served.wait(60), worker_log(tmp_path)
    # The sheet is downloaded: the worker is reading and importing it now.
    time.sleep(0.5)
    stop_process(first, kill=True)
    assert ListSnapshot.objects.count() == 0  # the kill landed before the import committed

    workers()
    assert wait_for(lambda: ListSnapshot.objects.exists(), RECOVERY_SECONDS), worker_log(tmp_path)
    assert wait_for(lambda: WorkItem.objects.filter(state=WorkItem.State.DONE).exists(), 30), (
        worker_log(tmp_path)
    )
    snapshot = ListSnapshot.objects.get()
    events = AgreementEvent.objects.all()
    assert events.exists()
    assert {event.snapshot_id for event in events} == {snapshot.pk}
    keys = [(e.agreement_id, e.kind, e.field) for e in events]
    assert len(keys) == len(set(keys))  # no event recorded twice
    assert sheet.hits == 2
    assert WorkItem.objects.count() == 1


def test_submissions_while_redis_is_stopped_are_done_when_it_returns(
    django_db_serialized_rollback, local_server, workers, redis_server, tmp_path, client
):
    local_server.routes["/news/county-signs.html"] = (
        200,
        {"Content-Type": "text/html; charset=utf-8"},
        ARTICLE,
    )
    workers()
    redis_server.stop()
    client.force_login(ResearcherFactory())
    asked = timezone.now()
    response = client.post(
        "/api/v1/documents/",
        {"url": local_server.url("/news/county-signs.html")},
        content_type="application/json",
    )
    assert response.status_code == 202, response.content
    assert (timezone.now() - asked).total_seconds() < 30  # the request did not hang
    document = Document.objects.get()
    assert document.status == Document.Status.QUEUED
    assert WorkItem.objects.get().state == WorkItem.State.PENDING

    redis_server.start()
    assert wait_for(
        lambda: Document.objects.get(pk=document.pk).status == Document.Status.NEEDS_REVIEW,
        RECOVERY_SECONDS,
    ), worker_log(tmp_path)
    assert Document.objects.count() == 1
