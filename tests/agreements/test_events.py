"""Agreement history: identity, renewals, model switches and events, in any import order."""

from __future__ import annotations

import datetime as dt
import io
import random
from collections import Counter
from pathlib import Path

import pytest

from agreements.models import (
    Agency,
    AgencyAlias,
    Agreement,
    AgreementEvent,
    AgreementLastSeen,
    ListSnapshot,
    SnapshotRow,
)
from agreements.services import snapshot_import
from agreements.services.events import LAST_SEEN_COLUMNS, agreements_rebuild
from tests.agreements.ice_builder import row, workbook

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent / "data"
D = dt.datetime


def _a(**kw):
    return row(state="TEXAS", agency="Arlington Police Department", kind="Municipality",
               county="Tarrant County", model="Task Force Model", **kw)  # fmt: skip


def _b(**kw):
    return row(state="TEXAS", agency="Bexar County Sheriff's Office", county="Bexar County",
               model="Jail Enforcement Model", **kw)  # fmt: skip


def _c(**kw):
    kw.setdefault("signed", D(2019, 10, 15))
    return row(state="FLORIDA", agency="Baker County Sheriff's Office", county="Baker County",
               model="Warrant Service Officer", **kw)  # fmt: skip


def _d(**kw):
    kw.setdefault("signed", D(2020, 7, 2))
    kw.setdefault("county", "Polk County")
    return row(state="GEORGIA", agency="Polk County Sheriff's Office", model="Jail Enforcement Model",
               **kw)  # fmt: skip


def _e(**kw):
    return row(state="FLORIDA", agency="Arcadia Police Department", kind="Municipality",
               county="DeSoto County", model="Task Force Model", **kw)  # fmt: skip


def _g(model="Jail Enforcement Model", **kw):
    kw.setdefault("signed", D(2024, 1, 10))
    return row(state="OHIO", agency="Butler County Sheriff's Office", county="Butler County",
               model=model, **kw)  # fmt: skip


MOA = "https://www.ice.gov/doclib/287gMOA/arlington.pdf"


def history_files() -> list[tuple[str, bytes]]:
    """Six lists over five months with every kind of change."""
    return [
        (
            "pendingAgencies01102025am.xlsx",
            workbook([_a()[:5], _b()[:5]], modified=D(2025, 1, 10, 14)),
        ),
        (
            "participatingAgencies02012025am.xlsx",
            workbook(
                [_a(signed=D(2025, 1, 20)), _c(), _d(), _e(signed=D(2025, 1, 25)), _g()],
                modified=D(2025, 2, 1, 14),
            ),  # fmt: skip
        ),
        (
            "participatingAgencies03012025am.xlsx",
            workbook(
                [
                    _a(signed=D(2025, 1, 20), moa="link"),
                    _c(),
                    _d(county="#N/A"),
                    _e(signed=D(2025, 1, 25)),
                    _g(),
                ],
                links={(0, "MOA"): MOA},
                modified=D(2025, 3, 1, 14),
            ),  # fmt: skip
        ),
        (
            "participatingAgencies04012025am.xlsx",
            workbook(
                [
                    _a(signed=D(2025, 1, 20), moa="link"),
                    _c(signed=D(2025, 3, 15)),
                    _e(signed=D(2025, 1, 26)),
                    _b(signed=D(2025, 3, 20)),
                    _g(),
                ],
                links={(0, "MOA"): MOA},
                modified=D(2025, 4, 1, 14),
            ),  # fmt: skip
        ),
        (
            "pendingAgencies04152025am.xlsx",
            workbook([_b()[:5]], modified=D(2025, 4, 15, 14)),
        ),
        (
            "participatingAgencies05012025am.xlsx",
            workbook(
                [
                    _a(signed=D(2025, 1, 20), moa="link"),
                    _c(signed=D(2025, 3, 15)),
                    _d(county="Polk"),
                    _e(signed=D(2025, 1, 26)),
                    _b(signed=D(2025, 3, 20)),
                    _g(model="Warrant Service Officer", signed=D(2025, 4, 20)),
                ],
                links={(0, "MOA"): MOA},
                modified=D(2025, 5, 1, 14),
            ),  # fmt: skip
        ),
    ]


def import_all(files: list[tuple[str, bytes]]) -> None:
    for name, data in files:
        snapshot_import(file=io.BytesIO(data), filename=name)


