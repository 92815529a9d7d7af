"""agency_merge: everything of the merged agencies ends up on the survivor."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest

from agreements.models import (
    Agency,
    AgencyAlias,
    Agreement,
    AgreementEvent,
    IdentityRule,
    ListSnapshot,
    SnapshotRow,
)
from agreements.services.agencies import AgencyMergeError, agency_merge
from research.models import DocumentAgency, DocumentAgreement
from tests.agreements.factories import (
    AgencyAliasFactory,
    AgencyFactory,
    AgreementEventFactory,
    AgreementFactory,
    ListSnapshotFactory,
    listed,
)
from tests.research.factories import DocumentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair():
    survivor = AgencyFactory(name="Lafayette County Sheriff's Office", state="AR", county_fips="")
    other = AgencyFactory(
        name="Layafette County Sheriffs Office", state="AR", county_fips="05073", ori="AR0370000"
    )
    return survivor, other


def test_merge_moves_agreements_rows_events_aliases(pair):
    survivor, other = pair
    snapshot = ListSnapshotFactory()
    agreement = AgreementFactory(agency=other, model="WSO")
    listed(snapshot, agreement)
    AgreementEventFactory(agreement=agreement, snapshot=snapshot)
    AgencyAliasFactory(agency=other, name="Lafayette Co SO")

    result = agency_merge(survivor=survivor, others=[other])

    assert not Agency.objects.filter(pk=other.pk).exists()
    agreement.refresh_from_db()
    assert agreement.agency == survivor
    assert SnapshotRow.objects.get(agreement=agreement).agency == survivor
    assert AgreementEvent.objects.get(agreement=agreement).agency == survivor
    aliases = dict(survivor.aliases.values_list("name", "source"))
    assert aliases == {"Lafayette Co SO": "ice", "Layafette County Sheriffs Office": "merge"}
    assert result.agreements_moved == 1
    assert "Layafette County Sheriffs Office" in result.summary()
    assert "1 agreement moved" in result.summary()
    assert "1 snapshot row, 1 event and 0 document links moved" in result.summary()


def test_merge_fills_blank_fields_and_clears_review_flag(pair):
    survivor, other = pair
    survivor.needs_review = True
    survivor.save()

    agency_merge(survivor=survivor, others=[other])

    survivor.refresh_from_db()
    assert survivor.county_fips == "05073"
    assert survivor.ori == "AR0370000"
    assert survivor.needs_review is False
    assert "merged Layafette County Sheriffs Office" in survivor.notes


def test_merge_combines_the_same_agreement_held_twice(pair):
    survivor, other = pair
    june, july = ListSnapshotFactory(), ListSnapshotFactory()
    signed = dt.date(2025, 7, 11)
    kept = AgreementFactory(agency=survivor, model="WSO", signed_on=signed, moa_url="")
    twin = AgreementFactory(
        agency=other, model="WSO", signed_on=signed, moa_url="https://www.ice.gov/moa.pdf"
    )
    listed(june, kept)
    listed(july, twin)
    AgreementEventFactory(agreement=kept, snapshot=june)
    AgreementEventFactory(agreement=twin, snapshot=july)
    successor = AgreementFactory(agency=other, model="TFM", predecessor=twin)

    result = agency_merge(survivor=survivor, others=[other])

    assert not Agreement.objects.filter(pk=twin.pk).exists()
    kept.refresh_from_db()
    assert kept.moa_url == "https://www.ice.gov/moa.pdf"
    assert kept.snapshot_rows.count() == 2
    # One agreement listed twice in a row, under the other spelling the second time:
    # signed once, then renamed, not signed again.
    assert sorted((e.kind, e.snapshot_id) for e in kept.events.all()) == [
        ("renamed", july.pk),
        ("signed", june.pk),
    ]
    successor.refresh_from_db()
    assert successor.predecessor == kept
    assert successor.agency == survivor
    assert (result.agreements_combined, result.agreements_moved) == (1, 1)


def test_merge_moves_document_links_and_resolves_collisions(pair):
    survivor, other = pair
    only_other = DocumentFactory()
    both = DocumentFactory()
    DocumentAgency.objects.create(document=only_other, agency=other, status="suggested")
    DocumentAgency.objects.create(
        document=both, agency=survivor, status="suggested", confidence=0.6
    )
    DocumentAgency.objects.create(document=both, agency=other, status="confirmed", confidence=0.9)
    moa = DocumentFactory(kind="moa")
    kept = AgreementFactory(agency=survivor, signed_on=dt.date(2025, 1, 2))
    twin = AgreementFactory(agency=other, signed_on=dt.date(2025, 1, 2))
    DocumentAgreement.objects.create(document=moa, agreement=kept, role="moa")
    DocumentAgreement.objects.create(document=moa, agreement=twin, role="moa")

    result = agency_merge(survivor=survivor, others=[other])

    links = {link.document_id: link for link in DocumentAgency.objects.filter(agency=survivor)}
    assert set(links) == {only_other.pk, both.pk}
    assert links[both.pk].status == "confirmed"
    assert links[both.pk].confidence == 0.9
    assert DocumentAgreement.objects.filter(document=moa).count() == 1
    assert DocumentAgreement.objects.get(document=moa).agreement == kept
    assert result.document_links_moved == 2


def test_merge_several_at_once_and_an_existing_alias_is_reused():
    survivor = AgencyFactory(name="Polk County Sheriff's Office", state="GA")
    a = AgencyFactory(name="Polk Co Sheriff", state="GA")
    b = AgencyFactory(name="Polk County Sheriffs Ofice", state="GA")
    AgencyAliasFactory(agency=a, name="Polk Co Sheriff", name_key=a.name_key)

    agency_merge(survivor=survivor, others=[a, b])

    assert Agency.objects.filter(state="GA").count() == 1
    assert AgencyAlias.objects.get(name_key=a.name_key).agency == survivor
    assert AgencyAlias.objects.get(name_key=b.name_key).source == "merge"


def test_merge_records_history_with_user(pair, django_user_model):
    survivor, other = pair
    curator = django_user_model.objects.create_user("curator")
    agreement = AgreementFactory(agency=other)

    agency_merge(survivor=survivor, others=[other], user=curator)

    assert survivor.history.latest().history_user == curator
    assert agreement.history.latest().agency_id == survivor.pk


def test_merge_refuses_nothing_to_merge(pair):
    survivor, _ = pair

    with pytest.raises(AgencyMergeError, match="at least one agency"):
        agency_merge(survivor=survivor, others=[survivor])


def test_failed_merge_changes_nothing(pair, monkeypatch):
    survivor, other = pair
    agreement = AgreementFactory(agency=other)

    def explode(*args, **kwargs):
        from django.db import IntegrityError

        raise IntegrityError("simulated clash")

    monkeypatch.setattr("agreements.services.agencies._fill_blanks", explode)

    with pytest.raises(AgencyMergeError, match="nothing was changed"):
        agency_merge(survivor=survivor, others=[other])

    agreement.refresh_from_db()
    assert agreement.agency == other
    assert Agency.objects.filter(pk=other.pk).exists()
    assert not AgencyAlias.objects.filter(source="merge").exists()


def test_real_rename_in_the_bundled_lists_is_one_agency_without_a_merge():
    """ICE wrote "City of Miami Springs Police Department" in May, "Miami Springs
    Police Department" in July: a rename, not an ending and a new agency."""
    from agreements.services.snapshots import snapshot_import

    data = Path(__file__).parent / "data"
    for name in ("participatingAgencies07112025pm.xlsx", "participatingAgencies05232025am.xlsx"):
        with (data / name).open("rb") as fh:
            snapshot_import(file=fh, filename=name)
    agency = Agency.objects.get(state="FL", name="Miami Springs Police Department")
    assert list(agency.aliases.values_list("name", flat=True)) == [
        "City of Miami Springs Police Department"
    ]
    agreement = Agreement.objects.get(agency=agency)
    assert (agreement.model, agreement.signed_on) == ("TFM", dt.date(2025, 4, 2))
    assert agreement.status == "active"
    assert agreement.snapshot_rows.count() == 2
    kinds = sorted(AgreementEvent.objects.filter(agency=agency).values_list("kind", flat=True))
    assert kinds == ["renamed", "signed"]
    # What the next list is compared with: July's row.
    assert agreement.last_seen.snapshot.original_filename == "participatingAgencies07112025pm.xlsx"


