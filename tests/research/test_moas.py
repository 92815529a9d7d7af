"""Each agreement's MOA is fetched once; one file at any URL is one document."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from agreements.models import SupportModel
from research.models import Document, DocumentAgreement
from research.services.moas import agreement_moa_title, agreement_moas_submit
from research.tasks import agreement_moas_submit_task

from .factories import AgencyFactory, AgreementFactory

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent / "data"
POLK = "287gJEM_PolkCoGa2020-07-02.pdf"
BAKER = "287gWSO_BakerCoFl2019-10-15.pdf"


@pytest.fixture(autouse=True)
def no_pace(settings):
    settings.FETCH_HOST_INTERVAL_SECONDS = 0


@pytest.fixture
def moa_site(local_server):
    """ICE's site, with the Polk County MOA at two addresses and the Baker one at one."""
    root = local_server.directory
    for folder in ("sites/default/files/documents/287gMOA", "doclib/287gMOA"):
        (root / folder).mkdir(parents=True)
    shutil.copy(DATA / POLK, root / "sites/default/files/documents/287gMOA" / POLK)
    shutil.copy(DATA / POLK, root / "doclib/287gMOA" / "polk-copy.pdf")
    shutil.copy(DATA / BAKER, root / "doclib/287gMOA" / BAKER)
    return local_server


def test_same_file_at_two_urls_is_one_document_linked_to_both(
    moa_site, django_capture_on_commit_callbacks
):
    polk = AgencyFactory(name="Polk County Sheriff's Office", state="GA")
    AgencyFactory(name="Polk County Sheriff's Office", state="FL")
    jem = AgreementFactory(
        agency=polk,
        model=SupportModel.JEM,
        signed_on=dt.date(2020, 7, 2),
        moa_url=moa_site.url(f"sites/default/files/documents/287gMOA/{POLK}"),
    )
    wso = AgreementFactory(
        agency=polk,
        model=SupportModel.WSO,
        signed_on=dt.date(2020, 7, 2),
        moa_url=moa_site.url("doclib/287gMOA/polk-copy.pdf"),
        addendum_url=moa_site.url(f"sites/default/files/documents/287gMOA/{POLK}"),
    )
    with django_capture_on_commit_callbacks(execute=True):
        result = agreement_moas_submit()
    assert len(result.submitted) == 3

    moas = Document.objects.filter(kind=Document.Kind.MOA, duplicate_of__isnull=True)
    assert moas.count() == 1
    moa = moas.get()
    assert moa.status == Document.Status.NEEDS_REVIEW
    assert moa.rights == Document.Rights.PUBLIC_DOMAIN
    assert moa.title == (
        "Polk County Sheriff's Office (GA), 287(g) Jail Enforcement Model MOA, signed 2020-07-02"
    )
    assert moa.urls.count() == 2
    assert set(moa.agreement_links.values_list("agreement", "role")) == {
        (jem.pk, "moa"),
        (wso.pk, "moa"),
        (wso.pk, "addendum"),
    }
    assert "Polk County Sheriff" in moa.text
    # The linker suggested the Georgia agency, not Florida's namesake.
    assert list(moa.agency_links.values_list("agency__state", "status")) == [("GA", "suggested")]


def test_moa_links_are_submitted_once(moa_site, django_capture_on_commit_callbacks):
    baker = AgencyFactory(name="Baker County Sheriff's Office", state="FL")
    agreement = AgreementFactory(
        agency=baker,
        model=SupportModel.WSO,
        signed_on=dt.date(2019, 10, 15),
        moa_url=moa_site.url(f"doclib/287gMOA/{BAKER}"),
    )
    AgreementFactory(agency=baker, model=SupportModel.JEM, moa_url="")  # "link pending"
    with django_capture_on_commit_callbacks(execute=True):
        agreement_moas_submit_task()
    document = DocumentAgreement.objects.get(agreement=agreement, role="moa").document
    assert document.sha256
    assert document.title.startswith("Baker County Sheriff's Office (FL), 287(g) Warrant Service")
    with django_capture_on_commit_callbacks(execute=True):
        again = agreement_moas_submit()
    assert again.submitted == []
    assert Document.objects.count() == 1


def test_an_moa_that_cannot_be_fetched_fails_with_a_sentence(
    moa_site, django_capture_on_commit_callbacks
):
    agreement = AgreementFactory(moa_url=moa_site.url("doclib/287gMOA/gone.pdf"))
    with django_capture_on_commit_callbacks(execute=True):
        agreement_moas_submit()
    document = agreement.document_links.get().document
    assert document.status == Document.Status.FAILED
    assert "404" in document.status_message or "not found" in document.status_message.lower()


def test_addendum_title_says_addendum():
    agreement = AgreementFactory.build(
        agency=AgencyFactory.build(name="Arcadia Police Department", state="FL"),
        model=SupportModel.TFM,
        signed_on=dt.date(2025, 3, 4),
    )
    assert agreement_moa_title(agreement, "addendum") == (
        "Arcadia Police Department (FL), 287(g) Task Force Model MOA addendum, signed 2025-03-04"
    )


def test_a_replaced_moa_link_is_fetched_again(moa_site, django_capture_on_commit_callbacks):
    baker = AgencyFactory(name="Baker County Sheriff's Office", state="FL")
    agreement = AgreementFactory(agency=baker, moa_url=moa_site.url(f"doclib/287gMOA/{BAKER}"))
    with django_capture_on_commit_callbacks(execute=True):
        agreement_moas_submit()
    # The same address spelled differently is the same link: nothing new.
    agreement.moa_url = moa_site.url(f"doclib/287gMOA/{BAKER}#page=2")
    agreement.save()
    assert agreement_moas_submit().submitted == []
    # ICE points the agreement at another file: that one is fetched and linked too.
    agreement.moa_url = moa_site.url(f"sites/default/files/documents/287gMOA/{POLK}")
    agreement.save()
    with django_capture_on_commit_callbacks(execute=True):
        assert len(agreement_moas_submit().submitted) == 1
    assert agreement.document_links.filter(role="moa").count() == 2