def wipe() -> None:
    AgreementEvent.objects.all().delete()
    SnapshotRow.objects.all().delete()
    ListSnapshot.objects.all().delete()
    Agreement.objects.update(predecessor=None)
    Agreement.objects.all().delete()
    AgencyAlias.objects.all().delete()
    Agency.objects.all().delete()


def history() -> tuple[set, set]:
    """Everything a reader of the history sees, without database ids."""
    keys: dict[int, set] = {}
    for agency in Agency.objects.values_list("id", "state", "name_key"):
        keys[agency[0]] = {agency[1], agency[2]}
    for agency_id, key in AgencyAlias.objects.values_list("agency_id", "name_key"):
        keys[agency_id].add(key)
    rows = Counter(SnapshotRow.objects.values_list("agreement_id", flat=True))
    agreements = {
        a.pk: (frozenset(keys[a.agency_id]), a.model, a.signed_on) for a in Agreement.objects.all()
    }
    shas = dict(ListSnapshot.objects.values_list("id", "sha256"))
    events = {
        (
            agreements[e.agreement_id],
            e.kind,
            shas[e.snapshot_id],
            shas.get(e.previous_snapshot_id),
            e.field,
            e.old_value,
            e.new_value,
            e.occurred_at,
        )
        for e in AgreementEvent.objects.all()
    }
    states = {
        (
            agreements[a.pk],
            a.status,
            a.ending_in_question,
            a.signed_raw,
            a.moa_url,
            a.first_listed_at,
            a.last_listed_at,
            agreements.get(a.predecessor_id),
            rows[a.pk],
        )
        for a in Agreement.objects.all()
    }
    return events, states


def last_seen() -> dict:
    """Each agreement's last-seen record, snapshots as sha256 (None: no record)."""
    shas = dict(ListSnapshot.objects.values_list("id", "sha256"))
    records = {
        pk: tuple(shas.get(v, v) if c.endswith("snapshot_id") else v for c, v in zip(
            LAST_SEEN_COLUMNS, values, strict=True))
        for pk, *values in AgreementLastSeen.objects.values_list("pk", *LAST_SEEN_COLUMNS)
    }  # fmt: skip
    return {
        (a.agency.state, a.agency.name_key, a.model, a.signed_on): records.get(a.pk)
        for a in Agreement.objects.select_related("agency")
    }


def events_of(agency_name: str, model: str | None = None) -> list[tuple]:
    events = AgreementEvent.objects.filter(agency__name=agency_name)
    if model:
        events = events.filter(agreement__model=model)
    return [
        (e.kind, e.field, e.old_value, e.new_value, e.snapshot.published_at.date().isoformat())
        for e in events.order_by("occurred_at", "kind", "field")
    ]


def test_pending_then_signed_is_one_agreement():
    import_all(history_files())
    (agreement,) = Agreement.objects.filter(agency__name="Arlington Police Department")
    assert agreement.status == Agreement.Status.ACTIVE
    assert agreement.signed_on == dt.date(2025, 1, 20)
    assert agreement.moa_url == MOA
    assert events_of("Arlington Police Department") == [
        ("pending_listed", "", "", "", "2025-01-10"),
        ("signed", "", "", "", "2025-02-01"),
        ("moa_posted", "moa_url", "", MOA, "2025-03-01"),
    ]


def test_agency_listed_pending_again_after_signing_is_not_a_new_agreement():
    import_all(history_files())
    (agreement,) = Agreement.objects.filter(agency__name="Bexar County Sheriff's Office")
    assert agreement.signed_on == dt.date(2025, 3, 20)
    # Listed pending, signed, then still on the (lagging) pending list: one agreement.
    assert agreement.snapshot_rows.count() == 4
    assert [e[0] for e in events_of("Bexar County Sheriff's Office")] == [
        "pending_listed",
        "signed",
    ]


def test_renewal_is_a_new_agreement_succeeding_the_old():
    import_all(history_files())
    old, new = Agreement.objects.filter(agency__name="Baker County Sheriff's Office").order_by(
        "signed_on"
    )
    assert (old.signed_on, old.status) == (dt.date(2019, 10, 15), Agreement.Status.ENDED)
    assert (new.signed_on, new.status) == (dt.date(2025, 3, 15), Agreement.Status.ACTIVE)
    assert new.predecessor == old
    # Replaced at once by a new signing: re-signed, not ended.
    assert events_of("Baker County Sheriff's Office") == [
        ("signed", "", "", "", "2025-02-01"),
        ("resigned", "signed_on", "2019-10-15", "2025-03-15", "2025-04-01"),
    ]


