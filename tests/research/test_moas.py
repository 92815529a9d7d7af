"""Each agreement's MOA is fetched once; one file at any URL is one document."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from agreements.models import SupportModel
from agreements.services import snapshot_import
from research import extract
from research.models import Document, DocumentAgreement
from research.services.ingest import document_submit
from research.services.linking import document_agency_review, document_link_list_rows
from research.services.moas import agreement_moa_title, agreement_moas_submit
from research.tasks import agreement_moas_submit_task

from .factories import AgencyFactory, AgreementFactory, CuratorFactory

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


# --- MOAs found by their link in ICE's lists -------------------------------------

BUNDLED = Path(__file__).resolve().parents[2] / "data" / "ice-287g"
PIERCE = "PierceCoGA_WSO_MOA_02.26.25.pdf"
HAMILTON_SCAN = "HamiltonCountySheriffTN_JEM_031325.pdf"
MAY_2025 = "participatingAgencies05232025am.xlsx"
WAYBACK_2021 = "ParticipatingEntities-20210113002027.xlsx"


def _import_list(path: Path, published_at: dt.datetime):
    with path.open("rb") as handle:
        return snapshot_import(file=handle, filename=path.name, published_at=published_at).snapshot


@pytest.fixture
def may_2025_list():
    """ICE's participating list of 2025-05-23, as published."""
    return _import_list(BUNDLED / MAY_2025, dt.datetime(2025, 5, 23, 4, tzinfo=dt.UTC))


@pytest.fixture
def wayback_2021_list():
    """The list of January 2021 parsed from a Wayback Machine capture: MOA links inside it."""
    return _import_list(
        BUNDLED / "archive" / WAYBACK_2021, dt.datetime(2021, 1, 13, 0, 20, 27, tzinfo=dt.UTC)
    )


def _upload(path: Path, capture, name: str = "", kind: str = Document.Kind.MOA) -> Document:
    with capture(execute=True):
        document = document_submit(upload=path, filename=name or path.name, kind=kind)
    document.refresh_from_db()
    return document


def _fetch(path: Path, local_server, capture) -> Document:
    """Submit ``path`` by its address under ICE's MOA folder, served by ``local_server``."""
    folder = local_server.directory / "doclib" / "287gMOA"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, folder / path.name)
    with capture(execute=True):
        document = document_submit(url=local_server.url(f"doclib/287gMOA/{path.name}"), kind="moa")
    document.refresh_from_db()
    return document


def test_a_pdf_named_as_a_list_row_links_is_that_rows_agreement(
    may_2025_list, django_capture_on_commit_callbacks
):
    """Pierce County's MOA names no agency the text linker can find; its file name is enough."""
    document = _upload(BUNDLED / "moas" / PIERCE, django_capture_on_commit_callbacks)

    row = may_2025_list.rows.get(row_number=320)
    assert (row.agency_name, row.state, row.model) == (
        "Pierce County Sheriff's Office",
        "GA",
        "WSO",
    )
    assert list(document.agreement_links.values_list("agreement", "role", "evidence_row")) == [
        (row.agreement_id, "moa", row.pk)
    ]
    link = document.agency_links.get()
    assert (link.agency_id, link.status, link.method) == (row.agency_id, "confirmed", "ice_list")
    assert link.evidence_row == row
    assert link.passage == (
        "Linked as the MOA in row 320 of ICE's participating list of 2025-05-23: "
        "Pierce County Sheriff's Office (GA), Warrant Service Officer, signed 2025-02-27."
    )


