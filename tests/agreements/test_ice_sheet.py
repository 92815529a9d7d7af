"""The ICE sheet reader: real files, and built files carrying each known quirk."""

from __future__ import annotations

import datetime as dt
import io
import os
import tracemalloc
import zipfile
from pathlib import Path

import openpyxl
import pytest

from agreements import ice_sheet
from agreements.ice_sheet import IceSheetError, ice_url, links, read_ice_sheet, xlsx
from tests.agreements.ice_builder import PARTICIPATING_HEADER, pending, row, workbook
from tests.conftest import run_python

DATA = Path(__file__).parent / "data"
SAMPLES = {
    "participatingAgencies05232025am.xlsx": ("participating", 627),
    "participatingAgencies07112025pm.xlsx": ("participating", 811),
    "pendingAgencies06062025am.xlsx": ("pending", 79),
}
SAFELINK = (
    "https://gcc02.safelinks.protection.outlook.com/?url=https%3A%2F%2Fwww.ice.gov%2Fdoclib"
    "%2F287gMOA%2FPolkCoTX_JEM_MOA.pdf&data=05%7C02%7Cx%40ice.dhs.gov&reserved=0"
)


def independent_count(path: Path) -> tuple[int, int]:
    """Data rows (non-blank below row 1) and MOA/ADDENDUM hyperlinks, counted by openpyxl alone."""
    sheet = openpyxl.load_workbook(path).active
    header = [c.value for c in sheet[1]]
    link_columns = [i for i, v in enumerate(header) if v in ("MOA", "ADDENDUM")]
    rows = links = 0
    for cells in sheet.iter_rows(min_row=2):
        if any(c.value not in (None, "") and str(c.value).strip() for c in cells):
            rows += 1
        links += sum(1 for i in link_columns if cells[i].hyperlink is not None)
    return rows, links


def codes(sheet: ice_sheet.IceSheet) -> dict[str, list]:
    found: dict[str, list] = {}
    for warning in sheet.warnings:
        found.setdefault(warning.code, []).append(warning)
    return found


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_real_files_read_every_row_and_link(name):
    kind, readme_rows = SAMPLES[name]
    rows, links = independent_count(DATA / name)
    sheet = read_ice_sheet(DATA / name)
    assert sheet.kind == kind
    assert len(sheet.rows) == rows == readme_rows
    assert sum(bool(r.moa_url) + bool(r.addendum_url) for r in sheet.rows) == links
    assert all("safelinks" not in r.moa_url + r.addendum_url for r in sheet.rows)
    assert all(r.state and r.model and r.agency_name for r in sheet.rows)
    assert sheet.sheet_name == "Sheet1"


def test_real_file_oddities_are_warnings_with_row_column_and_value():
    sheet = read_ice_sheet(DATA / "participatingAgencies07112025pm.xlsx")
    found = codes(sheet)
    impossible = found["signed_impossible"][0]
    assert (impossible.column, impossible.value) == ("SIGNED", "5025-07-07")
    bad = next(r for r in sheet.rows if r.number == impossible.row)
    assert bad.signed_on is None and bad.signed_raw == "5025-07-07"
    assert {w.value for w in found["signed_text"]} == {"7/72025", "05/082025"}
    assert len(found["link_safelinks"]) == 207
    assert all(w.column == "COUNTY" for w in found["county_error"])
    assert sheet.modified_at == dt.datetime(2025, 7, 11, 21, 32, 49, tzinfo=dt.UTC)
    assert sheet.county_match_share > 0.98


def test_pending_file_maps_mixed_case_state():
    sheet = read_ice_sheet(DATA / "pendingAgencies06062025am.xlsx")
    warning = codes(sheet)["state_case"][0]
    assert warning.value == "AlABAMA"
    assert next(r for r in sheet.rows if r.number == warning.row).state == "AL"


def test_states_of_any_case_or_misspelled_become_usps_codes():
    data = workbook(
        [
            row(state="texas"),
            row(state="Tenessee", agency="Knox County Sheriff's Office", county="Knox County"),
            row(state="FLORDIA", agency="Lee County Sheriff's Office", county="Lee County"),
            row(state="Atlantis", agency="Nowhere Police Department"),
        ]
    )
    sheet = read_ice_sheet(data)
    assert [r.state for r in sheet.rows] == ["TX", "TN", "FL", ""]
    found = codes(sheet)
    assert {w.value for w in found["state_misspelled"]} == {"Tenessee", "FLORDIA"}
    assert found["state_unknown"][0].row == 5


