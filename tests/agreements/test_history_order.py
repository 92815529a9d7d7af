"""One history in any import order: real archived lists, dated by the importer, permuted by Hypothesis."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agreements.models import Agency, Agreement, AgreementEvent, ListSnapshot
from agreements.services import snapshot_import, snapshots_import

pytestmark = pytest.mark.django_db

ARCHIVE = Path(__file__).parent / "data" / "archive"
FILES = sorted(ARCHIVE.glob("*.xlsx"))


def import_files(paths: list[Path]) -> None:
    """One import per file, in the order given, each dated by the importer."""
    for path in paths:
        with path.open("rb") as handle:
            snapshot_import(file=handle, filename=path.name)


def wipe() -> None:
    ListSnapshot.objects.all().delete()
    Agreement.objects.update(predecessor=None)
    Agreement.objects.all().delete()
    Agency.objects.all().delete()


def history() -> dict:
    """Agencies by state and name, agreements, and each list's events, without database ids."""
    names = dict(Agency.objects.values_list("id", "name"))
    shas = dict(ListSnapshot.objects.values_list("id", "sha256"))
    agreement_of = {
        pk: (names[agency], model, signed)
        for pk, agency, model, signed in Agreement.objects.values_list(
            "id", "agency_id", "model", "signed_on"
        )
    }
    events = AgreementEvent.objects.values_list(
        "snapshot_id", "agreement_id", "kind", "field", "old_value", "new_value",
        "previous_snapshot_id",
    )  # fmt: skip
    return {
        "agencies": sorted(Agency.objects.values_list("state", "name")),
        "agreements": sorted(
            (
                (agreement_of[pk], status, first, last, agreement_of.get(predecessor))
                for pk, status, first, last, predecessor in Agreement.objects.values_list(
                    "id", "status", "first_listed_at", "last_listed_at", "predecessor_id"
                )
            ),
            key=repr,  # unsigned (pending) agreements have no date to compare
        ),
        "events": sorted(
            [
                (shas[snap], agreement_of[agreement], kind, field, old, new, shas.get(previous))
                for snap, agreement, kind, field, old, new, previous in events
            ],
            key=repr,
        ),
    }


_expected: dict = {}


def expected() -> dict:
    """The history of the lists imported in one batch, which imports them oldest first (computed once)."""
    if not _expected:
        snapshots_import(files=FILES)
        _expected.update(history())
        wipe()
    return _expected


def test_publication_order_history_has_the_archive_renames():
    want = expected()
    renamed = {(e[4], e[5]) for e in want["events"] if e[2] == "renamed"}
    assert ("Gulf County BOCC", "Gulf County Board of County Commissioners") in renamed
    assert ("Albermarle District Jail", "Albemarle District Jail") in renamed
    assert ("Department of Corrections", "Alaska Department of Corrections") in renamed
    assert ("Office of the Attorney General", "Texas Office of the Attorney General") in renamed
    ended = {e[1][0] for e in want["events"] if e[2] == "delisted"}
    assert not ended & {"Gulf County BOCC", "Albemarle District Jail"}


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(order=st.permutations(FILES))
def test_any_import_order_gives_the_publication_order_history(order):
    want = expected()
    wipe()
    import_files(order)
    assert history() == want, [p.name for p in order]
