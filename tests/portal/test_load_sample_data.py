"""`make run` loads the whole bundled history, so a new user sees 2021 to 2026 at once."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command

from agreements.models import Agency, ListSnapshot
from research.models import Document, DocumentAgency

UTC = dt.UTC


@pytest.mark.django_db(transaction=True)
def test_the_whole_bundled_history_loads_once_with_every_moa_linked_to_its_agreement(client):
    call_command("load_sample_data", stdout=StringIO())

    snapshots = ListSnapshot.objects.chronological()
    assert snapshots.count() == 83  # the 80 archived lists and the 3 bundled before them
    assert snapshots.first().published_at == dt.datetime(2021, 1, 13, 0, 20, 27, tzinfo=UTC)
    assert snapshots.last().original_filename == "participatingAgencies05012026am.xlsx"
    assert snapshots.last().published_at.year == 2026
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
