"""Public agreements pages: what a visitor sees, downloads and follows."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import feedparser
import pytest
from django.urls import reverse
from django.utils import timezone

from agreements.models import Agreement, AgreementEvent, ListSnapshot, SupportModel
from tests.agreements.factories import (
    AgencyFactory,
    AgreementEventFactory,
    AgreementFactory,
    ListSnapshotFactory,
    listed,
)

pytestmark = pytest.mark.django_db


def aware(*args) -> dt.datetime:
    return timezone.make_aware(dt.datetime(*args))


@pytest.fixture
def world():
    """Two participating lists a month apart: Harris (TX) added a TFM agreement, Polk (GA) left."""
    old = ListSnapshotFactory(
        published_at=aware(2025, 5, 23, 9),
        warnings=[
            {
                "row": 14,
                "column": "SIGNED",
                "value": "2/30/2025",
                "message": "Impossible date kept as text.",
            }
        ],
    )
    new = ListSnapshotFactory(published_at=aware(2025, 7, 11, 18))
    harris = AgencyFactory(name="Harris County Sheriff's Office", state="TX", county_name="Harris")
    polk = AgencyFactory(name="Polk County Sheriff's Office", state="GA", county_name="Polk")
    arcadia = AgencyFactory(name="Arcadia Police Department", state="FL", kind="municipality")
    harris_jem = AgreementFactory(
        agency=harris, model=SupportModel.JEM, signed_on=dt.date(2020, 1, 8)
    )
    harris_tfm = AgreementFactory(
        agency=harris, model=SupportModel.TFM, signed_on=dt.date(2025, 6, 2)
    )
    polk_jem = AgreementFactory(
        agency=polk,
        model=SupportModel.JEM,
        signed_on=dt.date(2020, 7, 2),
        status=Agreement.Status.ENDED,
    )
    arcadia_tfm = AgreementFactory(
        agency=arcadia, model=SupportModel.TFM, signed_on=dt.date(2025, 3, 5)
    )
    listed(old, harris_jem, polk_jem, arcadia_tfm)
    listed(new, harris_jem, harris_tfm, arcadia_tfm)
    added = AgreementEventFactory(
        agreement=harris_tfm, kind=AgreementEvent.Kind.SIGNED, snapshot=new, previous_snapshot=old
    )
    removed = AgreementEventFactory(
        agreement=polk_jem, kind=AgreementEvent.Kind.DELISTED, snapshot=new, previous_snapshot=old
    )
    return {
        "old": old,
        "new": new,
        "harris": harris,
        "polk": polk,
        "added": added,
        "removed": removed,
    }


def rows_of(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(body)))


def json_of(response) -> dict:
    return json.loads(b"".join(response.streaming_content))


# --- Statistics ------------------------------------------------------------------


def test_stats_show_latest_figures_linked_to_their_snapshot(client, world):
    new = world["new"]
    html = client.get(reverse("agreements:stats")).content.decode()
    assert new.sha256 in html
    assert world["old"].sha256 not in html
    rows_url = reverse("agreements:snapshot-detail", args=[new.pk])
    # Texas: one JEM and one TFM, each figure links to the rows it counts.
    assert f'href="{rows_url}?state=TX&amp;model=TFM#rows">1</a>' in html
    assert f'href="{rows_url}?state=TX#rows">2</a>' in html
    assert reverse("agreements:snapshot-file", args=[new.pk]) in html


def test_stats_as_of_an_earlier_day_use_the_list_then_in_force(client, world):
    html = client.get(reverse("agreements:stats"), {"as_of": "2025-06-15"}).content.decode()
    assert world["old"].sha256 in html
    assert world["new"].sha256 not in html
    assert "May 23, 2025" in html
    assert 'value="2025-06-15"' in html  # the picker keeps the chosen day


def test_stats_name_the_pending_list_of_the_same_day_apart_from_the_counts(client, world):
    pending = ListSnapshotFactory(
        kind=ListSnapshot.Kind.PENDING, published_at=aware(2025, 6, 6, 11, 52)
    )
    waiting = AgreementFactory(
        agency=world["polk"], model=SupportModel.TFM, signed_on=None, status="pending"
    )
    listed(pending, waiting)
    html = client.get(reverse("agreements:stats"), {"as_of": "2025-06-15"}).content.decode()
    assert "1 agreement</a> awaiting signature on ICE's pending list of 2025-06-06 11:52" in html
    assert f'href="{pending.get_absolute_url()}#rows"' in html
    before = client.get(reverse("agreements:stats"), {"as_of": "2025-06-01"}).content.decode()
    assert "awaiting signature" not in before


def test_stats_before_the_first_list_say_so(client, world):
    response = client.get(reverse("agreements:stats"), {"as_of": "2024-01-01"})
    assert response.status_code == 200
    assert (
        "No ICE participating list published on or before January 1, 2024"
        in response.content.decode()
    )


def test_stats_with_an_unreadable_date_explain_the_format(client, world):
    response = client.get(reverse("agreements:stats"), {"as_of": "yesterday"})
    assert response.status_code == 200
    assert "YYYY-MM-DD" in response.content.decode()


def test_stats_download_as_csv_names_the_snapshot(client, world):
    response = client.get(reverse("agreements:stats"), {"as_of": "2025-06-15", "format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    rows = rows_of(response)
    assert [r["state"] for r in rows] == ["FL", "GA", "TX"]
    georgia = rows[1]
    assert georgia["JEM"] == "1" and georgia["total"] == "1"
    assert {r["snapshot_sha256"] for r in rows} == {world["old"].sha256}


# --- Agencies --------------------------------------------------------------------


def test_agency_directory_filters_by_facet_and_name(client, world):
    url = reverse("agreements:agency-list")
    html = client.get(url).content.decode()
    assert "Harris County Sheriff&#x27;s Office" in html and "Polk County" in html
    assert "3 agencies" in html
    # Facet links keep the other filters and show counts.
    assert 'href="?model=TFM"' in html
    html = client.get(url, {"model": "TFM", "state": "TX"}).content.decode()
    assert "Harris County" in html and "Arcadia" not in html and "Polk" not in html
    html = client.get(url, {"q": "arcad"}).content.decode()
    assert "Arcadia Police Department" in html and "Harris" not in html.split("results-heading")[1]


def test_agency_directory_downloads_with_the_same_filters(client, world):
    url = reverse("agreements:agency-list")
    rows = rows_of(client.get(url, {"status": "ended", "format": "csv"}))
    assert [r["name"] for r in rows] == ["Polk County Sheriff's Office"]
    data = json_of(client.get(url, {"state": "TX", "format": "json"}))
    assert data["meta"]["filters"] == {"state": "TX"}
    assert data["results"][0]["models"] == ["JEM", "TFM"]


def test_agency_page_shows_agreements_and_a_timeline_linked_to_snapshots(client, world):
    harris = world["harris"]
    html = client.get(harris.get_absolute_url()).content.decode()
    assert "<h1>Harris County Sheriff&#x27;s Office</h1>" in html
    assert "2020-01-08" in html and "2025-06-02" in html
    event = world["added"]
    assert f'id="event-{event.pk}"' in html
    changes = reverse("agreements:snapshot-changes", args=[world["new"].pk])
    assert f'href="{changes}"' in html
    assert "added to the participating list" in html


def test_agency_timeline_shows_the_latest_changes_and_links_to_all(client, monkeypatch):
    monkeypatch.setattr("agreements.selectors.events.AGENCY_TIMELINE_LIMIT", 3)
    agreement = AgreementFactory()
    events = [
        AgreementEventFactory(
            agreement=agreement,
            kind=AgreementEvent.Kind.FIELD_CHANGED,
            field="moa_url",
            occurred_at=aware(2025, 1, 1 + day),
        )
        for day in range(4)
    ]
    html = client.get(agreement.agency.get_absolute_url()).content.decode()
    assert [f'id="event-{e.pk}"' in html for e in events] == [False, True, True, True]
    assert f'href="/api/v1/events/?agency={agreement.agency.slug}">Every change' in html
    events[0].delete()
    html = client.get(agreement.agency.get_absolute_url()).content.decode()
    assert "Every change of this agency" not in html


def test_unknown_agency_is_404(client, world):
    assert client.get(reverse("agreements:agency-detail", args=["nowhere"])).status_code == 404


# --- States, snapshots -----------------------------------------------------------


def test_state_page_lists_its_agencies_and_figures(client, world):
    html = client.get(reverse("agreements:state-detail", args=["TX"])).content.decode()
    assert "287(g) agreements in Texas" in html
    assert "Harris County" in html and "Polk" not in html
    assert client.get("/states/tx/").status_code == 301
    assert client.get("/states/ZZ/").status_code == 404


def test_state_page_downloads_its_agencies(client, world):
    url = reverse("agreements:state-detail", args=["TX"])
    html = client.get(url).content.decode()
    assert f'href="{url}?format=csv"' in html and f'href="{url}?format=json"' in html
    rows = rows_of(client.get(url, {"format": "csv"}))
    assert {r["state"] for r in rows} == {"TX"}
    assert any(r["name"].startswith("Harris County") for r in rows)
    body = json_of(client.get(url, {"format": "json"}))
    assert body["meta"]["filters"] == {"state": "TX"}
    assert [r["name"] for r in body["results"]] == [r["name"] for r in rows]


def test_snapshot_page_offers_the_file_its_hash_warnings_and_rows(client, world):
    old = world["old"]
    html = client.get(old.get_absolute_url()).content.decode()
    assert old.sha256 in html
    assert reverse("agreements:snapshot-file", args=[old.pk]) in html
    assert "Impossible date kept as text." in html
    html = client.get(old.get_absolute_url(), {"state": "GA"}).content.decode()
    assert "1 row for GA" in html
    rows = rows_of(client.get(old.get_absolute_url(), {"format": "csv"}))
    assert len(rows) == 3


# --- Changes ---------------------------------------------------------------------


def test_changes_page_groups_added_and_ended_by_list(client, world):
    html = client.get(reverse("agreements:changes")).content.decode()
    assert "Added (1)" in html and "Ended (1)" in html
    assert "2 changes</h2>" in html
    assert "Harris County" in html and "Polk County" in html
    html = client.get(reverse("agreements:changes"), {"state": "GA"}).content.decode()
    assert "Polk County" in html and "Harris County" not in html


def test_changes_feed_is_atom_with_one_entry_per_change(client, world):
    response = client.get(reverse("agreements:changes-feed"))
    assert response["Content-Type"].startswith("application/atom+xml")
    feed = feedparser.parse(response.content)
    assert feed.version == "atom10"
    titles = [entry.title for entry in feed.entries]
    assert len(titles) == 2
    assert any(t.startswith("Polk County Sheriff's Office (GA)") for t in titles)
    texas = feedparser.parse(
        client.get(reverse("agreements:changes-feed"), {"state": "TX"}).content
    )
    assert [entry.title for entry in texas.entries] == [
        "Harris County Sheriff's Office (TX): TFM agreement signed 2025-06-02 "
        "added to the participating list"
    ]
    assert texas.entries[0].link.endswith(f"#event-{world['added'].pk}")


def test_history_downloads_name_the_snapshot_of_each_change(client, world):
    rows = rows_of(client.get(reverse("agreements:changes"), {"format": "csv"}))
    assert {(r["agency"], r["kind_label"]) for r in rows} == {
        ("Harris County Sheriff's Office", "Added"),
        ("Polk County Sheriff's Office", "Ended"),
    }
    assert {r["snapshot_sha256"] for r in rows} == {world["new"].sha256}


@pytest.fixture
def endings(world):
    """One list that ended, renamed, re-signed, switched and maybe renamed agreements."""
    old, new, harris = world["old"], world["new"], world["harris"]
    Kind = AgreementEvent.Kind
    gulf = AgencyFactory(name="Gulf County BOCC", state="FL")
    gulf_jem = AgreementFactory(agency=gulf, signed_on=dt.date(2019, 4, 1))
    renewed = AgreementFactory(
        agency=harris,
        model=SupportModel.JEM,
        signed_on=dt.date(2025, 7, 1),
        predecessor=Agreement.objects.get(
            agency=harris, model="JEM", signed_on=dt.date(2020, 1, 8)
        ),
    )
    miami = AgencyFactory(name="City of Miami Springs Police Department", state="FL")
    miami_tfm = AgreementFactory(agency=miami, model=SupportModel.TFM)
    switched = AgreementFactory(agency=miami, model=SupportModel.WSO, predecessor=miami_tfm)
    [before] = listed(old, gulf_jem)
    before.agency_name = before.raw["LAW ENFORCEMENT AGENCY"] = (
        "Gulf County Board of County Commissioners"
    )
    before.save()
    [after] = listed(new, gulf_jem)
    listed(old, miami_tfm)
    listed(new, renewed, switched)
    made = {
        "renamed": AgreementEventFactory(
            agreement=gulf_jem,
            kind=Kind.RENAMED,
            snapshot=new,
            previous_snapshot=old,
            old_value="Gulf County Board of County Commissioners",
            new_value="Gulf County BOCC",
        ),
        "possible": AgreementEventFactory(
            agreement=miami_tfm,
            kind=Kind.POSSIBLE_RENAME,
            snapshot=new,
            previous_snapshot=old,
            old_value="Miami Springs PD",
            new_value="City of Miami Springs Police Department",
        ),
        "resigned": AgreementEventFactory(
            agreement=renewed, kind=Kind.RESIGNED, snapshot=new, previous_snapshot=old
        ),
        "switched": AgreementEventFactory(
            agreement=switched, kind=Kind.MODEL_SWITCHED, snapshot=new, previous_snapshot=old
        ),
    }
    return {**world, **made, "gulf": gulf, "miami": miami, "before": before, "after": after}


def _event_li(html: str, event) -> str:
    start = html.index(f'id="event-{event.pk}"')
    return html[start : html.index("</li>", start)]


def test_agency_timeline_tells_renames_renewals_and_endings_apart(client, endings):
    html = client.get(endings["gulf"].get_absolute_url()).content.decode()
    renamed = _event_li(html, endings["renamed"])
    assert "Renamed" in renamed and "Ended" not in renamed
    assert (
        "renamed from “Gulf County Board of County Commissioners” to “Gulf County BOCC”" in renamed
    )

    html = client.get(endings["miami"].get_absolute_url()).content.decode()
    possible = _event_li(html, endings["possible"])
    assert "Name changed?" in possible and "Ended" not in possible
    switched = _event_li(html, endings["switched"])
    assert "Model switched" in switched
    predecessor = endings["switched"].agreement.predecessor
    assert f'#agreement-{predecessor.pk}">the agreement it replaces</a>' in switched

    html = client.get(endings["harris"].get_absolute_url()).content.decode()
    resigned = _event_li(html, endings["resigned"])
    assert "Re-signed" in resigned and "renews the JEM agreement signed 2020-01-08" in resigned
    assert 'renews <a href="#agreement-' in html  # the agreements table links it too

    polk = client.get(endings["polk"].get_absolute_url()).content.decode()
    assert "Ended" in _event_li(polk, endings["removed"])


def test_api_events_name_the_kind_the_predecessor_and_the_old_and_new_name(client, endings):
    body = client.get("/api/v1/events/", {"kind": "resigned"}).json()
    [resigned] = body["results"]
    assert resigned["kind_label"] == "Re-signed"
    assert resigned["predecessor"]["signed_on"] == "2020-01-08"
    [renamed] = client.get("/api/v1/events/", {"kind": "renamed"}).json()["results"]
    assert (renamed["kind_label"], renamed["old_value"], renamed["new_value"]) == (
        "Renamed",
        "Gulf County Board of County Commissioners",
        "Gulf County BOCC",
    )
    [possible] = client.get("/api/v1/events/", {"kind": "possible_rename"}).json()["results"]
    assert possible["kind_label"] == "Name changed?"


def test_changes_page_counts_every_change_its_filters_select_not_only_the_page(client):
    old = ListSnapshotFactory(published_at=aware(2025, 5, 1, 9))
    new = ListSnapshotFactory(published_at=aware(2025, 6, 1, 9))
    for i in range(130):
        AgreementEventFactory(
            agreement=AgreementFactory(agency=AgencyFactory(state="TX" if i % 2 else "FL")),
            kind=AgreementEvent.Kind.DELISTED if i < 80 else AgreementEvent.Kind.RENAMED,
            snapshot=new,
            previous_snapshot=old,
        )
    html = client.get(reverse("agreements:changes")).content.decode()
    assert "130 changes</h2>" in html
    assert 'kind=delisted">Ended</a> <span class="count">80</span>' in html
    assert 'kind=renamed">Renamed</a> <span class="count">50</span>' in html
    assert "130 changes, 100 on this page)" in html
    html = client.get(reverse("agreements:changes"), {"state": "TX"}).content.decode()
    assert "65 changes</h2>" in html
    assert 'state=TX&amp;kind=delisted">Ended</a> <span class="count">40</span>' in html
    html = client.get(reverse("agreements:changes"), {"kind": "renamed"}).content.decode()
    assert "50 changes</h2>" in html and "Ended (" not in html


def test_what_ice_changed_page_shows_both_files_rows_and_feeds(client, endings):
    new, old = endings["new"], endings["old"]
    snapshot_page = client.get(new.get_absolute_url()).content.decode()
    url = reverse("agreements:snapshot-changes", args=[new.pk])
    assert f'href="{url}"' in snapshot_page
    assert f'href="{url}"' in client.get(reverse("agreements:changes")).content.decode()

    html = client.get(url).content.decode()
    assert "6 changes</h2>" in html
    for label in (
        "Added (1)",
        "Ended (1)",
        "Renamed (1)",
        "Name changed? (1)",
        "Re-signed (1)",
        "Model switched (1)",
    ):
        assert label in html
    renamed = html[html.index(f'id="change-{endings["renamed"].pk}"') :]
    renamed = renamed[: renamed.index("</li>")]
    before, after = endings["before"], endings["after"]
    assert f">row {before.row_number}</a>" in renamed and f">row {after.row_number}</a>" in renamed
    for snapshot in (old, new):
        assert (
            f'href="{reverse("agreements:snapshot-file", args=[snapshot.pk])}" download' in renamed
        )
    assert "Gulf County Board of County Commissioners" in renamed  # the old file's cell
    assert "<script" not in html

    feed = feedparser.parse(
        client.get(reverse("agreements:snapshot-changes-feed", args=[new.pk])).content
    )
    assert feed.version == "atom10" and len(feed.entries) == 6
    assert "Renamed: Gulf County BOCC (FL)" in [e.title for e in feed.entries]

    body = client.get(reverse("agreements:snapshot-changes-json", args=[new.pk])).json()
    assert body["version"] == "https://jsonfeed.org/version/1.1"
    assert body["_list"]["previous_sha256"] == old.sha256
    item = next(i for i in body["items"] if i["_change"]["kind"] == "renamed")
    evidence = item["_change"]
    assert (evidence["previous_row"]["snapshot_id"], evidence["row"]["snapshot_id"]) == (
        old.pk,
        new.pk,
    )
    assert evidence["previous_row"]["row_number"] == before.row_number
    assert evidence["row"]["file_url"].endswith(reverse("agreements:snapshot-file", args=[new.pk]))
    ended = next(i for i in body["items"] if i["_change"]["kind"] == "delisted")
    assert ended["_change"]["row"] is None and ended["_change"]["previous_row"] is not None
    resigned = next(i for i in body["items"] if i["_change"]["kind"] == "resigned")
    assert resigned["_change"]["previous_row"]["cells"]["SIGNED"] == "2020-01-08"


def test_first_list_changes_page_says_there_is_nothing_to_compare(client, world):
    html = client.get(reverse("agreements:snapshot-changes", args=[world["old"].pk])).content
    assert "no earlier list to compare it with" in html.decode()
    assert client.get(reverse("agreements:snapshot-changes", args=[999999])).status_code == 404


# --- Shares and as_of ------------------------------------------------------------------


def test_stats_show_each_states_share_of_each_model(client, world):
    html = client.get(reverse("agreements:stats")).content.decode()
    # The new list holds two TFM agreements: Harris (TX) and Arcadia (FL).
    assert '<td class="num share">50.0%</td>' in html
    rows = rows_of(client.get(reverse("agreements:stats"), {"format": "csv"}))
    texas = next(r for r in rows if r["state"] == "TX")
    assert (texas["TFM"], texas["TFM_percent"], texas["JEM_percent"]) == ("1", "50.0", "100.0")
    assert texas["total_percent"] == "66.7"
    body = json_of(client.get(reverse("agreements:stats"), {"format": "json"}))
    assert next(r for r in body["results"] if r["state"] == "FL")["TFM_percent"] == 50.0


def test_state_page_as_of_an_earlier_day_uses_the_list_then_in_force(client, world):
    url = reverse("agreements:state-detail", args=["TX"])
    html = client.get(url, {"as_of": "2025-06-15"}).content.decode()
    assert "as of May 23, 2025" in html and world["old"].sha256[:14] in html
    assert f'href="{world["old"].get_absolute_url()}?state=TX#rows">1</a>' in html
    assert 'value="2025-06-15"' in html
    assert "Harris County" in html
    today = client.get(url).content.decode()
    assert f'href="{world["new"].get_absolute_url()}?state=TX#rows">2</a>' in today
    assert "No ICE participating list published on or before January 1, 2024" in (
        client.get(url, {"as_of": "2024-01-01"}).content.decode()
    )
    assert "YYYY-MM-DD" in client.get(url, {"as_of": "soon"}).content.decode()


def test_agency_page_as_of_shows_each_agreements_status_and_the_timeline_then(client, world):
    harris = world["harris"]
    html = client.get(harris.get_absolute_url(), {"as_of": "2025-06-15"}).content.decode()
    assert "Status on 2025-06-15" in html
    tfm = html[html.index(f'id="agreement-{world["added"].agreement_id}"') :]
    assert "not yet listed" in tfm[: tfm.index("</tr>")]
    assert f'id="event-{world["added"].pk}"' not in html  # seen on July 11
    polk = client.get(world["polk"].get_absolute_url(), {"as_of": "2025-07-12"}).content.decode()
    assert "<td>Ended</td>" in polk


def test_agency_directory_model_and_as_of_hold_for_the_same_agreement(client, world):
    """Harris signed its TFM agreement after June 15: it held only a JEM agreement then."""
    url = reverse("agreements:agency-list")
    html = client.get(url, {"model": "TFM", "as_of": "2025-06-15"}).content.decode()
    results = html.split('class="results-heading"')[1]
    assert "Arcadia" in results and "Harris" not in results
    assert "1 agency" in results
    assert (
        '<input type="hidden" name="as_of" value="2025-06-15">' in html
    )  # a new name search keeps the day
    rows = rows_of(client.get(url, {"model": "TFM", "as_of": "2025-06-15", "format": "csv"}))
    assert [r["name"] for r in rows] == ["Arcadia Police Department"]
    api = client.get("/api/v1/agencies/", {"model": "TFM", "as_of": "2025-06-15"}).json()
    assert [a["name"] for a in api["results"]] == ["Arcadia Police Department"]
    assert client.get("/api/v1/agencies/", {"as_of": "June"}).status_code == 400


def test_agreement_list_page_and_its_download_share_the_apis_filter(client, world):
    url = reverse("agreements:agreement-list")
    query = {"as_of": "2025-07-12", "status": "ended"}
    html = client.get(url, query).content.decode()
    assert "1 agreement ended on July 12, 2025" in html and "Polk County" in html
    rows = rows_of(client.get(url, {**query, "format": "csv"}))
    api = client.get("/api/v1/agreements/", query).json()
    assert (
        [r["agency"] for r in rows]
        == [a["agency"]["name"] for a in api["results"]]
        == ["Polk County Sheriff's Office"]
    )


def test_agency_directory_status_facet_counts_the_statuses_of_the_chosen_day(client, world):
    url = reverse("agreements:agency-list")
    html = client.get(url, {"as_of": "2025-07-12"}).content.decode()
    assert 'status=active">Active</a> <span class="count">2</span>' in html
    assert 'status=ended">Ended</a> <span class="count">1</span>' in html  # Polk, dropped
    html = client.get(url, {"as_of": "2025-06-15"}).content.decode()
    assert 'status=active">Active</a> <span class="count">3</span>' in html
    assert 'status=ended">' not in html
    html = client.get(url, {"as_of": "2025-07-12", "status": "ended"}).content.decode()
    assert "Polk County" in html.split('class="results-heading"')[1]


# --- Data and methodology ----------------------------------------------------------


def test_data_page_lists_every_snapshot_with_its_file_and_hash(client, world):
    html = client.get(reverse("agreements:data")).content.decode()
    for snapshot in (world["old"], world["new"]):
        assert snapshot.sha256 in html
        assert reverse("agreements:snapshot-file", args=[snapshot.pk]) in html
    rows = rows_of(
        client.get(reverse("agreements:agreement-list"), {"status": "active", "format": "csv"})
    )
    assert sorted(r["agency"] for r in rows) == [
        "Arcadia Police Department",
        "Harris County Sheriff's Office",
        "Harris County Sheriff's Office",
    ]


def test_snapshot_file_links_download_the_original_bytes_without_debug(client, world):
    """Media is not served in production; the download goes through the portal."""
    html = client.get(reverse("agreements:data")).content.decode()
    for snapshot in (world["old"], world["new"]):
        url = reverse("agreements:snapshot-file", args=[snapshot.pk])
        assert f'href="{url}"' in html
        response = client.get(url)
        assert response.status_code == 200
        assert "attachment" in response["Content-Disposition"]
        with snapshot.file.open("rb") as fh:
            assert b"".join(response.streaming_content) == fh.read()
    missing = ListSnapshot.objects.order_by("-pk").first().pk + 1
    assert client.get(reverse("agreements:snapshot-file", args=[missing])).status_code == 404


def test_methodology_explains_collection_normalization_and_limits(client):
    html = client.get(reverse("agreements:methodology")).content.decode()
    for heading in ("Collection", "Normalization", "Known limits"):
        assert f">{heading}</h2>" in html


# --- Forms work without JavaScript; query counts stay flat ----------------------------


@pytest.mark.parametrize("name", ["agency-list", "stats", "changes", "agreement-list"])
def test_filter_forms_are_plain_get_forms_with_labels(client, world, name):
    html = client.get(reverse(f"agreements:{name}")).content.decode()
    assert '<form method="get"' in html
    assert "<script" not in html
    assert "<label for=" in html


def _grow(n: int) -> dict:
    snapshot = ListSnapshotFactory(published_at=aware(2025, 8, 1, 9))
    previous = ListSnapshotFactory(published_at=aware(2025, 7, 31, 9))
    agency = AgencyFactory(state="TX")
    for i in range(n):
        agreement = AgreementFactory(agency=AgencyFactory(state=["TX", "GA", "FL"][i % 3]))
        listed(snapshot, agreement)
        AgreementEventFactory(agreement=agreement, snapshot=snapshot, previous_snapshot=previous)
        AgreementEventFactory(
            agreement=AgreementFactory(agency=agency, model="TFM"), snapshot=snapshot
        )
    return {"snapshot": snapshot, "agency": agency}


PAGES = [
    ("home", lambda d: reverse("home")),
    ("agency-list", lambda d: reverse("agreements:agency-list")),
    ("agency-list-filtered", lambda d: reverse("agreements:agency-list") + "?state=TX&model=JEM"),
    ("agency-detail", lambda d: d["agency"].get_absolute_url()),
    ("agreement-list", lambda d: reverse("agreements:agreement-list")),
    ("state-detail", lambda d: reverse("agreements:state-detail", args=["TX"])),
    ("snapshot-detail", lambda d: d["snapshot"].get_absolute_url()),
    ("stats", lambda d: reverse("agreements:stats")),
    ("changes", lambda d: reverse("agreements:changes")),
    ("changes-feed", lambda d: reverse("agreements:changes-feed")),
    ("snapshot-changes", lambda d: reverse("agreements:snapshot-changes", args=[d["snapshot"].pk])),
    (
        "snapshot-changes-json",
        lambda d: reverse("agreements:snapshot-changes-json", args=[d["snapshot"].pk]),
    ),
    (
        "state-as-of",
        lambda d: reverse("agreements:state-detail", args=["TX"]) + "?as_of=2025-08-01",
    ),
    ("agency-as-of", lambda d: d["agency"].get_absolute_url() + "?as_of=2025-08-01"),
    ("data", lambda d: reverse("agreements:data")),
]


@pytest.mark.parametrize("n", [3, 30])
@pytest.mark.parametrize(("name", "url"), PAGES, ids=[p[0] for p in PAGES])
def test_query_count_does_not_grow_with_rows(client, django_assert_max_num_queries, n, name, url):
    target = url(_grow(n))
    with django_assert_max_num_queries(14):
        response = client.get(target)
    assert response.status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "/agencies/?state=<script>&page=abc&model=XXX",
        "/agencies/?q=%22%3E%3Cscript%3Ealert(1)%3C/script%3E",
        "/statistics/?as_of=9999-99-99",
        "/changes/?state=%3Cb%3E&change=nonsense&page=-1",
        "/agreements/?status=bogus&page=999999",
        "/?model=<svg>",
        "/documents/?year=20x5&kind=nope",
    ],
)
def test_odd_query_strings_give_a_page_not_an_error(client, world, url):
    response = client.get(url)
    assert response.status_code == 200
    assert "<script>" not in response.content.decode()