def test_a_scan_without_text_is_linked_by_its_name(
    may_2025_list, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(extract, "tesseract_path", lambda: None)  # no OCR
    document = _upload(BUNDLED / "moas" / HAMILTON_SCAN, django_capture_on_commit_callbacks)

    assert document.needs_ocr and "Hamilton" not in document.text  # only a stamped date
    agency = document.agency_links.get(status="confirmed").agency
    assert (agency.name, agency.state) == ("Hamilton County Sheriff's Office", "TN")
    assert document.agreements.get().model == SupportModel.JEM


def test_a_wayback_link_matches_by_the_ice_address_inside_and_the_latest_row_is_the_evidence(
    wayback_2021_list, may_2025_list, django_capture_on_commit_callbacks
):
    document = _upload(DATA / BAKER, django_capture_on_commit_callbacks)

    old_row = wayback_2021_list.rows.get(agency_name="Baker County Sheriff's Office")
    assert old_row.moa_source_url.startswith("https://web.archive.org/web/20210113002027/https://")
    new_row = may_2025_list.rows.get(row_number=31)
    assert old_row.agreement_id == new_row.agreement_id
    assert list(document.agreement_links.values_list("agreement", "evidence_row")) == [
        (new_row.agreement_id, new_row.pk)
    ]
    link = document.agency_links.get(status="confirmed")
    assert "row 31 of ICE's participating list of 2025-05-23 (and 1 other row" in link.passage


def test_a_pdf_fetched_from_an_address_ending_in_a_listed_file_name_is_linked(
    may_2025_list, local_server, django_capture_on_commit_callbacks
):
    document = _fetch(BUNDLED / "moas" / PIERCE, local_server, django_capture_on_commit_callbacks)

    assert document.status == Document.Status.NEEDS_REVIEW
    assert document.agency_links.get().agency.name == "Pierce County Sheriff's Office"


def test_the_same_bytes_under_another_name_are_linked_once_fetched_from_the_listed_address(
    may_2025_list, local_server, django_capture_on_commit_callbacks
):
    """A scan uploaded as "scan0001.pdf" matches nothing until its bytes arrive from the row's link."""
    scan = _upload(DATA / POLK, django_capture_on_commit_callbacks, name="scan0001.pdf")
    assert not scan.agreement_links.exists()

    fetched = _fetch(DATA / POLK, local_server, django_capture_on_commit_callbacks)

    assert fetched.duplicate_of == scan
    polk_row = may_2025_list.rows.get(row_number=321)
    assert list(scan.agreement_links.values_list("agreement", "evidence_row")) == [
        (polk_row.agreement_id, polk_row.pk)
    ]
    assert scan.agency_links.get(status="confirmed").agency.state == "GA"


def test_a_name_that_only_ends_like_a_listed_file_is_not_linked(
    may_2025_list, django_capture_on_commit_callbacks
):
    document = _upload(
        BUNDLED / "moas" / PIERCE, django_capture_on_commit_callbacks, name="WSO_MOA_02.26.25.pdf"
    )

    assert not document.agreement_links.exists()
    assert not document.agency_links.filter(method="ice_list").exists()


def test_a_curators_rejection_stands_when_the_list_links_the_file(
    may_2025_list, django_capture_on_commit_callbacks
):
    document = _upload(BUNDLED / "moas" / PIERCE, django_capture_on_commit_callbacks)
    link = document.agency_links.get()
    document_agency_review(link=link, status="rejected", user=CuratorFactory())

    document_link_list_rows(document=document)

    link.refresh_from_db()
    assert (link.status, link.method) == ("rejected", "ice_list")


def test_a_local_moa_is_dated_by_its_signing_in_the_list_not_by_the_pdfs_own_dates(
    may_2025_list, django_capture_on_commit_callbacks, client
):
    """Arcadia's PDF was made 2025-02-18; ICE's list says the MOA was signed 2025-03-05."""
    with django_capture_on_commit_callbacks(execute=True):
        document = document_submit(upload=BUNDLED / "ArcadiaPDFL_TFM_MOA_030425.pdf")
    document.refresh_from_db()

    # Linked from ICE's list: an MOA and a work of the U.S. government, nothing left to guess.
    assert (document.kind, document.rights) == ("moa", "public_domain")
    assert document.published_on == dt.date(2025, 3, 5)
    assert (document.file_created_on, document.file_modified_on) == (
        dt.date(2025, 2, 18),
        dt.date(2025, 4, 2),
    )
    assert "kind" not in document.guessed and "rights" not in document.guessed
    document.status = Document.Status.PUBLISHED
    document.save()
    page = " ".join(client.get(document.get_absolute_url()).content.decode().split())
    assert '<dt>Signed</dt><dd><time datetime="2025-03-05">March 5, 2025</time>' in page
    assert "February 18, 2025" not in page and "Published" not in page.split("<dl")[1][:2000]
    assert "2025-03-05" in page.split('id="cite-plain"')[1]


def test_an_moa_fetched_for_its_agreement_gets_the_signing_date(
    may_2025_list, local_server, django_capture_on_commit_callbacks
):
    document = _fetch(BUNDLED / "moas" / PIERCE, local_server, django_capture_on_commit_callbacks)

    assert document.published_on == dt.date(2025, 2, 27)  # row 320's signing, not 2025-02-26
    assert document.file_created_on == dt.date(2025, 2, 26)