def test_support_and_agency_types_with_spaces_or_typos_become_canonical():
    data = workbook(
        [
            row(model="Task Force Model ", kind="County "),
            row(model="Warrant Servce Officer", agency="A Police Department", kind="Muncipality"),
            row(model="jail enforcement model", agency="B Police Department", kind="State agency"),
            row(model="Something Else", agency="C Police Department", kind="Tribal"),
        ]
    )
    sheet = read_ice_sheet(data)
    assert [r.model for r in sheet.rows] == ["TFM", "WSO", "JEM", ""]
    assert [r.agency_kind for r in sheet.rows] == ["county", "municipality", "state", "other"]
    found = codes(sheet)
    assert found["model_misspelled"][0].value == "Warrant Servce Officer"
    assert found["model_unknown"][0].row == 5
    assert found["type_unknown"][0].value == "Tribal"


def test_county_errors_become_blank_and_missing_suffix_is_added():
    data = workbook(
        [
            row(county="#N/A"),
            row(agency="B Police Department", county="N/A"),
            row(agency="C Sheriff's Office", state="GEORGIA", county="Decatur"),
            row(agency="D Sheriff's Office", state="LOUISIANA", county="Bossier Parish "),
        ]
    )
    sheet = read_ice_sheet(data)
    assert [(r.county, r.county_fips) for r in sheet.rows] == [
        ("", ""),
        ("", ""),
        ("Decatur County", "13087"),
        ("Bossier Parish", "22015"),
    ]
    found = codes(sheet)
    assert [w.row for w in found["county_error"]] == [2, 3]
    assert found["county_suffix"][0].value == "Decatur"


def test_misspelled_counties_are_matched_but_a_merely_similar_one_is_not_guessed():
    data = workbook(
        [
            row(state="ALABAMA", county="Frankin County"),
            row(agency="B Sheriff's Office", state="LOUISIANA", county="Saint Landry County"),
            row(agency="C Sheriff's Office", state="TEXAS", county="Baz County"),
        ]
    )
    sheet = read_ice_sheet(data)
    assert [r.county_fips for r in sheet.rows] == ["01059", "22097", ""]
    found = codes(sheet)
    assert [w.value for w in found["county_misspelled"]] == [
        "Frankin County",
        "Saint Landry County",
    ]
    assert found["county_unmatched"][0].value == "Baz County"


def test_signed_values_are_read_or_kept_raw_and_flagged():
    cells = [
        dt.datetime(2025, 3, 5),
        "03/06/2025",
        "05/082025",
        None,
        dt.datetime(5025, 7, 7),
        "TBD",
        45000,
    ]
    rows = [row(signed=v, agency=f"Agency {i} Police Department") for i, v in enumerate(cells)]
    sheet = read_ice_sheet(workbook(rows))
    assert [r.signed_on for r in sheet.rows] == [
        dt.date(2025, 3, 5),
        dt.date(2025, 3, 6),
        dt.date(2025, 5, 8),
        None,
        None,
        None,
        dt.date(2023, 3, 15),
    ]
    assert [r.signed_raw for r in sheet.rows][4:6] == ["5025-07-07", "TBD"]
    found = codes(sheet)
    assert [w.row for w in found["signed_blank"]] == [5]
    assert [w.row for w in found["signed_impossible"]] == [6]
    assert [w.row for w in found["signed_malformed"]] == [7]


def test_links_come_from_hyperlinks_and_safelinks_are_unwrapped():
    rows = [
        row(moa="link", addendum="link"),
        row(agency="B Police Department", moa="link pending"),
        row(agency="C Police Department", moa="link"),
        row(agency="D Police Department", moa="https://www.ice.gov/doclib/287gMOA/D.pdf"),
    ]
    links = {
        (0, "MOA"): SAFELINK,
        (0, "ADDENDUM"): "https://www.ice.gov/doclib/287gMOA/add.pdf",
    }
    sheet = read_ice_sheet(workbook(rows, links=links))
    assert [r.moa_url for r in sheet.rows] == [
        "https://www.ice.gov/doclib/287gMOA/PolkCoTX_JEM_MOA.pdf",
        "",
        "",
        "https://www.ice.gov/doclib/287gMOA/D.pdf",
    ]
    assert sheet.rows[0].addendum_url == "https://www.ice.gov/doclib/287gMOA/add.pdf"
    found = codes(sheet)
    assert [w.row for w in found["link_safelinks"]] == [2]
    assert [w.row for w in found["link_missing"]] == [4]  # "link" with no hyperlink


