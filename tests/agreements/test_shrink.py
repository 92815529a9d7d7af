"""A participating list suddenly under half as long is held, not applied, until confirmed."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command

from agreements import selectors
from agreements.models import Agreement, AgreementEvent, ListSnapshot
from agreements.services import snapshot_import
from agreements.services.snapshots import snapshot_release
from tests.agreements.ice_builder import row, workbook
from tests.agreements.test_events import history, import_all, wipe

pytestmark = pytest.mark.django_db

D = dt.datetime
COUNTIES = ["Polk", "Bexar", "Travis", "Harris", "Dallas", "Tarrant"]


def sheet(count: int, month: int) -> tuple[str, bytes]:
    rows = [
        row(
            agency=f"{county} County Sheriff's Office",
            county=f"{county} County",
            signed=D(2025, 1, 6),
        )
        for county in COUNTIES[:count]
    ]
    return f"participatingAgencies{month:02d}012025am.xlsx", workbook(
        rows, modified=D(2025, month, 1)
    )


def load(name_data: tuple[str, bytes], **kwargs):
    name, data = name_data
    return snapshot_import(file=io.BytesIO(data), filename=name, **kwargs)


def test_a_list_under_half_as_long_is_held_and_ends_nothing():
    load(sheet(6, 2))
    result = load(sheet(2, 3))

    snapshot = result.snapshot
    assert result.held and snapshot.held
    assert "HELD" in result.summary()
    warning = next(w for w in snapshot.warnings if w["code"] == "list_shrank")
    assert "2 rows, fewer than half the 6" in warning["message"]
    assert snapshot.rows.count() == 2  # kept as evidence
    assert set(Agreement.objects.values_list("status", flat=True)) == {"active"}
    assert not AgreementEvent.objects.filter(kind="delisted").exists()
    # The list in force is still the full one.
    assert selectors.snapshot_in_force().original_filename == "participatingAgencies02012025am.xlsx"


def test_a_list_just_at_half_is_applied():
    load(sheet(6, 2))
    result = load(sheet(3, 3))
    assert not result.held
    assert AgreementEvent.objects.filter(kind="delisted").count() == 3


def test_a_held_list_leaves_later_lists_unaffected():
    files = [sheet(6, 2), sheet(1, 3), sheet(6, 4)]
    import_all(files)
    assert ListSnapshot.objects.get(original_filename=files[1][0]).held
    kinds = set(AgreementEvent.objects.values_list("kind", flat=True))
    assert kinds == {"signed"}  # no delisting in March, no relisting in April


def test_applying_a_held_list_gives_the_history_of_an_accepted_import():
    files = [sheet(6, 2), sheet(2, 3), sheet(6, 4)]
    load(files[0])
    load(files[1], accept_shrink=True)
    load(files[2])
    accepted = history()
    assert ("delisted" in {e[1] for e in accepted[0]}) and (
        "relisted" in {e[1] for e in accepted[0]}
    )

    wipe()
    import_all(files)
    held = ListSnapshot.objects.get(original_filename=files[1][0])
    snapshot_release(held, user="a tester")
    held.refresh_from_db()
    assert not held.held
    assert held.warnings[-1]["code"] == "shrink_accepted"
    assert history() == accepted


def test_a_held_list_adds_no_agency_until_it_is_applied():
    """Its new spelling would otherwise be an agency with no agreement, kept apart from its
    other spellings (held rows are not evidence for identity)."""
    from agreements.models import Agency

    load(sheet(6, 2))
    rows = [
        row(agency="Comal County Sheriff's Office", county="Comal County", signed=D(2025, 1, 6))
    ]
    held = load(("participatingAgencies03012025am.xlsx", workbook(rows, modified=D(2025, 3, 1))))
    held = held.snapshot
    assert held.held
    assert not Agency.objects.filter(name="Comal County Sheriff's Office").exists()

    snapshot_release(held, user="a tester")

    comal = Agency.objects.get(name="Comal County Sheriff's Office")
    assert list(comal.events.values_list("kind", flat=True)) == ["signed"]


def test_command_accept_shrink_imports_or_applies_a_held_file(tmp_path, capsys):
    full, short = sheet(6, 2), sheet(2, 3)
    for name, data in (full, short):
        (tmp_path / name).write_bytes(data)
    call_command("import_ice_sheet", str(tmp_path / full[0]), str(tmp_path / short[0]))
    assert "HELD" in capsys.readouterr().out
    assert ListSnapshot.objects.get(original_filename=short[0]).held

    call_command("import_ice_sheet", str(tmp_path / short[0]), "--accept-shrink")
    assert not ListSnapshot.objects.get(original_filename=short[0]).held
    assert AgreementEvent.objects.filter(kind="delisted").count() == 4


def test_admin_action_applies_held_lists(admin_client):
    load(sheet(6, 2))
    held = load(sheet(2, 3)).snapshot
    response = admin_client.post(
        "/admin/agreements/listsnapshot/",
        {"action": "apply_held", "_selected_action": [held.pk]},
        follow=True,
    )
    assert response.status_code == 200
    held.refresh_from_db()
    assert not held.held
    assert Agreement.objects.filter(status="ended").count() == 4


def test_a_held_list_says_so_and_why_in_the_api_and_on_its_page(client):
    load(sheet(6, 2))
    held = load(sheet(2, 3)).snapshot

    listed = {s["id"]: s for s in client.get("/api/v1/snapshots/").json()["results"]}
    detail = client.get(f"/api/v1/snapshots/{held.pk}/").json()
    page = client.get(held.get_absolute_url()).content.decode()

    assert listed[held.pk]["held"] is True
    assert any("fewer than half the 6" in r for r in listed[held.pk]["held_reasons"])
    assert detail["held"] is True and detail["held_reasons"] == listed[held.pk]["held_reasons"]
    assert "Held for a curator" in page and "fewer than half the 6" in page
    applied = next(s for s in listed.values() if s["id"] != held.pk)
    assert applied["held"] is False and applied["held_reasons"] == []


def test_an_applied_list_no_longer_says_it_is_held(client):
    load(sheet(6, 2))
    held = load(sheet(2, 3)).snapshot
    snapshot_release(held, user="a tester")

    detail = client.get(f"/api/v1/snapshots/{held.pk}/").json()

    assert detail["held"] is False and detail["held_reasons"] == []
    assert "Held for a curator" not in client.get(held.get_absolute_url()).content.decode()
