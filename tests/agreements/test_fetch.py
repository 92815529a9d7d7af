"""fetch_ice_lists: find ICE's spreadsheet links, download them, import what is new."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from agreements.models import ListSnapshot
from agreements.services.fetch import ice_list_links
from agreements.tasks import fetch_ice_lists_task
from tests.agreements.factories import ListSnapshotFactory

DATA = Path(__file__).parent / "data"
PARTICIPATING = "participatingAgencies07112025pm.xlsx"
PENDING = "pendingAgencies06062025am.xlsx"

PAGE = """<!doctype html><html><body>
<h1>Delegation of Immigration Authority Section 287(g)</h1>
<p><a href="/doc-lib/about/287g/{participating}">Participating agencies (Excel)</a></p>
<p><a href="{base}/doc-lib/about/287g/{pending}">Pending agencies</a></p>
<p><a href="/doc-lib/about/287g/factsheet.pdf">Fact sheet</a></p>
</body></html>"""


def html_route(body: str, status: int = 200):
    return (status, {"Content-Type": "text/html; charset=utf-8"}, body)


@pytest.fixture
def ice(local_server, settings):
    """A local copy of ICE's page linking to the real sample spreadsheets."""
    settings.FETCH_HOST_INTERVAL_SECONDS = 0
    folder = local_server.directory / "doc-lib" / "about" / "287g"
    folder.mkdir(parents=True)
    for name in (PARTICIPATING, PENDING):
        shutil.copy(DATA / name, folder / name)
    local_server.routes["/287g"] = html_route(
        PAGE.format(participating=PARTICIPATING, pending=PENDING, base=local_server.base_url)
    )
    local_server.page_url = local_server.url("/287g")
    return local_server


def sha256_of(name: str) -> str:
    return hashlib.sha256((DATA / name).read_bytes()).hexdigest()


