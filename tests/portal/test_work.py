"""Background work survives a killed worker and a stopped broker (real processes).

Each test runs a Redis of its own (to stop it) and real worker processes on the
PostgreSQL test database; a new worker must finish the work exactly once within
two minutes, with no beat running.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from agreements.models import AgreementEvent, ListSnapshot
from portal.models import WorkItem
from research.models import Document
from research.services.ingest import document_submit
from tests.conftest import second_connection, stop_process, wait_for, worker_log
from tests.research.factories import ResearcherFactory


def processes(test):
    """Real worker processes on a Redis of the test's own and the PostgreSQL test database."""
    for mark in (pytest.mark.celery_worker, pytest.mark.redis, pytest.mark.postgres):
        test = mark(test)
    return test


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


@processes
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


@processes
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
    # Another connection holds the snapshots' table against writes: however fast the
    # machine, the import cannot commit before the kill lands.
    blocker = second_connection()
    blocker.execute(f"LOCK TABLE {ListSnapshot._meta.db_table} IN SHARE MODE")
    first = workers()
    fetch_ice_lists_task.apply_async(kwargs={"url": local_server.url("/287g")})
    assert sheet.served.wait(60), worker_log(tmp_path)
    # The sheet is downloaded: the worker is reading and importing it now.
    time.sleep(0.5)
    stop_process(first, kill=True)
    blocker.close()
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


@processes
def test_submissions_while_redis_is_stopped_are_done_when_it_returns(
    local_server, workers, redis_server, tmp_path, client
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
    assert (timezone.now() - asked).total_seconds() < 10  # the request did not hang
    document = Document.objects.get()
    assert document.status == Document.Status.QUEUED
    assert WorkItem.objects.get().state == WorkItem.State.PENDING

    redis_server.start()
    assert wait_for(
        lambda: Document.objects.get(pk=document.pk).status == Document.Status.NEEDS_REVIEW,
        RECOVERY_SECONDS,
    ), worker_log(tmp_path)
    assert Document.objects.count() == 1


# --- Claims and recovery, in-process ------------------------------------------------


@pytest.fixture
def sent(monkeypatch):
    """The messages work_recover publishes, instead of a broker."""
    from portal import work

    published = []
    monkeypatch.setattr(work, "_publish", lambda item: published.append(item.task_id))
    return published


def running_item(task_id: str, *, beat_seconds_ago: float, holder: str = "other:1:x") -> WorkItem:
    beat = timezone.now() - timedelta(seconds=beat_seconds_ago)
    return WorkItem.objects.create(
        task_id=task_id,
        task_name="research.tasks.document_process_task",
        args=[1],
        state=WorkItem.State.RUNNING,
        holder=holder,
        heartbeat_at=beat,
        state_changed_at=beat,
    )


@pytest.mark.django_db
def test_recovery_resends_work_whose_holder_stopped_beating_and_leaves_live_work(sent):
    from portal.work import STALE_AFTER, work_recover

    running_item("work-dead", beat_seconds_ago=STALE_AFTER.total_seconds() + 5)
    running_item("work-alive", beat_seconds_ago=1)

    assert work_recover() == 1
    assert sent == ["work-dead"]
    assert WorkItem.objects.get(task_id="work-dead").state == WorkItem.State.SENT
    assert WorkItem.objects.get(task_id="work-alive").state == WorkItem.State.RUNNING


@pytest.mark.django_db
def test_a_late_copy_of_finished_work_does_not_run_again():
    from portal.work import work_claim, work_release

    first = work_claim(task_id="beat-1", task_name="agreements.tasks.fetch_ice_lists_task",
                       args=(), kwargs={})  # fmt: skip
    assert first.run and not first.resumed
    work_release(first.item, done=True)

    again = work_claim(task_id="beat-1", task_name="agreements.tasks.fetch_ice_lists_task",
                       args=(), kwargs={})  # fmt: skip
    assert not again.run


@pytest.mark.django_db
def test_work_held_by_a_live_worker_is_not_taken_and_a_dead_ones_is_resumed():
    from portal.work import STALE_AFTER, work_claim

    running_item("work-alive", beat_seconds_ago=1)
    running_item("work-dead", beat_seconds_ago=STALE_AFTER.total_seconds() + 5)

    alive = work_claim(task_id="work-alive", task_name="x", args=(), kwargs={})
    dead = work_claim(task_id="work-dead", task_name="x", args=(), kwargs={})
    assert not alive.run
    assert dead.run and dead.resumed


@pytest.mark.django_db
def test_work_that_could_not_be_sent_is_sent_once_the_broker_answers(
    sent, monkeypatch, django_capture_on_commit_callbacks
):
    from portal import work
    from research.tasks import document_process_task

    def refuse(item):
        raise ConnectionRefusedError("Redis is stopped")

    monkeypatch.setattr(work, "_publish", refuse)
    with django_capture_on_commit_callbacks(execute=True):
        item = work.work_enqueue(document_process_task, (7,))
    item.refresh_from_db()
    assert item.state == WorkItem.State.PENDING
    WorkItem.objects.filter(pk=item.pk).update(
        state_changed_at=timezone.now() - 2 * work.PENDING_GRACE
    )

    monkeypatch.setattr(work, "_publish", lambda item: sent.append(item.task_id))
    assert work.work_recover() == 1
    assert sent == [item.task_id]
    assert WorkItem.objects.get(pk=item.pk).state == WorkItem.State.SENT
