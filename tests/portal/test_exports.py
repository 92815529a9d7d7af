"""CSV and JSON downloads: same rows, safe for spreadsheets, streamed."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from django.test import RequestFactory

from portal.exports import Column, export_links, export_response, requested_format

ROWS = [
    {
        "name": "Harris County Sheriff's Office",
        "signed": dt.date(2025, 2, 3),
        "models": ["JEM", "TFM"],
    },
    {"name": '=HYPERLINK("http://evil")', "signed": None, "models": []},
]
COLUMNS = [
    Column("name"),
    Column("signed"),
    Column("models"),
    Column("upper", lambda r: r["name"][:3].upper()),
]


def body(response) -> str:
    assert response.streaming
    return b"".join(response.streaming_content).decode("utf-8")


def test_csv_has_a_header_row_and_keeps_formulas_as_text():
    response = export_response("csv", rows=iter(ROWS), columns=COLUMNS, filename="Agencies")
    assert response["Content-Disposition"].startswith('attachment; filename="agencies-')
    text = body(response)
    assert text.startswith("\ufeff")  # Excel opens UTF-8 correctly
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0] == {
        "name": "Harris County Sheriff's Office",
        "signed": "2025-02-03",
        "models": "JEM; TFM",
        "upper": "HAR",
    }
    assert rows[1]["name"].startswith("'=HYPERLINK")
    assert rows[1]["signed"] == ""


def test_json_carries_meta_and_typed_values():
    response = export_response(
        "json", rows=iter(ROWS), columns=COLUMNS, filename="x", meta={"filters": {"state": "TX"}}
    )
    data = json.loads(body(response))
    assert data["meta"]["filters"] == {"state": "TX"}
    assert "generated_at" in data["meta"]
    assert data["results"][0]["models"] == ["JEM", "TFM"]
    assert data["results"][1]["name"] == '=HYPERLINK("http://evil")'  # JSON is not a spreadsheet


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="use csv or json"):
        export_response("xlsx", rows=[], columns=COLUMNS, filename="x")


def test_download_links_keep_the_page_filters_but_not_the_page_number():
    request = RequestFactory().get("/agencies/", {"state": "TX", "model": "JEM", "page": "3"})
    links = export_links(request)
    assert links["csv"] == "/agencies/?state=TX&model=JEM&format=csv"
    assert links["json"].endswith("format=json")
    assert requested_format(RequestFactory().get("/", {"format": "CSV"})) == "csv"
    assert requested_format(RequestFactory().get("/", {"format": "pdf"})) is None


@pytest.mark.parametrize(
    "cell",
    [
        '=HYPERLINK("http://evil")',
        '\n=HYPERLINK("http://evil")',
        " \r\n=1+1",
        '＝HYPERLINK("http://evil")',
        "＋1+1",
        "－1+1",
        "＠SUM(A1)",
        "﹦1+1",
        "\tSUM(A1)",
        "\rSUM(A1)",
        "\nSUM(A1)",
    ],
)
def test_csv_keeps_every_formula_form_as_text(cell):
    """A spreadsheet opening the download never runs a cell, whatever prefix hides the formula."""
    response = export_response("csv", rows=iter([{"name": cell}]), columns=["name"], filename="x")
    rows = list(csv.DictReader(io.StringIO(body(response).lstrip("\ufeff"))))

    assert rows[0]["name"] == "'" + cell


def test_csv_leaves_plain_text_alone():
    rows_in = [{"name": "Sheriff's Office (＝ no formula)"}, {"name": " Harris"}]
    response = export_response("csv", rows=iter(rows_in), columns=["name"], filename="x")
    rows = list(csv.DictReader(io.StringIO(body(response).lstrip("\ufeff"))))

    assert [r["name"] for r in rows] == ["Sheriff's Office (＝ no formula)", " Harris"]
