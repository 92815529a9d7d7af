"""The API on ICE's real sample files, checked against an independent count of each file."""

from __future__ import annotations

import collections
import csv
import hashlib
import io
from pathlib import Path

import openpyxl
import pytest
import us
from rest_framework.test import APIClient

from agreements.models import ListSnapshot

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent / "data"
FILES = {
    "may": "participatingAgencies05232025am.xlsx",
    "july": "participatingAgencies07112025pm.xlsx",
    "pending": "pendingAgencies06062025am.xlsx",
}
MODEL_WORDS = {"jail": "JEM", "task": "TFM", "warrant": "WSO"}


def count_file(name: str) -> dict[str, collections.Counter]:
    """Rows per SUPPORT TYPE, STATE and both, read with openpyxl and ``us`` alone.

    Blank rows and rows repeated cell for cell are left out, as ICE listed them once.
    """
    sheet = openpyxl.load_workbook(DATA / name, read_only=True).worksheets[0]
    rows = sheet.iter_rows(values_only=True)
    header = [str(cell or "").strip().upper() for cell in next(rows)]
    state_at, support_at = header.index("STATE"), header.index("SUPPORT TYPE")
    seen = set()
    counts = {"model": collections.Counter(), "state": collections.Counter()}
    counts["state_model"] = collections.Counter()
    for row in rows:
        cells = tuple(str(cell).strip().casefold() if cell is not None else "" for cell in row)
        if not any(cells) or cells in seen:
            continue
        seen.add(cells)
        model = next(code for word, code in MODEL_WORDS.items() if word in cells[support_at])
        state = us.states.lookup(cells[state_at]).abbr
        counts["model"][model] += 1
        counts["state"][state] += 1
        counts["state_model"][state, model] += 1
    return counts


def count_by_model(name: str) -> collections.Counter:
    return count_file(name)["model"]


def imported(*keys: str) -> dict[str, ListSnapshot]:
    """Import the sample files named by ``keys`` (importing is slow: only what a test needs)."""
    from agreements.services.snapshots import snapshot_import

    results = {}
    for key in keys:
        with (DATA / FILES[key]).open("rb") as fh:
            results[key] = snapshot_import(file=fh, filename=FILES[key]).snapshot
    return results


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def test_stats_match_an_independent_count_of_each_file(api):
    snapshots = imported("may", "july", "pending")
    for key, day in (("may", "2025-05-23"), ("july", "2025-07-11")):
        body = api.get("/api/v1/stats/", {"as_of": day}).json()
        expected = count_by_model(FILES[key])

        assert body["snapshot"]["id"] == snapshots[key].pk
        assert body["snapshot"]["sha256"] == snapshots[key].sha256
        assert body["by_model"] == {
            "JEM": expected["JEM"],
            "TFM": expected["TFM"],
            "WSO": expected["WSO"],
        }
        assert body["agreements"] == sum(expected.values())
        counted = count_file(FILES[key])
        assert body["by_state"] == dict(counted["state"])
        assert {
            (state, model): n
            for state, models in body["by_state_model"].items()
            for model, n in models.items()
        } == dict(counted["state_model"])

    between = api.get("/api/v1/stats/", {"as_of": "2025-07-10"}).json()
    assert between["snapshot"]["id"] == snapshots["may"].pk
    assert between["pending"]["snapshot_id"] == snapshots["pending"].pk
    assert between["pending"]["agreements"] == sum(count_by_model(FILES["pending"]).values())


def test_stats_before_the_first_file_is_404(api):
    imported("may")

    response = api.get("/api/v1/stats/", {"as_of": "2025-05-22"})

    assert response.status_code == 404
    assert "2025-05-23" in response.json()["detail"]


def test_agreements_as_of_match_the_file(api):
    imported("july")
    july = count_by_model(FILES["july"])

    body = api.get("/api/v1/agreements/", {"as_of": "2025-07-11", "model": "JEM"}).json()

    assert body["count"] == july["JEM"]


def test_snapshot_detail_of_a_real_file(api):
    snapshot = imported("july")["july"]

    body = api.get(f"/api/v1/snapshots/{snapshot.pk}/").json()

    assert body["header"][:6] == [
        "STATE",
        "LAW ENFORCEMENT AGENCY",
        "TYPE",
        "COUNTY",
        "SUPPORT TYPE",
        "SIGNED",
    ]
    assert body["warning_count"] == len(body["warnings"]) > 0
    assert all(w["message"] for w in body["warnings"])
    download = api.get(body["file_url"])
    assert download.status_code == 200
    assert download["Content-Disposition"].endswith('.xlsx"')
    assert hashlib.sha256(b"".join(download.streaming_content)).hexdigest() == body["sha256"]


