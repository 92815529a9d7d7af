"""The API on ICE's real sample files, checked against an independent count of each file."""

from __future__ import annotations

import collections
import hashlib
from pathlib import Path

import openpyxl
import pytest
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


def count_by_model(name: str) -> collections.Counter:
    """Rows per SUPPORT TYPE, read with openpyxl alone (blank and repeated rows left out)."""
    sheet = openpyxl.load_workbook(DATA / name, read_only=True).worksheets[0]
    rows = sheet.iter_rows(values_only=True)
    header = [str(cell or "").strip().upper() for cell in next(rows)]
    column = header.index("SUPPORT TYPE")
    seen, counts = set(), collections.Counter()
    for row in rows:
        cells = tuple(str(cell).strip().casefold() if cell is not None else "" for cell in row)
        if not any(cells) or cells in seen:
            continue
        seen.add(cells)
        support = cells[column]
        counts[next(code for word, code in MODEL_WORDS.items() if word in support)] += 1
    return counts


@pytest.fixture
def imported():
    snapshots = pytest.importorskip("agreements.services.snapshots")
    results = {}
    for key, name in FILES.items():
        with (DATA / name).open("rb") as fh:
            results[key] = snapshots.snapshot_import(file=fh, filename=name).snapshot
    return results


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def test_stats_match_an_independent_count_of_each_file(api, imported):
    for key, day in (("may", "2025-05-23"), ("july", "2025-07-11")):
        body = api.get("/api/v1/stats/", {"as_of": day}).json()
        expected = count_by_model(FILES[key])

        assert body["snapshot"]["id"] == imported[key].pk
        assert body["snapshot"]["sha256"] == imported[key].sha256
        assert body["by_model"] == {
            "JEM": expected["JEM"],
            "TFM": expected["TFM"],
            "WSO": expected["WSO"],
        }
        assert body["agreements"] == sum(expected.values())
        assert sum(body["by_state"].values()) == body["agreements"]
        assert sum(sum(m.values()) for m in body["by_state_model"].values()) == body["agreements"]
        assert "unknown" not in body["by_state"]


def test_stats_between_files_use_the_earlier_one(api, imported):
    body = api.get("/api/v1/stats/", {"as_of": "2025-07-10"}).json()

    assert body["snapshot"]["id"] == imported["may"].pk
    assert body["pending"]["snapshot_id"] == imported["pending"].pk
    assert body["pending"]["agreements"] == sum(count_by_model(FILES["pending"]).values())


def test_stats_before_the_first_file_is_404(api, imported):
    response = api.get("/api/v1/stats/", {"as_of": "2025-05-22"})

    assert response.status_code == 404
    assert "2025-05-23" in response.json()["detail"]


def test_agreements_as_of_match_the_file(api, imported):
    july = count_by_model(FILES["july"])

    body = api.get("/api/v1/agreements/", {"as_of": "2025-07-11", "model": "JEM"}).json()

    assert body["count"] == july["JEM"]


def test_snapshot_detail_of_a_real_file(api, imported):
    snapshot: ListSnapshot = imported["july"]

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
    assert body["file_url"].endswith(".xlsx")
    with snapshot.file.open("rb") as fh:
        assert hashlib.sha256(fh.read()).hexdigest() == body["sha256"]
