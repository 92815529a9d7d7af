"""The front page: headline figures, map, monthly chart, latest changes and documents."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from agreements.models import AgreementEvent, SupportModel
from research.models import Document
from tests.agreements.factories import (
    AgencyFactory,
    AgreementEventFactory,
    AgreementFactory,
    ListSnapshotFactory,
    listed,
)
from tests.research.factories import DocumentFactory

pytestmark = pytest.mark.django_db


def aware(*args) -> dt.datetime:
    return timezone.make_aware(dt.datetime(*args))


@pytest.fixture
def lists():
    june = ListSnapshotFactory(published_at=aware(2025, 6, 1, 9))
    july = ListSnapshotFactory(published_at=aware(2025, 7, 11, 18))
    texas = [AgencyFactory(state="TX") for _ in range(3)]
    florida = AgencyFactory(state="FL", name="Arcadia Police Department")
    jem = [
        AgreementFactory(agency=a, model=SupportModel.JEM, signed_on=dt.date(2025, 2, 3))
        for a in texas
    ]
    tfm = AgreementFactory(agency=florida, model=SupportModel.TFM, signed_on=dt.date(2025, 6, 20))
    listed(june, *jem[:2])
    listed(july, *jem, tfm)
    event = AgreementEventFactory(agreement=tfm, kind=AgreementEvent.Kind.SIGNED, snapshot=july)
    return {"june": june, "july": july, "event": event}


def test_home_shows_headline_figures_of_the_latest_list(client, lists):
    html = client.get("/").content.decode()
    assert "As of the ICE list of July 11, 2025" in html
    assert lists["july"].sha256[:16] in html
    assert '<div class="figure"><a href="/statistics/">4</a></div>agencies' in html
    # A month earlier (June 1) two agreements were listed: +2 since then.
    assert "<strong>+2</strong> agreements" in html
    assert lists["june"].get_absolute_url() in html


def test_home_map_has_linked_state_tiles_a_table_and_a_model_switch(client, lists):
    html = client.get("/").content.decode()
    assert '<svg class="chart tile-map"' in html
    assert '<a href="/states/TX/" aria-label="TX: 3 agreements">' in html
    assert '<th scope="row"><a href="/states/FL/">FL</a></th><td class="num">1</td>' in html
    assert 'href="?model=TFM#map-heading"' in html
    html = client.get("/", {"model": "TFM"}).content.decode()
    assert 'aria-label="FL: 1 agreement"' in html
    assert '<th scope="row"><a href="/states/TX/">TX</a></th><td class="num">0</td>' in html


def test_home_monthly_chart_counts_signings_by_model(client, lists):
    html = client.get("/").content.decode()
    assert '<svg class="chart bars"' in html
    # The legend stays readable on a phone, where the chart scrolls to its latest months.
    assert (
        'Colours: <span class="badge JEM">JEM</span> <span class="badge TFM">TFM</span> '
        '<span class="badge WSO">WSO</span>'
    ) in html
    assert '<div class="chart-scroll" tabindex="0" role="region"' in html
    assert "<title>February 2025: JEM 3, TFM 0, WSO 0</title>" in html
    assert (
        '<th scope="row">2025-06</th><td class="num">0</td><td class="num">1</td>'
        '<td class="num">0</td><td class="num">1</td>'
    ) in html


def test_home_lists_latest_changes_and_documents(client, lists):
    now = timezone.now()
    DocumentFactory(
        title="Sheriff explains new task force",
        status=Document.Status.PUBLISHED,
        status_changed_at=now,
    )
    DocumentFactory(
        title="Not yet reviewed", status=Document.Status.NEEDS_REVIEW, status_changed_at=now
    )
    html = client.get("/").content.decode()
    assert f'id="event-{lists["event"].pk}"' in html
    assert "Arcadia Police Department" in html
    assert "Sheriff explains new task force" in html
    assert "Not yet reviewed" not in html


def test_home_without_any_list_explains_how_to_load_one(client):
    html = client.get("/").content.decode()
    assert "No ICE list has been imported yet" in html
