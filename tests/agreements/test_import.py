"""snapshot_import and the import_ice_sheet command: real files, refusals, agencies."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import zoneinfo
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from agreements.models import (
    Agency,
    AgencyAlias,
    Agreement,
    AgreementEvent,
    AgreementLastSeen,
    ListSnapshot,
    SnapshotRow,
)
from agreements.services import SnapshotImportError, snapshot_import
from agreements.services import snapshots as snapshots_module
from tests.agreements.ice_builder import row, workbook
from tests.agreements.test_ice_sheet import independent_count

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent / "data"
PARTICIPATING_MAY = DATA / "participatingAgencies05232025am.xlsx"
PARTICIPATING_JULY = DATA / "participatingAgencies07112025pm.xlsx"
PENDING_JUNE = DATA / "pendingAgencies06062025am.xlsx"
EASTERN = zoneinfo.ZoneInfo("America/New_York")


def corrupted(data: bytes) -> bytes:
    """The same file with some bytes of its compressed data flipped, as a bad download."""
    damaged = bytearray(data)
    for i in range(len(data) // 3, len(data) // 3 + 200):
        damaged[i] ^= 0x55
    return bytes(damaged)


def load(path: Path, **kwargs):
    with path.open("rb") as handle:
        return snapshot_import(file=handle, filename=path.name, **kwargs)


def load_bytes(data: bytes, name: str = "participatingAgencies06012025am.xlsx", **kwargs):
    return snapshot_import(file=io.BytesIO(data), filename=name, **kwargs)


def db_state() -> dict[str, int]:
    models = (
        Agency,
        AgencyAlias,
        Agreement,
        AgreementEvent,
        AgreementLastSeen,
        ListSnapshot,
        SnapshotRow,
    )
    state = {model.__name__: model.objects.count() for model in models}
    state["last listed in"] = sorted(AgreementLastSeen.objects.values_list("pk", "snapshot_id"))
    return state


def warning_codes(snapshot: ListSnapshot) -> set[str]:
    return {w["code"] for w in snapshot.warnings}


# --- Real files -------------------------------------------------------------


def test_real_participating_file_becomes_rows_agencies_and_agreements():
    rows, _ = independent_count(PARTICIPATING_JULY)
    result = load(PARTICIPATING_JULY)
    snapshot = result.snapshot
    assert result.created and result.rows == rows == snapshot.rows.count() == 811
    assert snapshot.kind == ListSnapshot.Kind.PARTICIPATING
    assert snapshot.published_at == dt.datetime(2025, 7, 11, 21, 32, 49, tzinfo=dt.UTC)
    assert snapshot.published_at_source == ListSnapshot.PublishedAtSource.METADATA
    assert snapshot.header[:2] == ["STATE", "LAW ENFORCEMENT AGENCY"]
    # Every row resolved, and each listed agreement is active.
    assert not snapshot.rows.filter(agreement__isnull=True).exists()
    listed = snapshot.rows.filter(is_duplicate=False).values("agreement").distinct().count()
    assert Agreement.objects.filter(status=Agreement.Status.ACTIVE).count() == listed
    assert result.agreements_new == Agreement.objects.count()
    assert result.agencies_new == Agency.objects.count()
    # The original file is kept byte for byte.
    with snapshot.file.open("rb") as kept:
        assert hashlib.sha256(kept.read()).hexdigest() == snapshot.sha256
    assert snapshot.sha256 == "fac5cf8f8e6d34aa10b1b92f98bfc57b6436cc78ad9438a05c1546256109b9df"


def test_real_file_warnings_name_row_column_and_value():
    snapshot = load(PARTICIPATING_JULY).snapshot
    impossible = next(w for w in snapshot.warnings if w["code"] == "signed_impossible")
    assert (impossible["column"], impossible["value"]) == ("SIGNED", "5025-07-07")
    row_ = snapshot.rows.get(row_number=impossible["row"])
    assert row_.raw["SIGNED"] == "5025-07-07" and row_.signed_on is None
    assert row_.signed_raw == "5025-07-07"
    assert len(snapshot.warnings) == load(PARTICIPATING_JULY).warnings


def test_safelinks_are_unwrapped_on_the_agreement():
    load(PARTICIPATING_JULY)
    urls = list(Agreement.objects.exclude(moa_url="").values_list("moa_url", flat=True))
    assert urls and not [u for u in urls if "safelinks" in u]
    baker = Agreement.objects.get(agency__name="Baker County Sheriff's Office", model="WSO")
    assert baker.moa_url.endswith("287gWSO_BakerCoFl2019-10-15.pdf")
    assert baker.agency.county_fips == "12003"


def test_all_samples_in_order_tell_a_consistent_story():
    for path in (PARTICIPATING_MAY, PENDING_JUNE, PARTICIPATING_JULY):
        result = load(path)
        assert "county FIPS matched" in result.summary()
    pending = ListSnapshot.objects.get(kind=ListSnapshot.Kind.PENDING)
    assert pending.row_count == 79
    # Pending agencies that ICE signed by July are one agreement, active.
    signed = Agreement.objects.filter(
        snapshot_rows__snapshot=pending, status=Agreement.Status.ACTIVE
    ).distinct()
    assert signed.exists()
    for agreement in signed[:5]:
        kinds = set(agreement.events.values_list("kind", flat=True))
        assert {"pending_listed", "signed"} <= kinds


def test_reimporting_a_file_changes_nothing():
    first = load(PENDING_JUNE)
    before = db_state()
    again = load(PENDING_JUNE)
    assert not again.created and again.snapshot == first.snapshot
    assert db_state() == before
    assert "already imported" in again.summary()


# --- Publication time and kind ----------------------------------------------


def test_published_at_argument_wins():
    when = dt.datetime(2025, 6, 2, 9, 30, tzinfo=dt.UTC)
    snapshot = load_bytes(workbook([row()]), published_at=when).snapshot
    assert (snapshot.published_at, snapshot.published_at_source) == (when, "argument")


@pytest.mark.parametrize(
    ("when", "words"),
    [("2099-01-01", "is in the future"), ("1990-05-01", "is before 2000")],
)
def test_impossible_published_at_argument_is_refused(when, words):
    with pytest.raises(CommandError, match=words):
        call_command("import_ice_sheet", "--published-at", when, str(PENDING_JUNE))
    assert ListSnapshot.objects.count() == 0


def test_published_at_falls_back_to_file_name_then_import_time():
    data = workbook([row()], modified=None)
    snapshot = load_bytes(data, "participatingAgencies07112025pm.xlsx").snapshot
    assert snapshot.published_at == dt.datetime(2025, 7, 11, 12, tzinfo=EASTERN)
    assert snapshot.published_at_source == "filename"
    other = load_bytes(
        workbook([row(agency="Other Police Department")], modified=None), "list.xlsx"
    )
    assert other.snapshot.published_at_source == "fetched"


def test_file_name_date_that_disagrees_with_metadata_holds_the_list():
    data = workbook([row()], modified=dt.datetime(2025, 6, 20, 15))
    result = load_bytes(data, "participatingAgencies06012025am.xlsx")
    snapshot = result.snapshot
    assert snapshot.published_at == dt.datetime(2025, 6, 20, 15, tzinfo=dt.UTC)
    assert snapshot.held and not Agreement.objects.exists()
    assert "HELD: The file name says 2025-06-01 but the workbook was saved 2025-06-20" in (
        result.summary()
    )


def test_file_named_participating_with_pending_content_is_imported_as_pending():
    data = workbook([row()[:5]])
    snapshot = load_bytes(data, "participatingAgencies06012025am.xlsx").snapshot
    assert snapshot.kind == ListSnapshot.Kind.PENDING
    warning = next(w for w in snapshot.warnings if w["code"] == "filename_kind")
    assert "says participating" in warning["message"]
    assert Agreement.objects.get().status == Agreement.Status.PENDING


def test_kind_argument_overrides_the_header_with_a_warning():
    snapshot = load_bytes(workbook([row()[:5]]), kind="participating").snapshot
    assert snapshot.kind == "participating"
    assert "kind_overridden" in warning_codes(snapshot)


# --- Refusals ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "is empty"),
        (PARTICIPATING_MAY.read_bytes()[:30000], "truncated"),
        (corrupted(PENDING_JUNE.read_bytes()), "is damaged: part of it cannot be unpacked"),
        (b"<html><head><title>ICE</title></head></html>", "web page"),
        (workbook([["x", "y"]], header=["FOO", "BAR"]), "no recognizable ICE header"),
    ],
    ids=["empty", "truncated", "corrupt", "html", "no-header"],
)
def test_refused_files_leave_the_database_and_storage_untouched(data, words, settings):
    load(PENDING_JUNE)
    before = db_state()
    stored = sorted(p.name for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file())
    with pytest.raises(SnapshotImportError, match=words):
        load_bytes(data)
    assert db_state() == before
    assert sorted(p.name for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()) == stored


def test_a_failure_midway_rolls_back_everything(monkeypatch, settings):
    load(PENDING_JUNE)
    before = db_state()
    assert before["AgreementLastSeen"] == before["Agreement"] > 0

    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(snapshots_module, "snapshot_history_update", broken)
    with pytest.raises(RuntimeError):
        load(PARTICIPATING_MAY)
    assert db_state() == before
    assert not list(Path(settings.MEDIA_ROOT).rglob("participatingAgencies05232025am*"))


def test_unknown_kind_is_refused():
    with pytest.raises(SnapshotImportError, match="not one of"):
        load_bytes(workbook([row()]), kind="ended")


# --- Agencies ---------------------------------------------------------------


def test_same_agency_spelled_differently_is_one_agency():
    load_bytes(workbook([row()], modified=dt.datetime(2025, 6, 1)))
    load_bytes(
        workbook([row(agency="POLK CO. SHERIFF’S OFFICE  ")], modified=dt.datetime(2025, 6, 2)),
        "participatingAgencies06022025am.xlsx",
    )
    load_bytes(
        workbook([row(agency="Polk County Sheriffs Office")], modified=dt.datetime(2025, 6, 3)),
        "participatingAgencies06032025am.xlsx",
    )
    agency = Agency.objects.get()
    assert agency.name == "Polk County Sheriffs Office"  # the latest list's spelling
    assert Agreement.objects.get().snapshot_rows.count() == 3
    assert not AgreementEvent.objects.filter(kind="renamed").exists()  # one spelling, one key


def test_misspelt_name_in_the_next_list_is_a_rename_recorded_as_alias():
    # Another agency listed unchanged: a list whose every row is new would be held.
    miller = row(agency="Miller County Sheriff's Office", state="ARKANSAS", county="Miller County")
    load_bytes(workbook([row(agency="Lafayette County Sheriff's Office", state="ARKANSAS",
                             county="Lafayette County"), miller]))  # fmt: skip
    load_bytes(
        workbook([row(agency="Layfayette County Sheriff's Office", state="ARKANSAS",
                      county="Lafayette County"), miller], modified=dt.datetime(2025, 6, 2)),
        "participatingAgencies06022025am.xlsx",
    )  # fmt: skip
    agency = Agency.objects.get(county_name="Lafayette County")
    assert agency.name == "Layfayette County Sheriff's Office"  # the latest list's spelling
    assert AgencyAlias.objects.get().name == "Lafayette County Sheriff's Office"
    assert sorted(agency.events.values_list("kind", flat=True)) == ["renamed", "signed"]


def test_similar_names_in_different_counties_are_different_agencies():
    load_bytes(
        workbook(
            [
                row(state="FLORIDA", agency="Lee County Sheriff's Office", county="Lee County"),
                row(state="FLORIDA", agency="Levy County Sheriff's Office", county="Levy County"),
            ]
        )
    )
    assert Agency.objects.count() == 2
    assert not Agency.objects.filter(needs_review=True).exists()
    assert set(Agency.objects.values_list("county_fips", flat=True)) == {"12071", "12075"}


def test_stored_warnings_are_capped_per_kind_with_a_count_of_the_rest():
    warnings = [{"row": n, "column": "COUNTY", "value": "#N/A", "message": "m", "code": "county_error"}
                for n in range(2, 12)]  # fmt: skip
    kept = snapshots_module.cap_warnings(warnings, per_code=3)
    assert [w["row"] for w in kept[:3]] == [2, 3, 4]
    assert kept[3]["code"] == "warnings_omitted"
    assert kept[3]["message"].startswith("7 more county_error warnings")


def test_rows_without_state_are_kept_but_not_resolved():
    snapshot = load_bytes(
        workbook([row(), row(state="", agency="Ghost Police Department")])
    ).snapshot
    ghost = snapshot.rows.get(row_number=3)
    assert ghost.agency is None and ghost.agreement is None
    assert ghost.raw["LAW ENFORCEMENT AGENCY"] == "Ghost Police Department"


# --- Commands ---------------------------------------------------------------


def test_command_prints_one_summary_line_per_file_oldest_first(capsys):
    call_command("import_ice_sheet", str(PENDING_JUNE), str(PARTICIPATING_MAY))
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(
        "participatingAgencies05232025am.xlsx: participating list published 2025-05-23"
    )
    assert lines[1].startswith("pendingAgencies06062025am.xlsx: pending list published 2025-06-06")
    assert "79 rows" in lines[1] and "warnings" in lines[1]


def test_summary_counts_one_row_in_the_singular():
    result = load_bytes(workbook([row(county="Polk County")]))

    summary = result.summary()
    assert "1 row, 1 new agency, 1 new and 0 changed agreements" in summary
    assert "1 rows" not in summary and "1 new agencies" not in summary


def test_summary_never_rounds_a_partial_fips_match_up_to_100_percent():
    result = load(PARTICIPATING_JULY)

    assert 0.99 < result.county_fips_share < 1
    assert "county FIPS matched 100%" not in result.summary()
    assert f"county FIPS matched {result.county_fips_share:.1%}" in result.summary()


def test_command_refuses_with_the_sentence_and_fails(tmp_path, capsys):
    fake = tmp_path / "participatingAgencies01012025am.xlsx"
    fake.write_text("<html>Access denied</html>")
    with pytest.raises(CommandError, match="1 of 1 files were not imported"):
        call_command("import_ice_sheet", str(fake))
    assert "is not an .xlsx workbook" in capsys.readouterr().err
    assert ListSnapshot.objects.count() == 0


def test_command_reads_published_at_and_kind(capsys):
    call_command(
        "import_ice_sheet", str(PENDING_JUNE), published_at="2025-06-06T07:00-04:00", kind="pending"
    )
    snapshot = ListSnapshot.objects.get()
    assert snapshot.published_at == dt.datetime(2025, 6, 6, 11, tzinfo=dt.UTC)
    assert snapshot.published_at_source == "argument"


def test_load_ice_samples_is_idempotent(capsys):
    lists = len(list(DATA.rglob("*.xlsx")))  # its archive/ folder included
    call_command("load_ice_samples", folder=DATA)
    state = db_state()
    assert state["ListSnapshot"] == lists
    call_command("load_ice_samples", folder=DATA)
    assert db_state() == state
    assert capsys.readouterr().out.count("already imported") == lists


@pytest.mark.postgres
def test_import_on_postgresql_matches_the_independent_count():
    rows, _ = independent_count(PARTICIPATING_MAY)
    for path in (PARTICIPATING_MAY, PENDING_JUNE, PARTICIPATING_JULY):
        load(path)
    assert ListSnapshot.objects.get(sha256__startswith="d5253958").rows.count() == rows
    assert AgreementEvent.objects.filter(kind="delisted").exists()
    assert not load(PARTICIPATING_MAY).created


# --- Captures, batches and bad input -------------------------------------------

CAPTURE_JANUARY = DATA / "archive" / "ParticipatingEntities-20250104041613.xlsx"
CAPTURE_FEBRUARY = DATA / "archive" / "ParticipatingEntities-20250203025535.xlsx"
MARCH_2025 = DATA / "archive" / "participatingAgencies-20250301180751.xlsx"


def test_a_new_capture_timestamp_in_the_moa_links_is_not_a_change():
    load(CAPTURE_JANUARY)
    before = AgreementEvent.objects.count()
    load(CAPTURE_FEBRUARY)
    assert AgreementEvent.objects.count() == before
    january, february = (
        SnapshotRow.objects.filter(snapshot__original_filename=p.name, moa_url__gt="")
        .order_by("state", "agency_name", "model")
        .values_list("moa_url", "moa_source_url")
        for p in (CAPTURE_JANUARY, CAPTURE_FEBRUARY)
    )
    assert [url for url, _ in january] == [url for url, _ in february]
    assert january[0][1].startswith("https://web.archive.org/web/20250104041613/https://www.ice")
    assert february[0][1].startswith("https://web.archive.org/web/20250203025535/https://www.ice")
    agreement = Agreement.objects.exclude(moa_url="").first()
    assert agreement.moa_url.startswith("https://www.ice.gov/")


def test_command_imports_files_given_in_any_order_oldest_first(capsys):
    call_command("import_ice_sheet", str(MARCH_2025), str(CAPTURE_FEBRUARY), str(CAPTURE_JANUARY))
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == [
        CAPTURE_JANUARY.name,
        CAPTURE_FEBRUARY.name,
        MARCH_2025.name,
    ]
    by_import = list(ListSnapshot.objects.order_by("pk").values_list("published_at", flat=True))
    assert by_import == sorted(by_import)
    assert not ListSnapshot.objects.filter(held=True).exists()


def test_a_bad_file_in_a_batch_is_reported_and_the_others_are_imported(tmp_path, capsys):
    bad = tmp_path / "participatingAgencies02152025am.xlsx"
    bad.write_bytes(corrupted(CAPTURE_FEBRUARY.read_bytes()))
    with pytest.raises(CommandError, match="1 of 3 files were not imported"):
        call_command("import_ice_sheet", str(CAPTURE_JANUARY), str(bad), str(CAPTURE_FEBRUARY))
    output = capsys.readouterr()
    assert f"{bad.name}: refused. " in output.err
    assert ListSnapshot.objects.count() == 2
    assert len(output.out.strip().splitlines()) == 2


def test_same_bytes_under_two_names_are_one_snapshot_with_both_names(tmp_path):
    first = load(CAPTURE_JANUARY)
    before = db_state()
    copy = tmp_path / "participating-january-2025.xlsx"
    copy.write_bytes(CAPTURE_JANUARY.read_bytes())
    again = load(copy)
    snapshot = ListSnapshot.objects.get()
    assert not again.created and again.snapshot == first.snapshot
    assert snapshot.filenames == [CAPTURE_JANUARY.name, copy.name]
    assert db_state() == before
    assert again.summary() == (
        f"{copy.name}: the same bytes as {CAPTURE_JANUARY.name}, already imported as snapshot "
        f"{snapshot.pk} (participating, 2025-01-04 04:16 UTC); the name {copy.name} is recorded "
        "on it, nothing else changed."
    )


def test_same_bytes_twice_in_one_batch_are_one_snapshot(tmp_path, capsys):
    copy = tmp_path / "copy.xlsx"
    copy.write_bytes(CAPTURE_JANUARY.read_bytes())
    call_command("import_ice_sheet", str(CAPTURE_JANUARY), str(copy))
    assert ListSnapshot.objects.get().filenames == [CAPTURE_JANUARY.name, copy.name]


@pytest.mark.parametrize("rows", [[], [[None] * 5]], ids=["header-only", "blank-row"])
def test_header_only_capture_is_refused_and_the_database_is_unchanged(rows):
    load(CAPTURE_JANUARY)
    before = db_state()
    data = workbook(
        rows,
        header=["STATE", "LAW ENFORCEMENT AGENCY", "SUPPORT TYPE", "SIGNED", "MOA"],
        title="287(g) Agreements",
    )
    with pytest.raises(SnapshotImportError, match="has the ICE header but no data rows"):
        load_bytes(data, "ParticipatingEntities-20250303000000.xlsx")
    assert db_state() == before


def test_a_list_where_every_row_is_new_is_held_and_ends_nothing():
    load(CAPTURE_JANUARY)
    before = Agreement.objects.filter(status=Agreement.Status.ACTIVE).count()
    strangers = [
        row(
            agency=f"Agency Number {n} Of Nowhere",
            county="Polk County",
            signed=dt.datetime(2025, 1, 2),
        )
        for n in range(3)
    ]
    result = load_bytes(workbook(strangers, modified=dt.datetime(2025, 2, 1, 14)), "x.xlsx")
    assert result.held
    assert "No row of this list matches an agency of the lists already imported" in (
        result.summary()
    )
    assert result.summary().count("It is kept but held") == 1  # also short: both reasons, once
    assert Agreement.objects.filter(status=Agreement.Status.ACTIVE).count() == before