def test_model_switch_is_a_new_agreement_succeeding_the_other_model():
    import_all(history_files())
    jem = Agreement.objects.get(agency__name="Butler County Sheriff's Office", model="JEM")
    wso = Agreement.objects.get(agency__name="Butler County Sheriff's Office", model="WSO")
    assert wso.predecessor == jem
    assert (jem.status, wso.status) == (Agreement.Status.ENDED, Agreement.Status.ACTIVE)
    assert events_of("Butler County Sheriff's Office") == [
        ("signed", "", "", "", "2025-02-01"),
        ("model_switched", "model", "JEM", "WSO", "2025-05-01"),
    ]


def test_corrected_signed_date_is_the_same_agreement_with_a_change_event():
    import_all(history_files())
    (agreement,) = Agreement.objects.filter(agency__name="Arcadia Police Department")
    assert agreement.signed_on == dt.date(2025, 1, 26)
    assert ("redated", "signed_on", "2025-01-25", "2025-01-26", "2025-04-01") in events_of(
        "Arcadia Police Department"
    )


def test_delisted_relisted_and_county_changes_are_events():
    import_all(history_files())
    (agreement,) = Agreement.objects.filter(agency__name="Polk County Sheriff's Office")
    assert agreement.status == Agreement.Status.ACTIVE
    assert events_of("Polk County Sheriff's Office") == [
        ("signed", "", "", "", "2025-02-01"),
        ("delisted", "", "", "", "2025-04-01"),
        ("relisted", "", "", "", "2025-05-01"),
    ]
    # "#N/A" then "Polk" (suffix added): no change a reader would see.
    assert Agency.objects.get(name="Polk County Sheriff's Office").county_fips == "13233"


def test_county_corrections_are_field_changes():
    files = [
        ("participatingAgencies02012025am.xlsx", workbook([_d(county="Floyd County")], modified=D(2025, 2, 1))),
        ("participatingAgencies03012025am.xlsx", workbook([_d()], modified=D(2025, 3, 1))),
    ]  # fmt: skip
    import_all(files)
    assert ("field_changed", "county", "Floyd County", "Polk County", "2025-03-01") in events_of(
        "Polk County Sheriff's Office"
    )
    assert Agency.objects.get().county_fips == "13233"


def test_any_import_order_gives_the_same_history():
    files = history_files()
    import_all(files)
    expected = history()
    assert len(expected[0]) > 12
    orders = [list(reversed(files))] + [
        random.Random(seed).sample(files, len(files)) for seed in (1, 2, 3)
    ]
    for order in orders:
        wipe()
        import_all(order)
        assert history() == expected, [name for name, _ in order]


def test_real_files_in_any_order_give_the_same_history():
    files = [(p.name, p.read_bytes()) for p in sorted(DATA.glob("*.xlsx"))]
    import_all(files)
    expected = history()
    assert any(e[1] == "delisted" for e in expected[0])
    for order in ([files[2], files[0], files[1]], [files[1], files[2], files[0]]):
        wipe()
        import_all(order)
        assert history() == expected


@pytest.mark.parametrize("real", [False, True], ids=["built", "real"])
def test_newest_list_fast_path_agrees_with_a_full_rebuild(real):
    """Lists imported newest-last take the fast path; rebuilding from all rows changes nothing."""
    files = (
        [(p.name, p.read_bytes()) for p in sorted(DATA.glob("*.xlsx"))] if real else history_files()
    )
    import_all(files)
    incremental, seen = history(), last_seen()
    assert None not in seen.values()
    agreements_rebuild(agency_ids=Agency.objects.values_list("pk", flat=True))
    assert history() == incremental
    assert last_seen() == seen


def seen_of(agency_name: str, signed_on: dt.date) -> dict:
    """One agreement's last-seen record, snapshots as file names."""
    names = dict(ListSnapshot.objects.values_list("id", "original_filename"))
    record = AgreementLastSeen.objects.get(
        agreement__agency__name=agency_name, agreement__signed_on=signed_on
    )
    return {
        column: names[value] if column.endswith("snapshot_id") and value else value
        for column, value in zip(
            LAST_SEEN_COLUMNS, (getattr(record, c) for c in LAST_SEEN_COLUMNS), strict=True
        )
    }


