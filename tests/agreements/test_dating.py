"""Publication time of ICE's lists: every clue weighed against the others and the content."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agreements.ice_sheet import read_ice_sheet
from agreements.models import Agreement, ListSnapshot
from agreements.services import snapshot_import
from agreements.services.dating import EASTERN, SIGNING_SLACK, day_start, weigh
from tests.agreements.ice_builder import row, workbook

DATA = Path(__file__).parent / "data"
CAPTURE_FEBRUARY = DATA / "archive" / "ParticipatingEntities-20250203025535.xlsx"
METADATA_LIES = DATA / "archive" / "participatingAgencies-20250301180751.xlsx"
WRONG_YEAR = DATA / "archive" / "pendingAgencies01052025pm.xlsx"
D = dt.datetime
UTC = dt.UTC


def load(path: Path, **kwargs):
    with path.open("rb") as handle:
        return snapshot_import(file=handle, filename=path.name, **kwargs)


def load_bytes(data: bytes, name: str, **kwargs):
    return snapshot_import(file=io.BytesIO(data), filename=name, **kwargs)


def evidence(snapshot: ListSnapshot) -> dict[str, dict]:
    return {e["source"]: e for e in snapshot.published_at_evidence}


# --- Real files of the archive ----------------------------------------------


@pytest.mark.django_db
def test_capture_is_dated_by_its_capture_time_not_by_the_archives_metadata():
    result = load(CAPTURE_FEBRUARY)
    snapshot = result.snapshot
    assert snapshot.published_at == D(2025, 2, 3, 2, 55, 35, tzinfo=UTC)
    assert (snapshot.published_at_source, snapshot.provenance) == ("capture", "capture")
    clues = evidence(snapshot)
    assert clues["metadata"]["time"].startswith("2025-04-21")
    assert clues["metadata"]["verdict"] == "ignored"
    assert not snapshot.held
    assert result.summary().startswith(
        "ParticipatingEntities-20250203025535.xlsx: participating list parsed from a capture of "
        "ICE's page published 2025-02-03 02:55 UTC (from capture time in the file name). "
        "ICE's list was online at the capture time in the file name."
    )


@pytest.mark.django_db
def test_workbook_whose_metadata_lies_is_dated_by_its_capture_time_and_content():
    result = load(METADATA_LIES)
    snapshot = result.snapshot
    assert snapshot.published_at == D(2025, 3, 1, 18, 7, 51, tzinfo=UTC)
    assert (snapshot.published_at_source, snapshot.provenance) == ("capture", "workbook")
    clues = evidence(snapshot)
    assert clues["metadata"]["verdict"] == "rejected"
    assert clues["signed"]["time"].startswith("2025-02-26")
    assert "no COUNTY" in clues["columns"]["reason"]
    assert "Saved 2025-04-16, after the file was captured (2025-03-01)" in result.summary()
    assert not snapshot.held


@pytest.mark.django_db
def test_pending_list_with_the_wrong_year_in_its_name_is_dated_by_its_workbook():
    result = load(WRONG_YEAR)
    snapshot = result.snapshot
    assert snapshot.published_at == D(2026, 1, 5, 20, 37, 46, tzinfo=UTC)
    assert snapshot.published_at_source == "metadata"
    assert evidence(snapshot)["filename"]["verdict"] == "rejected"
    assert "2025-01-05 is before the workbook was created (2025-02-05)" in result.summary()
    assert not snapshot.held


@pytest.mark.django_db
def test_admin_snapshot_page_shows_the_dating_evidence_read_only(admin_client):
    snapshot = load(METADATA_LIES).snapshot
    page = admin_client.get(f"/admin/agreements/listsnapshot/{snapshot.pk}/change/")
    text = page.content.decode()
    assert page.status_code == 200
    assert "dating evidence" in text.lower()
    assert "after the file was captured" in text
    assert "<textarea" not in text  # read-only: no field to edit


# --- Contradictions hold the list --------------------------------------------


@pytest.mark.django_db
def test_list_dated_before_its_latest_signing_is_held():
    data = workbook([row(signed=D(2025, 3, 5))], modified=D(2025, 2, 1, 14))
    result = load_bytes(data, "participatingAgencies02012025am.xlsx")
    assert result.held and not Agreement.objects.exists()
    assert "2025-02-01 is before the list's latest signing, 2025-03-05" in result.summary()
    assert "held until a curator gives the date" in result.summary()


@pytest.mark.django_db
def test_list_dated_weeks_after_its_latest_signing_when_an_earlier_list_holds_later_ones_is_held():
    counties = ["Polk", "Bexar", "Travis", "Harris"]
    recent = [
        row(agency=f"{c} County Sheriff's Office", county=f"{c} County", signed=D(2025, 3, 20))
        for c in counties
    ]
    load_bytes(workbook(recent, modified=D(2025, 4, 1, 14)), "participatingAgencies04012025am.xlsx")
    old = [
        row(agency=f"{c} County Sheriff's Office", county=f"{c} County", signed=D(2025, 1, 6))
        for c in counties
    ]
    result = load_bytes(
        workbook(old, modified=D(2025, 4, 20, 14)), "participatingAgencies04202025am.xlsx"
    )
    assert result.held
    assert (
        "nothing in it was signed after 2025-01-06, while the list published 2025-04-01 already "
        "holds 4 agreements signed after that: it is probably older than its date"
    ) in result.summary()


@pytest.mark.django_db
def test_a_date_given_at_import_wins_and_its_contradiction_is_recorded():
    data = workbook([row(signed=D(2025, 3, 5))], modified=D(2025, 6, 1, 14))
    when = D(2025, 2, 1, tzinfo=UTC)
    snapshot = load_bytes(data, "list.xlsx", published_at=when).snapshot
    assert (snapshot.published_at, snapshot.published_at_source, snapshot.held) == (
        when,
        "argument",
        False,
    )
    reason = evidence(snapshot)["argument"]["reason"]
    assert reason.startswith("Given at import, so used, although 2025-02-01 is before")


# --- Properties of the weighing ----------------------------------------------

moments = st.datetimes(min_value=D(2019, 1, 1), max_value=D(2026, 6, 1), timezones=st.just(UTC))


@settings(max_examples=60, deadline=None)
@given(
    modified=st.none() | moments,
    named=st.none() | st.dates(min_value=dt.date(2019, 1, 1), max_value=dt.date(2026, 6, 1)),
    captured=st.none() | moments,
    signed=st.dates(min_value=dt.date(2019, 1, 1), max_value=dt.date(2026, 6, 1)),
)
def test_a_list_is_never_placed_before_its_latest_signing_unless_held(
    modified, named, captured, signed
):
    sheet = read_ice_sheet(workbook([row(signed=D.combine(signed, dt.time()))]))
    sheet.modified_at, sheet.created_at = modified, None
    name = "participatingAgencies"
    if captured:
        name += f"-{captured:%Y%m%d%H%M%S}"
    elif named:
        name += f"{named:%m%d%Y}am"
    dated = weigh(sheet=sheet, filename=f"{name}.xlsx", given=None, now=D(2026, 7, 1, tzinfo=UTC))
    assert dated.doubt or dated.published_at >= day_start(signed) - SIGNING_SLACK
    assert [e["verdict"] for e in dated.as_list()].count("chosen") == 1


def _weigh(rows: list, name: str, modified: dt.datetime, header=None):
    sheet = read_ice_sheet(workbook(rows, header=header, modified=modified))
    sheet.created_at = None
    return weigh(sheet=sheet, filename=name, given=None, now=D(2026, 7, 1, tzinfo=UTC))


def test_columns_present_settle_a_name_and_metadata_far_apart():
    early = row(signed=D(2024, 12, 1))
    with_county = _weigh([early], "participatingAgencies01152025am.xlsx", D(2025, 6, 20, 15))
    assert (with_county.source, with_county.doubt) == ("metadata", "")
    without_county = _weigh(
        [[c for i, c in enumerate(early) if i != 3][:6]],
        "participatingAgencies02012025am.xlsx",
        D(2025, 6, 20, 15),
        header=["STATE", "LAW ENFORCEMENT AGENCY", "TYPE", "SUPPORT TYPE", "SIGNED", "MOA"],
    )
    assert (without_county.source, without_county.doubt) == ("filename", "")
    assert without_county.published_at == D(2025, 2, 1, tzinfo=EASTERN)
    rejected = next(e for e in without_county.evidence if e.source == "metadata")
    assert rejected.reason == "2025-06-20 does not fit the columns present (without COUNTY)."
