"""Selectors: which snapshot is in force on a day, and the counts taken from it."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from agreements import selectors
from agreements.models import ListSnapshot, SupportModel
from tests.agreements.factories import (
    AgencyAliasFactory,
    AgencyFactory,
    AgreementFactory,
    ListSnapshotFactory,
    SnapshotRowFactory,
    listed,
)

pytestmark = pytest.mark.django_db


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return timezone.make_aware(dt.datetime(year, month, day, hour, minute))


def test_snapshot_in_force_is_latest_published_by_end_of_day():
    morning = ListSnapshotFactory(published_at=at(2025, 6, 1, 8))
    evening = ListSnapshotFactory(published_at=at(2025, 6, 1, 23, 59))
    ListSnapshotFactory(published_at=at(2025, 6, 2, 0, 0))

    assert selectors.snapshot_in_force(dt.date(2025, 6, 1)) == evening
    assert selectors.snapshot_in_force(dt.date(2025, 5, 31)) is None
    assert morning != evening


def test_snapshot_in_force_ignores_the_other_kind():
    participating = ListSnapshotFactory(published_at=at(2025, 6, 1, 8))
    pending = ListSnapshotFactory(published_at=at(2025, 6, 1, 9), kind=ListSnapshot.Kind.PENDING)

    assert selectors.snapshot_in_force(dt.date(2025, 6, 1)) == participating
    assert selectors.snapshot_in_force(dt.date(2025, 6, 1), kind="pending") == pending


def test_snapshot_in_force_without_date_is_the_latest():
    ListSnapshotFactory(published_at=at(2025, 6, 1, 8))
    latest = ListSnapshotFactory(published_at=at(2025, 7, 1, 8))

    assert selectors.snapshot_in_force(None) == latest


def test_stats_as_of_counts_rows_of_the_snapshot_in_force():
    june = ListSnapshotFactory(published_at=at(2025, 6, 1, 8))
    july = ListSnapshotFactory(published_at=at(2025, 7, 1, 8))
    tx = AgencyFactory(state="TX")
    fl = AgencyFactory(state="FL")
    tx_jem = AgreementFactory(agency=tx, model=SupportModel.JEM)
    tx_tfm = AgreementFactory(agency=tx, model=SupportModel.TFM)
    fl_wso = AgreementFactory(agency=fl, model=SupportModel.WSO)
    listed(june, tx_jem)
    listed(july, tx_jem, tx_tfm, fl_wso)
    # A duplicate row repeats an agreement ICE listed once.
    SnapshotRowFactory(snapshot=july, agreement=fl_wso, row_number=99, is_duplicate=True)

    stats = selectors.stats_as_of(dt.date(2025, 7, 15))

    assert stats["snapshot"]["id"] == july.pk
    assert stats["snapshot"]["sha256"] == july.sha256
    assert stats["agreements"] == 3
    assert stats["agencies"] == 2
    assert stats["by_model"] == {"JEM": 1, "TFM": 1, "WSO": 1}
    assert stats["by_state"] == {"FL": 1, "TX": 2}
    assert stats["by_state_model"] == {"FL": {"WSO": 1}, "TX": {"JEM": 1, "TFM": 1}}

    june_stats = selectors.stats_as_of(dt.date(2025, 6, 30))
    assert june_stats["agreements"] == 1
    assert june_stats["by_model"] == {"JEM": 1, "TFM": 0, "WSO": 0}


def test_stats_as_of_before_first_snapshot_is_none():
    ListSnapshotFactory(published_at=at(2025, 6, 1, 8))

    assert selectors.stats_as_of(dt.date(2025, 5, 1)) is None


def test_stats_include_the_pending_list_in_force():
    ListSnapshotFactory(published_at=at(2025, 6, 1, 8))
    pending = ListSnapshotFactory(published_at=at(2025, 6, 1, 9), kind="pending")
    listed(pending, AgreementFactory(status="pending", signed_on=None))

    stats = selectors.stats_as_of(dt.date(2025, 6, 1))

    assert stats["pending"]["snapshot_id"] == pending.pk
    assert stats["pending"]["agreements"] == 1


def test_agreements_as_of_lists_what_the_snapshot_listed():
    june = ListSnapshotFactory(published_at=at(2025, 6, 1, 8))
    july = ListSnapshotFactory(published_at=at(2025, 7, 1, 8))
    kept, dropped, added = AgreementFactory.create_batch(3)
    listed(june, kept, dropped)
    listed(july, kept, added)

    def on(day: dt.date, status: str = "") -> set:
        return set(selectors.agreements_selected(selectors.Criteria(as_of=day, status=status)))

    assert on(dt.date(2025, 6, 15)) == {kept, dropped}
    assert on(dt.date(2025, 7, 15)) == {kept, added}
    assert on(dt.date(2025, 1, 1)) == set()
    # Ended that day: on an earlier list, not on the one in force.
    assert on(dt.date(2025, 7, 15), "ended") == {dropped}
    assert on(dt.date(2025, 6, 15), "ended") == set()


def test_pending_as_of_means_on_the_pending_list_that_day_and_not_yet_active():
    participating = ListSnapshotFactory(published_at=at(2025, 6, 1, 8))
    pending = ListSnapshotFactory(kind="pending", published_at=at(2025, 6, 2, 8))
    later = ListSnapshotFactory(kind="pending", published_at=at(2025, 8, 1, 8))
    waiting, signed = AgreementFactory.create_batch(2, status="pending")
    listed(participating, signed)
    listed(pending, waiting, signed)
    listed(later)

    criteria = selectors.Criteria(as_of=dt.date(2025, 6, 15), status="pending")
    assert set(selectors.agreements_selected(criteria)) == {waiting}
    assert list(selectors.agreements_selected(criteria.without("as_of"))) == [waiting, signed]
    after = selectors.Criteria(as_of=dt.date(2025, 8, 15), status="pending")
    assert list(selectors.agreements_selected(after)) == []


def test_snapshot_neighbours_follow_the_one_order_of_lists_and_skip_held_lists():
    """Two lists of the same second come in sha256 order; a held list is no neighbour."""
    same = at(2025, 6, 1, 8)
    a = ListSnapshotFactory(published_at=same, sha256="b" * 64)
    b = ListSnapshotFactory(published_at=same, sha256="a" * 64)
    ListSnapshotFactory(published_at=at(2025, 6, 2, 8), held=True)
    c = ListSnapshotFactory(published_at=at(2025, 6, 3, 8))

    assert selectors.snapshot_neighbours(b) == (None, a)
    assert selectors.snapshot_neighbours(a) == (b, c)
    assert selectors.snapshot_neighbours(c) == (a, None)


def test_agency_search_matches_aliases():
    agency = AgencyFactory(name="Harris County Sheriff's Office")
    AgencyAliasFactory(agency=agency, name="Harris Co. Sheriff Office")
    AgencyFactory(name="Dallas Police Department")

    found = selectors.agency_search(selectors.agency_list(), "Harris Co.")

    assert list(found) == [agency]


def test_near_duplicates_are_same_state_close_names():
    agency = AgencyFactory(name="Miami Springs Police Department", state="FL")
    close = AgencyFactory(name="City of Miami Springs Police Department", state="FL")
    AgencyFactory(name="City of Miami Springs Police Department", state="GA")
    AgencyFactory(name="Baker County Sheriff's Office", state="FL")

    found = selectors.agency_near_duplicates(agency)

    assert [other for other, _ in found] == [close]
    assert found[0][1] >= 90


def test_list_in_force_among_two_of_the_same_second_is_the_greater_sha256():
    """Whichever was imported first: the one order of lists breaks the tie by sha256."""
    same = at(2025, 6, 1, 8)
    greater = ListSnapshotFactory(published_at=same, sha256="f" * 64)
    ListSnapshotFactory(published_at=same, sha256="0" * 64)

    assert selectors.snapshot_in_force(dt.date(2025, 6, 1)) == greater
    assert selectors.snapshot_list().first() == greater