def test_ice_url_leaves_plain_urls_alone():
    assert ice_url("https://www.ice.gov/a.pdf") == "https://www.ice.gov/a.pdf"


def test_ice_url_spells_a_space_as_a_browser_sends_it():
    """The archive lists Etowah County's MOA with a space and later with %20: one link."""
    written = "https://www.ice.gov/doclib/287gMOA/287gJEM_ etowahCoAL_06-09-2020.pdf"
    assert ice_url(written) == ice_url(written.replace(" ", "%20"))
    assert links.unwrap(SAFELINK) == (
        "https://www.ice.gov/doclib/287gMOA/PolkCoTX_JEM_MOA.pdf",
        ("safelinks",),
    )


def test_duplicate_rows_are_kept_once_with_a_warning():
    rows = [
        row(),
        row(agency="Other Police Department"),
        row(agency="POLK COUNTY SHERIFF’S OFFICE "),
    ]
    sheet = read_ice_sheet(workbook(rows))
    assert [r.duplicate_of for r in sheet.rows] == [None, None, 2]
    assert codes(sheet)["duplicate_row"][0].row == 4


def test_unsorted_rows_keep_their_worksheet_row_numbers():
    rows = [row(state="WYOMING", agency="Z Police Department"), row(state="ALABAMA")]
    sheet = read_ice_sheet(workbook(rows))
    assert [(r.number, r.state) for r in sheet.rows] == [(2, "WY"), (3, "AL")]


def test_huge_blank_stored_range_is_not_scanned_cell_by_cell():
    # 90,000 formatted empty cells, and one a million rows down: openpyxl's
    # ordinary mode holds ~35 MB of cell objects for this file.
    data = workbook([row()], blank_block=(1500, 60), far_cell=(1_000_000, 16_000))
    tracemalloc.start()
    try:
        sheet = read_ice_sheet(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(sheet.rows) == 1
    assert sheet.rows[0].number == 2
    assert peak < 10 * 1024 * 1024


def test_extra_and_renamed_worksheets_pick_the_sheet_with_the_header():
    tally = {"Totals": [["MODEL", "COUNT"], ["JEM", 1]]}
    sheet = read_ice_sheet(workbook([row()], title="Participating 287g", sheets_before=tally))
    assert sheet.sheet_name == "Participating 287g"
    assert len(sheet.rows) == 1
    assert codes(sheet)["sheet_ignored"][0].value == "Totals"


def test_header_is_found_by_name_despite_case_typos_order_and_new_columns():
    header = ["Law Enforcement  Agency", " state ", "SUPORT TYPE", "NOTES", "signed", "County"]
    data = workbook(
        [
            [
                "Polk County Sheriff's Office",
                "Texas",
                "Jail Enforcement Model",
                "new",
                "3/5/2025",
                "Polk",
            ]
        ],
        header=header,
        above_header=[["287(g) Participating Agencies"], []],
    )
    sheet = read_ice_sheet(data)
    assert sheet.kind == "participating"
    parsed = sheet.rows[0]
    assert (parsed.number, parsed.state, parsed.model, parsed.county_fips) == (
        4,
        "TX",
        "JEM",
        "48373",
    )
    assert parsed.raw["NOTES"] == "new"
    found = codes(sheet)
    assert found["header_misspelled"][0].value == "SUPORT TYPE"
    assert found["column_unknown"][0].value == "NOTES"


def test_pending_kind_is_detected_from_the_header():
    sheet = read_ice_sheet(workbook([pending()]))
    assert sheet.kind == "pending"
    assert sheet.rows[0].signed_on is None


def test_workbook_without_modified_time_reports_none():
    assert read_ice_sheet(workbook([row()], modified=None)).modified_at is None


# --- Refusals ---------------------------------------------------------------


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "is empty"),
        ((DATA / "pendingAgencies06062025am.xlsx").read_bytes()[:9000], "damaged or truncated"),
        (b"<!DOCTYPE html><html><body>Not found</body></html>", "web page"),
        (b"STATE,LAW ENFORCEMENT AGENCY\nTEXAS,Polk\n", "perhaps CSV"),
        (_zip({"hello.txt": b"hi"}), "not an Excel workbook"),
        (workbook([["a", "b"]], header=["NAME", "VALUE"]), "no recognizable ICE header"),
        (workbook([], header=PARTICIPATING_HEADER), "no data rows"),
    ],
    ids=["empty", "truncated", "html", "csv", "zip", "no-header", "header-only"],
)
def test_files_that_are_not_ice_lists_are_refused_with_a_sentence(data, words):
    with pytest.raises(IceSheetError) as error:
        read_ice_sheet(data, filename="participatingAgencies01012025am.xlsx")
    message = str(error.value)
    assert words in message
    assert message.endswith(".")


