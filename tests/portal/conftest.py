"""A small portal with real-looking data, for the tests that throw any input at every route."""

from __future__ import annotations

import pytest

from agreements.models import AgreementEvent, SupportModel
from tests.agreements.factories import (
    AgencyAliasFactory,
    AgencyFactory,
    AgreementEventFactory,
    AgreementFactory,
    ListSnapshotFactory,
    listed,
)
from tests.research.factories import (
    AnnotationFactory,
    DocumentAgencyFactory,
    DocumentAgreementFactory,
    DocumentFactory,
    TagFactory,
)


def _portal_data() -> dict:
    """Three agencies in two states, two participating lists and a pending one, events,
    and published documents about them (news, an MOA) with tags, agency links and notes."""
    harris = AgencyFactory(name="Harris County Sheriff's Office", state="TX", county_fips="48201")
    baker = AgencyFactory(name="Baker County Sheriff's Office", state="FL", county_fips="12003")
    polk = AgencyFactory(name="Polk County Sheriff's Office", state="FL", county_fips="12105")
    AgencyAliasFactory(agency=harris, name="Harris Co SO")
    harris_jem = AgreementFactory(agency=harris, model=SupportModel.JEM)
    baker_wso = AgreementFactory(agency=baker, model=SupportModel.WSO)
    polk_tfm = AgreementFactory(agency=polk, model=SupportModel.TFM)
    june = ListSnapshotFactory()
    july = ListSnapshotFactory()
    pending = ListSnapshotFactory(kind="pending")
    listed(june, harris_jem, baker_wso)
    listed(july, harris_jem, baker_wso, polk_tfm)
    listed(pending, polk_tfm)
    for agreement in (harris_jem, baker_wso):
        AgreementEventFactory(agreement=agreement, snapshot=june)
    AgreementEventFactory(agreement=polk_tfm, snapshot=july)
    AgreementEventFactory(agreement=polk_tfm, snapshot=pending, kind=AgreementEvent.Kind.SIGNED)
    tag = TagFactory(name="Jails")
    news = DocumentFactory(title="Harris County sheriff renews jail agreement")
    news.tags.add(tag)
    DocumentAgencyFactory(document=news, agency=harris, status="confirmed")
    moa = DocumentAgreementFactory(agreement=baker_wso).document
    DocumentFactory(title="A report in review", status="needs_review")
    # A public note a curator approved, which search finds for everyone, and a private one
    # nobody else reads.
    approved = AnnotationFactory(
        document=news, visibility="public", review="approved", body="The sheriff's jail model."
    )
    approved.tags.add(tag)
    AnnotationFactory(document=news, body="Only mine.")
    return {
        "agencies": [harris, baker, polk],
        "agreements": [harris_jem, baker_wso, polk_tfm],
        "snapshots": [june, july, pending],
        "documents": [news, moa],
        "annotations": [approved],
    }


@pytest.fixture
def portal_data(db) -> dict:
    return _portal_data()