def test_curators_merge_is_a_rule_that_a_reimport_applies():
    from agreements.services.snapshots import snapshot_import
    from tests.agreements.ice_builder import row, workbook

    florida = {"state": "FLORIDA", "signed": dt.datetime(2025, 2, 26)}
    baker = row(agency="Baker County Sheriff's Office", county="Baker County", **florida)
    files = [
        (f"participatingAgencies0{m}012025am.xlsx", workbook(
            [row(agency=name, county="Brevard County", **florida), baker],
            modified=dt.datetime(2025, m, 1)))
        for m, name in ((3, "Melbourne Police Department"), (4, "Melbourne Beach Police Department"))
    ]  # fmt: skip
    for name, data in files:
        snapshot_import(file=io.BytesIO(data), filename=name)
    assert Agency.objects.count() == 3  # near names: never merged alone
    old, new = (Agency.objects.get(name=n) for n in ("Melbourne Police Department",
                                                     "Melbourne Beach Police Department"))  # fmt: skip

    agency_merge(survivor=new, others=[old])

    rule = IdentityRule.objects.get()
    assert (rule.state, rule.decision) == ("FL", "same")
    assert {rule.name_a, rule.name_b} == {old.name, new.name}
    ListSnapshot.objects.all().delete()
    Agreement.objects.all().delete()
    Agency.objects.all().delete()
    for name, data in files:
        snapshot_import(file=io.BytesIO(data), filename=name)
    (agency,) = Agency.objects.filter(county_name="Brevard County")
    assert agency.name == "Melbourne Beach Police Department"
    kinds = sorted(agency.events.values_list("kind", flat=True))
    assert kinds == ["renamed", "signed"]


