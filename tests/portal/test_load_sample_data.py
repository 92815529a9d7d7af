"""`make run` loads the bundled real files, so a new user sees real agencies at once."""

from io import StringIO

import pytest
from django.core.management import call_command

from agreements.models import Agency, Agreement, ListSnapshot
from research.models import Document


@pytest.mark.django_db(transaction=True)
def test_bundled_samples_load_once_and_publish_their_moas(client):
    out = StringIO()
    call_command("load_sample_data", stdout=out)

    assert ListSnapshot.objects.count() == 3
    assert Agency.objects.filter(state="FL").exists()
    assert Agreement.objects.filter(status=Agreement.Status.ACTIVE).count() > 700
    moas = Document.objects.filter(kind=Document.Kind.MOA, status=Document.Status.PUBLISHED)
    assert moas.count() == 3
    for moa in moas:
        assert moa.agreements.exists(), f"{moa} is linked to no agreement"
        assert "287(g)" in moa.text or "287g" in moa.text.lower()
    baker = Agreement.objects.get(moa_url__endswith="/287gWSO_BakerCoFl2019-10-15.pdf")
    assert baker.documents.get().kind == Document.Kind.MOA

    call_command("load_sample_data", stdout=StringIO())
    assert ListSnapshot.objects.count() == 3
    assert Document.objects.count() == 3
    assert client.get(baker.agency.get_absolute_url()).status_code == 200