def test_last_seen_records_what_the_lists_said_last_in_any_import_order():
    files = history_files()
    import_all(files)
    march, may = "participatingAgencies03012025am.xlsx", "participatingAgencies05012025am.xlsx"
    arlington = seen_of("Arlington Police Department", dt.date(2025, 1, 20))
    assert (arlington["snapshot_id"], arlington["moa_url"], arlington["moa_url_snapshot_id"]) == (
        may,
        MOA,
        may,
    )
    # These lists' ADDENDUM column has no link in any row: read as absent, it says nothing.
    assert (arlington["addendum_url"], arlington["addendum_url_snapshot_id"]) == ("", None)
    # Polk was delisted in April; its county was #N/A in March, then "Polk" in May.
    polk = seen_of("Polk County Sheriff's Office", dt.date(2020, 7, 2))
    assert (polk["snapshot_id"], polk["county_name"], polk["county_name_snapshot_id"]) == (
        may,
        "Polk County",
        may,
    )
    # Baker's first agreement was last listed in March, then renewed.
    assert seen_of("Baker County Sheriff's Office", dt.date(2019, 10, 15))["snapshot_id"] == march
    expected = last_seen()
    assert None not in expected.values()
    for order in (list(reversed(files)), random.Random(4).sample(files, len(files))):
        wipe()
        import_all(order)
        assert last_seen() == expected, [name for name, _ in order]


def test_lost_last_seen_records_are_rebuilt_from_the_rows():
    """A record missing (e.g. its snapshot deleted) means "unknown": the next import rebuilds."""
    files = history_files()
    import_all(files)
    expected_history, expected_seen = history(), last_seen()
    wipe()
    import_all(files[:3])
    AgreementLastSeen.objects.filter(agreement__agency__name__startswith="A").delete()
    import_all(files[3:])
    assert history() == expected_history
    assert last_seen() == expected_seen


def test_list_dated_between_two_records_of_one_agreement_joins_them_without_crashing():
    """The archive's crash: a list older than those imported made two records one agreement.

    January's date and April's (a correction, 20 days apart) were two agreements
    while March (without the agency) stood between them; February, imported
    last, lists the corrected date right after January, so they are one.
    """
    other = _c()
    files = [
        ("participatingAgencies01152025am.xlsx", workbook([_a(signed=D(2025, 1, 10)), other], modified=D(2025, 1, 15))),
        ("participatingAgencies03012025am.xlsx", workbook([other], modified=D(2025, 3, 1))),
        ("participatingAgencies04012025am.xlsx", workbook([_a(signed=D(2025, 1, 30)), other], modified=D(2025, 4, 1))),
        ("participatingAgencies02012025am.xlsx", workbook([_a(signed=D(2025, 1, 30)), other], modified=D(2025, 2, 1))),
    ]  # fmt: skip
    import_all(files[:3])
    assert Agreement.objects.filter(agency__name="Arlington Police Department").count() == 2
    import_all(files[3:])
    (agreement,) = Agreement.objects.filter(agency__name="Arlington Police Department")
    assert agreement.signed_on == dt.date(2025, 1, 30)
    assert AgreementLastSeen.objects.filter(agreement=agreement).exists()
    expected = history()
    wipe()
    import_all(sorted(files))
    assert history() == expected


def _moa_lists(links_in_march: dict) -> list[tuple[str, bytes]]:
    """Two agencies with MOA links in February and April; March's links are ``links_in_march``."""
    moa = {(0, "MOA"): MOA, (1, "MOA"): MOA.replace(".pdf", "-d.pdf")}
    rows = [_c(moa="link"), _d(moa="link")]
    return [
        (f"participatingAgencies0{month}012025am.xlsx",
         workbook(rows, links=links, modified=D(2025, month, 1, 14)))
        for month, links in ((2, moa), (3, links_in_march), (4, moa))
    ]  # fmt: skip


@pytest.mark.parametrize("order", ["date", "reversed"])
def test_a_moa_column_without_a_single_link_is_read_as_absent(order):
    files = _moa_lists({})
    import_all(files if order == "date" else list(reversed(files)))
    kinds = Counter(AgreementEvent.objects.values_list("kind", flat=True))
    assert kinds == {"signed": 2}  # no MOA removed in March, none posted again in April
    march = ListSnapshot.objects.get(original_filename=files[1][0])
    blank = {w["column"]: w["message"] for w in march.warnings if w["code"] == "link_column_blank"}
    assert "MOA column has no link in any row" in blank["MOA"]


def test_a_moa_link_dropped_from_a_column_with_links_is_removed():
    import_all(_moa_lists({(0, "MOA"): MOA}))
    removed = AgreementEvent.objects.get(kind="moa_removed")
    assert removed.agency.name == "Polk County Sheriff's Office"