def test_each_states_share_of_each_model_on_the_list_of_2025_12_01(api, client):
    """Florida held 264 of the 620 Task Force agreements: 42.6%, in the API, page and CSV."""
    from agreements.services.snapshots import snapshot_import

    name = "archive/participatingAgencies12012025am.xlsx"  # from ../shared/data/ice-287g/archive/
    with (DATA / name).open("rb") as fh:
        snapshot_import(file=fh, filename=Path(name).name)
    counted = count_file(name)

    body = api.get("/api/v1/stats/", {"as_of": "2025-12-01"}).json()

    assert body["by_model"]["TFM"] == counted["model"]["TFM"] == 620
    assert body["by_state_model"]["FL"]["TFM"] == counted["state_model"]["FL", "TFM"] == 264
    assert body["share_by_state_model"]["FL"]["TFM"] == 42.6
    for state, models in body["share_by_state_model"].items():
        for model, share in models.items():
            expected = 100 * counted["state_model"][state, model] / counted["model"][model]
            assert share == round(expected, 1)
    html = client.get("/statistics/", {"as_of": "2025-12-01"}).content.decode()
    assert "42.6%" in html
    csv_body = b"".join(
        client.get("/statistics/", {"as_of": "2025-12-01", "format": "csv"}).streaming_content
    ).decode("utf-8-sig")
    florida = next(r for r in csv.DictReader(io.StringIO(csv_body)) if r["state"] == "FL")
    assert (florida["TFM"], florida["TFM_percent"]) == ("264", "42.6")


def test_agency_and_agreement_filters_count_what_was_in_force_that_day(api):
    """Every combination of model, state, status and as_of, against the rows of the lists.

    Status on a day: active = on the participating list in force; pending = on
    the pending list in force and not active; ended = on an earlier
    participating list and not on the one in force, unless the list that
    dropped it offered a possible rename ("Name changed?"); no status = active.
    """
    from agreements.models import PossibleRename, SnapshotRow
    from agreements.normalize import name_key

    lists = imported("may", "july", "pending")

    def rows(key: str | None, state: str, model: str) -> dict[int, int]:
        """Agreement id -> agency id of the rows of one list, by the row's own cells."""
        if key is None:
            return {}
        found = SnapshotRow.objects.filter(snapshot=lists[key], agreement__isnull=False)
        if state:
            found = found.filter(state=state)
        if model:
            found = found.filter(model=model)
        return dict(found.values_list("agreement_id", "agency_id"))

    def questioned(earlier: list[str]) -> set[int]:
        """Agreements dropped by one of these lists when it added a similar name."""
        shown = [lists[key].pk for key in earlier]
        possible = {
            (p.state, p.old_key, p.model, p.signed_on, p.previous_snapshot_id)
            for p in PossibleRename.objects.filter(snapshot__in=shown)
        }
        found = SnapshotRow.objects.filter(snapshot__in=shown, agreement__isnull=False)
        return {
            r.agreement_id
            for r in found
            if (r.state, name_key(r.agency_name), r.model, r.signed_on, r.snapshot_id) in possible
        }

    in_force = {  # as_of -> (participating list, pending list, earlier participating lists)
        "2025-05-22": (None, None, []),
        "2025-06-10": ("may", "pending", ["may"]),
        "2025-07-11": ("july", "pending", ["may", "july"]),
    }
    checked, seen, in_question = 0, set(), set()
    for as_of, (participating, pending, earlier) in in_force.items():
        renamed_maybe = questioned(earlier)
        in_question |= renamed_maybe
        for state in ("", "FL", "TX"):
            for model in ("", "JEM", "TFM", "WSO"):
                active = rows(participating, state, model)
                ever = {k: v for key in earlier for k, v in rows(key, state, model).items()}
                expected = {
                    "": active,
                    "active": active,
                    "pending": {
                        k: v for k, v in rows(pending, state, model).items() if k not in active
                    },
                    "ended": {
                        k: v for k, v in ever.items() if k not in active and k not in renamed_maybe
                    },
                }
                for status, chosen in expected.items():
                    query = {"as_of": as_of, "page_size": 1}
                    query.update({k: v for k, v in (("state", state), ("model", model)) if v})
                    if status:
                        query["status"] = status
                    agreements = api.get("/api/v1/agreements/", query).json()["count"]
                    agencies = api.get("/api/v1/agencies/", query).json()["count"]
                    assert (agreements, agencies) == (len(chosen), len(set(chosen.values()))), query
                    checked += 1
                    seen |= {status} if chosen else set()
    assert checked == 3 * 3 * 4 * 4
    assert seen == {"", "active", "pending", "ended"}  # no status is compared on nothing only
    assert in_question  # the July list drops agreements it may have renamed