def run(url: str) -> tuple[str, str]:
    from io import StringIO

    out, err = StringIO(), StringIO()
    call_command("fetch_ice_lists", "--url", url, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


# --- Finding the links ----------------------------------------------------------


def test_links_relative_and_absolute_are_found_with_their_kind():
    html = PAGE.format(participating=PARTICIPATING, pending=PENDING, base="https://www.ice.gov")

    links = ice_list_links(html, "https://www.ice.gov/identify-and-arrest/287g")

    assert [(link.url, link.kind) for link in links] == [
        (f"https://www.ice.gov/doc-lib/about/287g/{PARTICIPATING}", "participating"),
        (f"https://www.ice.gov/doc-lib/about/287g/{PENDING}", "pending"),
    ]


def test_links_kind_comes_from_text_when_file_name_is_vague():
    html = (
        '<a href="files/list-a.XLSX?v=2">List of participating agencies</a>'
        '<a href="files/list-b.xlsx">Pending agencies list</a>'
        '<a href="files/list-a.XLSX?v=2">again</a>'
        '<a href="mailto:someone@ice.gov">mail</a>'
    )

    links = ice_list_links(html, "https://www.ice.gov/287g/")

    assert [(link.url, link.kind) for link in links] == [
        ("https://www.ice.gov/287g/files/list-a.XLSX?v=2", "participating"),
        ("https://www.ice.gov/287g/files/list-b.xlsx", "pending"),
    ]


# --- The command against a local copy of the page ------------------------------


@pytest.mark.django_db
def test_known_files_are_not_imported_again(ice):
    known = [
        ListSnapshotFactory(sha256=sha256_of(PARTICIPATING)),
        ListSnapshotFactory(sha256=sha256_of(PENDING), kind="pending"),
    ]

    out, err = run(ice.page_url)

    assert ListSnapshot.objects.count() == 2
    assert out.count("unchanged (already imported") == 2
    assert f"snapshot {known[0].pk}" in out
    assert err == ""


@pytest.mark.django_db
def test_new_files_are_imported_with_their_source_url(ice):

    out, _ = run(ice.page_url)

    participating = ListSnapshot.objects.get(kind="participating")
    pending = ListSnapshot.objects.get(kind="pending")
    assert participating.sha256 == sha256_of(PARTICIPATING)
    assert participating.source_url == ice.url(f"/doc-lib/about/287g/{PARTICIPATING}")
    assert pending.sha256 == sha256_of(PENDING)
    assert participating.rows.count() > 700
    assert len(out.strip().splitlines()) == 2

    again, _ = run(ice.page_url)
    assert ListSnapshot.objects.count() == 2
    assert again.count("unchanged") == 2


@pytest.mark.django_db
def test_only_the_new_file_is_imported(ice):
    ListSnapshotFactory(sha256=sha256_of(PENDING), kind="pending")

    out, _ = run(ice.page_url)

    assert ListSnapshot.objects.filter(sha256=sha256_of(PARTICIPATING)).exists()
    assert ListSnapshot.objects.count() == 2
    assert out.count("unchanged") == 1


@pytest.mark.django_db
def test_page_without_spreadsheets_fails_with_a_sentence(local_server, settings):
    settings.FETCH_HOST_INTERVAL_SECONDS = 0
    local_server.routes["/287g"] = html_route("<html><a href='/news'>News</a></html>")

    with pytest.raises(CommandError, match="links to no .xlsx spreadsheet"):
        run(local_server.url("/287g"))
    assert ListSnapshot.objects.count() == 0


@pytest.mark.django_db
def test_missing_page_fails_with_a_sentence(local_server, settings):
    settings.FETCH_HOST_INTERVAL_SECONDS = 0

    with pytest.raises(CommandError, match="404"):
        run(local_server.url("/moved"))


@pytest.mark.django_db
def test_one_broken_file_does_not_stop_the_other(ice):
    ListSnapshotFactory(sha256=sha256_of(PENDING), kind="pending")
    ice.routes[f"/doc-lib/about/287g/{PARTICIPATING}"] = (503, {}, b"busy")

    with pytest.raises(CommandError, match="1 of ICE's lists could not be imported"):
        run(ice.page_url)


@pytest.mark.django_db
def test_a_page_that_is_not_reachable_is_refused_without_loopback_permission(ice, settings):
    settings.FETCH_ALLOW_LOOPBACK = False

    with pytest.raises(CommandError, match="loopback"):
        run(ice.page_url)


# --- The Celery task ------------------------------------------------------------


@pytest.fixture
def eager_retries():
    """In-process tasks run their retries only when errors are not re-raised at once."""
    conf = fetch_ice_lists_task.app.conf
    previous = conf.task_eager_propagates
    conf.task_eager_propagates = False
    yield
    conf.task_eager_propagates = previous


@pytest.mark.django_db
def test_task_retries_transient_errors_then_succeeds(ice, monkeypatch, eager_retries):
    monkeypatch.setattr("agreements.tasks.retry_delay", lambda retries: 0)
    for name in (PARTICIPATING, PENDING):
        ListSnapshotFactory(sha256=sha256_of(name))
    page = ice.routes["/287g"]
    calls = []

    def flaky(handler):
        calls.append(1)
        return (503, {}, b"try later") if len(calls) < 3 else page

    ice.routes["/287g"] = flaky

    summaries = fetch_ice_lists_task.apply(kwargs={"url": ice.page_url}).get()

    assert len(calls) == 3
    assert all("unchanged" in line for line in summaries)


@pytest.mark.django_db
def test_task_does_not_retry_a_permanent_error(ice, monkeypatch):
    monkeypatch.setattr("agreements.tasks.retry_delay", lambda retries: 0)
    calls = []

    def gone(handler):
        calls.append(1)
        return (404, {}, b"")

    ice.routes["/287g"] = gone

    with pytest.raises(Exception, match="404"):
        fetch_ice_lists_task.apply(kwargs={"url": ice.page_url}).get()
    assert len(calls) == 1


def test_task_is_declared_for_safe_redelivery_and_scheduled():
    from django.conf import settings

    assert fetch_ice_lists_task.acks_late is True
    assert fetch_ice_lists_task.max_retries >= 3
    assert fetch_ice_lists_task.time_limit and fetch_ice_lists_task.soft_time_limit
    entries = [
        entry
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] == "agreements.tasks.fetch_ice_lists_task"
    ]
    assert len(entries) == 1
    assert len(entries[0]["schedule"].hour) == 2


@pytest.mark.celery_worker
def test_task_runs_on_a_real_worker(ice, celery_worker):
    for name in (PARTICIPATING, PENDING):
        ListSnapshotFactory(sha256=sha256_of(name))

    summaries = fetch_ice_lists_task.delay(ice.page_url).get(timeout=60)

    assert len(summaries) == 2
    assert all("unchanged" in line for line in summaries)


@pytest.mark.django_db
def test_default_page_is_ices_287g_page(monkeypatch):
    from portal.http import FetchError

    asked = []

    def no_network(url, **kwargs):
        asked.append(url)
        raise FetchError("offline in tests")

    monkeypatch.setattr("agreements.services.fetch.fetch", no_network)

    with pytest.raises(CommandError, match="offline in tests"):
        call_command("fetch_ice_lists")
    assert asked == ["https://www.ice.gov/identify-and-arrest/287g"]