def test_zip_bombs_are_refused(monkeypatch):
    monkeypatch.setattr(xlsx, "MAX_UNCOMPRESSED_BYTES", 1_000_000)
    data = _zip({"xl/workbook.xml": b"<x/>", "xl/worksheets/sheet1.xml": b"\0" * 5_000_000})
    with pytest.raises(IceSheetError, match="zip bomb"):
        read_ice_sheet(data)


# --- Wrapped links and captures ----------------------------------------------

ICE_PDF = "https://www.ice.gov/doclib/287gMOA/PolkCoTX_JEM_MOA.pdf"
CAPTURE_JANUARY = DATA / "archive" / "ParticipatingEntities-20250104041613.xlsx"
CAPTURE_HEADER = ["STATE", "LAW ENFORCEMENT AGENCY", "SUPPORT TYPE", "SIGNED", "MOA"]


@pytest.mark.parametrize(
    ("written", "inside"),
    [
        (ICE_PDF, ICE_PDF),
        (f"https://web.archive.org/web/20210113002027/{ICE_PDF}", ICE_PDF),
        (f"https://web.archive.org/web/20250104041613id_/{ICE_PDF}", ICE_PDF),
        (
            "http://web.archive.org/web/2021/http:/www.ice.gov/doclib/287gMOA/PolkCoTX_JEM_MOA.pdf",
            "http://www.ice.gov/doclib/287gMOA/PolkCoTX_JEM_MOA.pdf",
        ),
        (SAFELINK, ICE_PDF),
        (f"https://web.archive.org/web/20250104041613/{SAFELINK}", ICE_PDF),
    ],
    ids=["plain", "wayback", "wayback-id_", "wayback-collapsed-scheme", "safelinks", "both"],
)
def test_ice_url_unwraps_wayback_and_safelinks_links_to_the_ice_address(written, inside):
    assert ice_url(written) == inside


def test_wayback_link_is_unwrapped_but_kept_as_written():
    assert links.unwrap(f"https://web.archive.org/web/20210113002027/{ICE_PDF}") == (
        ICE_PDF,
        ("wayback",),
    )
    assert links.unwrap("https://web.archive.org/web/2021/") == (
        "https://web.archive.org/web/2021/",
        (),
    )


def test_capture_of_ices_page_reads_with_ice_urls_and_the_links_as_written():
    sheet = read_ice_sheet(CAPTURE_JANUARY)
    assert (sheet.kind, sheet.sheet_name, len(sheet.rows)) == (
        "participating",
        "287(g) Agreements",
        135,
    )
    assert "type" not in sheet.columns and "county" not in sheet.columns
    linked = [r for r in sheet.rows if r.moa_url]
    assert linked and all(r.moa_url.startswith("https://www.ice.gov/") for r in linked)
    assert all(  # as written, but for a space the ICE address spells %20
        r.moa_source_url.replace(" ", "%20")
        == f"https://web.archive.org/web/20250104041613/{r.moa_url}"
        for r in linked
    )
    assert "link_safelinks" not in {w.code for w in sheet.warnings}


@pytest.mark.parametrize("rows", [[], [[None, None, None, None, None]]])
def test_header_only_capture_is_refused_with_a_sentence(rows):
    data = workbook(rows, header=CAPTURE_HEADER, title="287(g) Agreements")
    with pytest.raises(IceSheetError, match="has the ICE header but no data rows"):
        read_ice_sheet(data, filename="ParticipatingEntities-20250104041613.xlsx")


def test_reader_and_normalize_import_without_django():
    environment = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    code = (
        "import sys, agreements.ice_sheet, agreements.normalize; "
        "assert not [m for m in sys.modules if m.startswith('django')], 'django imported'"
    )
    done = run_python(code, env=environment)
    assert done.returncode == 0, done.stderr