def test_merge_refuses_agencies_of_different_states():
    texas = AgencyFactory(state="TX", name="Polk County Sheriff's Office")
    florida = AgencyFactory(state="FL", name="Polk County Sheriff's Office")

    with pytest.raises(AgencyMergeError, match="is in FL but .* is in TX"):
        agency_merge(survivor=texas, others=[florida])
    assert Agency.objects.count() == 2


def test_merge_of_an_agreement_and_its_own_predecessor(pair):
    """A renewal recorded under one spelling, the original under the other."""
    survivor, other = pair
    signed = dt.date(2024, 3, 1)
    first = AgreementFactory(agency=other, model="JEM", signed_on=dt.date(2020, 3, 1))
    kept = AgreementFactory(agency=survivor, model="JEM", signed_on=signed, predecessor=None)
    twin = AgreementFactory(agency=other, model="JEM", signed_on=signed, predecessor=first)
    AgreementFactory(agency=survivor, model="TFM", predecessor=kept)
    kept.predecessor = twin  # the survivor's record of it points at the other's copy
    kept.save()

    agency_merge(survivor=survivor, others=[other])

    kept.refresh_from_db()
    assert not Agreement.objects.filter(pk=twin.pk).exists()
    assert kept.predecessor_id == first.pk


def test_old_address_of_a_merged_agency_redirects_to_the_survivor(client, pair):
    survivor, other = pair
    old_slug = other.slug
    agency_merge(survivor=survivor, others=[other])

    page = client.get(f"/agencies/{old_slug}/")
    assert page.status_code == 301
    assert page["Location"] == f"/agencies/{survivor.slug}/"
    assert client.get(page["Location"]).status_code == 200

    api = client.get(f"/api/v1/agencies/{old_slug}/")
    assert api.status_code == 301
    assert api["Location"].endswith(f"/api/v1/agencies/{survivor.slug}/")
    assert client.get(api["Location"]).json()["name"] == survivor.name


def test_old_address_follows_a_chain_of_merges(client):
    first = AgencyFactory(name="Polk County Sheriff Office", state="GA")
    second = AgencyFactory(name="Polk Co Sheriff's Office", state="GA")
    last = AgencyFactory(name="Polk County Sheriff's Office", state="GA")
    agency_merge(survivor=second, others=[first])
    agency_merge(survivor=last, others=[second])

    page = client.get(f"/agencies/{first.slug}/")
    assert (page.status_code, page["Location"]) == (301, f"/agencies/{last.slug}/")


def test_deleted_agency_without_a_merge_is_gone(client):
    agency = AgencyFactory(name="Gone Police Department", state="TX")
    slug = agency.slug
    agency.delete()

    assert client.get(f"/agencies/{slug}/").status_code == 404
    assert client.get(f"/api/v1/agencies/{slug}/").status_code == 404
    assert client.get("/agencies/never-existed/").status_code == 404


def test_old_address_of_a_renamed_agency_redirects(client):
    agency = AgencyFactory(name="Sheriff of Polk", state="FL")
    old_slug = agency.slug
    agency.slug = "polk-county-sheriffs-office-fl"
    agency.save()

    page = client.get(f"/agencies/{old_slug}/")
    assert (page.status_code, page["Location"]) == (
        301,
        "/agencies/polk-county-sheriffs-office-fl/",
    )
