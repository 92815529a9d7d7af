"""Linking a document to agencies suggests links and respects curators' decisions."""

from __future__ import annotations

import datetime as dt

import pytest

from agreements.signals import agency_merged, agreements_combined, links_moved
from research.models import DocumentAgency, DocumentAgreement
from research.services.linking import (
    document_agency_add,
    document_agency_review,
    document_link_agencies,
)

from .factories import (
    AgencyAliasFactory,
    AgencyFactory,
    AgreementFactory,
    CuratorFactory,
    DocumentAgencyFactory,
    DocumentFactory,
)

pytestmark = pytest.mark.django_db

POLK_NEWS = (
    "BARTOW, Fla. — The Polk County Sheriff's Office signed a 287(g) agreement. "
    "Sheriff Grady Judd said deputies would be trained this spring."
)


@pytest.fixture
def polk_counties():
    return {
        state: AgencyFactory(name="Polk County Sheriff's Office", state=state)
        for state in ("FL", "GA", "TX")
    }


def test_text_naming_an_agency_gets_a_suggested_link(polk_counties):
    document = DocumentFactory(text=POLK_NEWS)
    links = document_link_agencies(document=document)
    assert [(link.agency.state, link.status, link.method) for link in links] == [
        ("FL", "suggested", "automatic")
    ]
    assert "Polk County Sheriff's Office signed" in links[0].passage
    assert 0.8 <= links[0].confidence <= 1


def test_relinking_keeps_confirmed_and_rejected_links(polk_counties):
    document = DocumentFactory(
        text="The Polk County Sheriff's Office signed (FL). Deputies in Polk (GA) did not."
    )
    curator = CuratorFactory()
    rejected = DocumentAgencyFactory(
        document=document, agency=polk_counties["FL"], confidence=0.9, passage="old"
    )
    document_agency_review(link=rejected, status="rejected", user=curator)
    document_link_agencies(document=document)
    rejected.refresh_from_db()
    assert (rejected.status, rejected.passage, rejected.reviewed_by) == ("rejected", "old", curator)

    document_agency_review(link=rejected, status="confirmed", user=curator)
    document.text = "Nothing about any agency any more."
    document_link_agencies(document=document)
    rejected.refresh_from_db()
    assert rejected.status == "confirmed"


def test_relinking_refreshes_and_drops_open_suggestions(polk_counties):
    other = AgencyFactory(name="Alachua County Sheriff's Office", state="FL")
    document = DocumentFactory(text=POLK_NEWS)
    document_link_agencies(document=document)
    document.text = "The Alachua County Sheriff's Office in Gainesville, Florida, signed."
    document_link_agencies(document=document)
    assert list(document.agency_links.values_list("agency", "status")) == [(other.pk, "suggested")]


def test_manual_links_survive_relinking(polk_counties):
    document = DocumentFactory(text="No agency named here.")
    link = document_agency_add(document=document, agency=polk_counties["TX"], user=CuratorFactory())
    document_link_agencies(document=document)
    assert DocumentAgency.objects.get(pk=link.pk).status == "confirmed"


def test_aliases_and_new_agencies_are_seen_at_once():
    """The cached linker is rebuilt when agencies or aliases change."""
    document = DocumentFactory(text="Texas DPS troopers will take part, the Governor said.")
    assert document_link_agencies(document=document) == []
    agency = AgencyFactory(name="Texas Department of Public Safety", state="TX")
    assert document_link_agencies(document=document) == []
    AgencyAliasFactory(agency=agency, name="Texas DPS")
    assert [link.agency for link in document_link_agencies(document=document)] == [agency]


def test_review_refuses_an_unknown_status(polk_counties):
    link = DocumentAgencyFactory(agency=polk_counties["GA"])
    with pytest.raises(ValueError, match="not a link status"):
        document_agency_review(link=link, status="maybe")


def test_an_announced_agency_merge_moves_research_links_and_keeps_the_curators_decision():
    """Agreements only announces the merge; research's receiver moves its own links."""
    kept = AgencyFactory(name="Gulf County Sheriff's Office", state="FL")
    merged = AgencyFactory(name="Gulf County BOCC", state="FL")
    only_merged, both = DocumentFactory(), DocumentFactory()
    DocumentAgencyFactory(document=only_merged, agency=merged)
    DocumentAgencyFactory(document=both, agency=kept, confidence=0.6)
    DocumentAgencyFactory(document=both, agency=merged, status="confirmed", confidence=0.9)

    moved = links_moved(agency_merged.send(sender=None, source_ids=[merged.pk], target=kept))

    assert moved == 2
    links = {link.document_id: link for link in DocumentAgency.objects.filter(agency=kept)}
    assert set(links) == {only_merged.pk, both.pk}
    assert (links[both.pk].status, links[both.pk].confidence) == ("confirmed", 0.9)
    assert not DocumentAgency.objects.filter(agency=merged).exists()


def test_announced_combined_agreements_keep_one_moa_link():
    agency = AgencyFactory(name="Polk County Sheriff's Office", state="GA")
    keep = AgreementFactory(agency=agency, model="JEM", signed_on=dt.date(2020, 7, 2))
    drop = AgreementFactory(agency=agency, model="WSO", signed_on=dt.date(2020, 7, 2))
    moa, addendum = DocumentFactory(kind="moa"), DocumentFactory(kind="moa")
    DocumentAgreement.objects.create(document=moa, agreement=keep, role="moa")
    DocumentAgreement.objects.create(document=moa, agreement=drop, role="moa")
    DocumentAgreement.objects.create(document=addendum, agreement=drop, role="addendum")

    agreements_combined.send(sender=None, source_ids=[drop.pk], target=keep)

    assert set(DocumentAgreement.objects.values_list("document", "agreement", "role")) == {
        (moa.pk, keep.pk, "moa"),
        (addendum.pk, keep.pk, "addendum"),
    }
