"""`make run` loads the whole bundled history, so a new user sees 2021 to 2026 at once."""

import datetime as dt
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from agreements.management.commands.load_ice_samples import sample_lists, sample_published_at
from agreements.models import Agency, ListSnapshot
from research.models import Document, DocumentAgency

BUNDLED = Path(settings.BASE_DIR) / "data" / "ice-287g"
UTC = dt.UTC


@pytest.mark.django_db(transaction=True)
def test_the_whole_bundled_history_loads_once_with_every_moa_linked_to_its_agreement(client):
    call_command("load_sample_data", stdout=StringIO())

    snapshots = ListSnapshot.objects.chronological()
    assert snapshots.count() == 83  # the 80 archived lists and the 3 bundled before them
    assert snapshots.first().published_at == dt.datetime(2021, 1, 13, 0, 20, 27, tzinfo=UTC)
    assert snapshots.last().published_at.date() == dt.date(2026, 5, 1)
    moas = Document.objects.filter(kind=Document.Kind.MOA, status=Document.Status.PUBLISHED)
    assert moas.count() == 26
    for moa in moas:
        link = moa.agreement_links.get()
        assert link.evidence_row is not None, f"{moa} has no list row as evidence"
        assert moa.agency_links.get(method=DocumentAgency.Method.ICE_LIST).agency == (
            link.agreement.agency
        )
    pierce = moas.get(original_filename="PierceCoGA_WSO_MOA_02.26.25.pdf")
    assert pierce.title == (
        "Pierce County Sheriff's Office (GA), 287(g) Warrant Service Officer MOA, signed 2025-02-27"
    )
    agencies = Agency.objects.count()

    call_command("load_sample_data", stdout=StringIO())

    assert ListSnapshot.objects.count() == 83
    assert Document.objects.count() == 26
    assert Agency.objects.count() == agencies
    assert client.get(pierce.agency_links.get().agency.get_absolute_url()).status_code == 200


@pytest.mark.parametrize(
    ("name", "published_at"),
    [
        # A Wayback Machine capture: its UTC timestamp, whatever the workbook says.
        ("archive/participatingAgencies-20250301180751.xlsx", dt.datetime(2025, 3, 1, 18, 7, 51)),
        # ICE's own name: the start of its half day, US Eastern.
        ("archive/participatingAgencies07012025pm.xlsx", dt.datetime(2025, 7, 1, 16, 0)),
        # ICE's name with no readable date: the workbook's modified time.
        ("archive/participatingAgencies090022025am.xlsx", dt.datetime(2025, 9, 2, 12, 11, 44)),
        # ICE wrote 2025 for a list saved in January 2026: the workbook's time wins.
        ("archive/pendingAgencies01052025pm.xlsx", dt.datetime(2026, 1, 5, 20, 37, 46)),
    ],
)
def test_a_bundled_list_is_dated_by_its_name_unless_the_name_is_unreadable_or_wrong(
    name, published_at
):
    path = BUNDLED / name
    assert sample_published_at(path, path.read_bytes()) == published_at.replace(tzinfo=UTC)


def test_bundled_lists_come_in_publication_order():
    names = [sample.path.name for sample in sample_lists()]
    assert len(names) == 83
    assert names[:2] == [
        "ParticipatingEntities-20210113002027.xlsx",
        "ParticipatingEntities-20210201054650.xlsx",
    ]
    assert names.index("pendingAgencies01052025pm.xlsx") > names.index(
        "participatingAgencies12012025am.xlsx"
    )
