"""Public document pages: rights respected, filters, downloads, citations."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from html import unescape
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils.html import strip_tags
from pypdf import PdfReader

from research.models import Document, DocumentAgency
from tests.research.factories import (
    AgencyFactory,
    AgreementFactory,
    CuratorFactory,
    DocumentAgencyFactory,
    DocumentAgreementFactory,
    DocumentFactory,
    ResearcherFactory,
    TagFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent / "data"
LONG_ARTICLE = (
    "Polk County commissioners heard from residents on Tuesday about the sheriff's 287(g) "
    "agreement with Immigration and Customs Enforcement. "
    * 6
    + "SECRET-ENDING: the final paragraph quotes the sheriff at length."
)


def pdf_text(name: str) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(DATA / name).pages[:2])


@pytest.fixture
def news():
    return DocumentFactory(
        title="Residents question Polk County's 287(g) deal",
        publisher="Rome News-Tribune",
        authors=["Jane Reporter"],
        published_on=dt.date(2025, 6, 3),
        text=LONG_ARTICLE,
    )


@pytest.fixture
def moa():
    agreement = AgreementFactory(
        agency=AgencyFactory(name="Polk County Sheriff's Office", state="GA"),
        signed_on=dt.date(2020, 7, 2),
    )
    link = DocumentAgreementFactory(
        agreement=agreement,
        document__title="287(g) MOA: Polk County Sheriff's Office (JEM)",
        document__rights=Document.Rights.PUBLIC_DOMAIN,
        document__publisher="U.S. Immigration and Customs Enforcement",
        document__published_on=dt.date(2020, 7, 2),
        document__text=pdf_text("287gJEM_PolkCoGa2020-07-02.pdf"),
    )
    return link.document


def test_public_sees_only_an_excerpt_of_a_copyrighted_article(client, news):
    html = client.get(news.get_absolute_url()).content.decode()
    assert "Residents question Polk County" in html
    assert "Polk County commissioners heard from residents" in html
    assert "SECRET-ENDING" not in html
    assert "log in</a> to read the full text" in html


@pytest.mark.parametrize("factory", [ResearcherFactory, CuratorFactory])
def test_researchers_and_curators_read_the_full_text(client, news, factory):
    client.force_login(factory())
    html = client.get(news.get_absolute_url()).content.decode()
    assert "SECRET-ENDING" in html
    assert "please do not republish it" in html


def test_a_logged_in_user_outside_the_researchers_group_sees_the_excerpt(client, news):
    client.force_login(UserFactory())
    assert "SECRET-ENDING" not in client.get(news.get_absolute_url()).content.decode()


def test_public_domain_moa_text_is_public(client, moa):
    html = client.get(moa.get_absolute_url()).content.decode()
    assert "MEMORANDUM OF AGREEMENT" in moa.text.upper()
    words = " ".join(moa.text.split()[20:26])
    assert words in " ".join(unescape(strip_tags(html)).split())
    assert "MOA of the" in html and "Polk County Sheriff&#x27;s Office" in html
    # Without authors the reference starts with the publisher, never "Unknown author".
    assert "U.S. Immigration and Customs Enforcement. “287(g) MOA: Polk County" in html


def test_original_files_download_only_where_the_full_text_may_be_read(client, news, moa):
    """Media is not served in production; the portal serves files and checks rights."""
    pdf = (DATA / "287gJEM_PolkCoGa2020-07-02.pdf").read_bytes()
    moa.file.save("287gJEM_PolkCoGa2020-07-02.pdf", ContentFile(pdf))
    moa.content_type = "application/pdf"
    moa.sha256 = hashlib.sha256(pdf).hexdigest()
    moa.save()
    news.file.save("article.html", ContentFile(b"<html><body>SECRET-ENDING</body></html>"))
    news.content_type = "text/html"
    news.sha256 = "ab" * 32
    news.save()
    moa_url = reverse("research:document-file", args=[moa.pk])
    news_url = reverse("research:document-file", args=[news.pk])

    assert f'href="{moa_url}"' in client.get(moa.get_absolute_url()).content.decode()
    response = client.get(moa_url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert b"".join(response.streaming_content) == pdf
    # A copyrighted article: no link and no file for the public.
    assert news_url not in client.get(news.get_absolute_url()).content.decode()
    assert client.get(news_url).status_code == 404

    client.force_login(ResearcherFactory())
    assert f'href="{news_url}"' in client.get(news.get_absolute_url()).content.decode()
    response = client.get(news_url)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert b"SECRET-ENDING" in b"".join(response.streaming_content)


def test_a_reference_without_author_or_publisher_starts_with_the_title(client):
    document = DocumentFactory(title="County board minutes", publisher="", canonical_url="")
    html = client.get(document.get_absolute_url()).content.decode()
    assert (
        "“County board minutes.” 2025-03-01. 287(g) Research Portal, http://testserver/documents/"
        in html
    )


def test_unpublished_documents_are_hidden_from_the_public(client):
    draft = DocumentFactory(status=Document.Status.NEEDS_REVIEW, title="Draft under review")
    assert client.get(draft.get_absolute_url()).status_code == 404
    assert (
        "Draft under review" not in client.get(reverse("research:document-list")).content.decode()
    )
    client.force_login(CuratorFactory())
    assert client.get(draft.get_absolute_url()).status_code == 200


def test_curators_see_why_a_document_failed_and_an_undated_reference_reads_well(client):
    failed = DocumentFactory(
        status=Document.Status.FAILED,
        status_message="The server answered 404 Not Found for https://example.org/x; check the address.",
        title="",
        canonical_url="https://example.org/x",
        published_on=None,
    )
    assert client.get(failed.get_absolute_url()).status_code == 404
    client.force_login(CuratorFactory())
    html = client.get(failed.get_absolute_url()).content.decode()
    assert (
        "<dt>Status</dt><dd><strong>Failed</strong>: The server answered 404 Not Found"
        " for https://example.org/x" in html
    )
    text = " ".join(unescape(strip_tags(html)).split())
    assert "n.d. https://example.org/x." in text and "n.d.." not in text


def test_cite_this_gives_a_reference_and_bibtex(client, news):
    html = client.get(news.get_absolute_url()).content.decode()
    assert (
        "Jane Reporter. “Residents question Polk County&#x27;s 287(g) deal.” Rome News-Tribune, 2025-06-03."
        in html
    )
    assert "@article{doc" in html
    assert "author = {Jane Reporter}" in html
    assert "year = {2025}" in html
    assert f"url = {{{news.canonical_url}}}" in html


def test_document_list_filters_by_kind_year_tag_state_and_agency(client, news, moa):
    url = reverse("research:document-list")
    tag = TagFactory(name="Jail screening")
    news.tags.add(tag)
    polk = moa.agreement_links.get().agreement.agency
    DocumentAgencyFactory(document=news, agency=polk, status=DocumentAgency.Status.CONFIRMED)
    other = DocumentFactory(title="Texas sheriffs sign up", published_on=dt.date(2024, 2, 1))
    DocumentAgencyFactory(
        document=other, agency=AgencyFactory(state="TX"), status=DocumentAgency.Status.CONFIRMED
    )

    def titles(**params) -> str:
        return client.get(url, params).content.decode()

    html = titles()
    assert "3 documents" in html
    html = titles(kind="moa")
    assert "287(g) MOA: Polk County" in html and "Residents question" not in html
    assert "Texas sheriffs" in titles(year="2024") and "Residents question" not in titles(
        year="2024"
    )
    assert "1 document" in titles(tag="jail-screening")
    html = titles(state="GA")
    assert "Residents question" in html and "287(g) MOA" in html and "Texas sheriffs" not in html
    html = titles(agency=polk.slug)
    assert "Documents about Polk County Sheriff" in html and "Texas sheriffs" not in html


def test_document_list_downloads_with_the_same_filters(client, news, moa):
    response = client.get(reverse("research:document-list"), {"kind": "news", "format": "csv"})
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [r["title"] for r in rows] == [news.title]
    assert rows[0]["rights"] == "copyrighted"
    assert "text" not in rows[0]  # copyrighted text never leaves through a download


def test_agency_page_shows_its_moas_and_confirmed_documents_only(client, news, moa):
    polk = moa.agreement_links.get().agreement.agency
    DocumentAgencyFactory(document=news, agency=polk, status=DocumentAgency.Status.CONFIRMED)
    suggested = DocumentFactory(title="Unreviewed suggestion")
    DocumentAgencyFactory(document=suggested, agency=polk, status=DocumentAgency.Status.SUGGESTED)
    ruling = DocumentAgreementFactory(
        agreement=moa.agreement_links.get().agreement,
        role="related",
        document__kind=Document.Kind.COURT_FILING,
        document__title="Court upholds the Polk County agreement",
    )
    html = client.get(polk.get_absolute_url()).content.decode()
    assert ruling.document.title in html.split('id="documents"')[1]
    moas = html.split('id="moas"')[1].split('id="documents"')[0]
    assert "287(g) MOA: Polk County" in moas
    assert "Residents question Polk County" in html.split('id="documents"')[1]
    assert "Unreviewed suggestion" not in html


@pytest.mark.parametrize("n", [3, 30])
def test_document_pages_keep_a_fixed_query_count(client, django_assert_max_num_queries, n):
    agency = AgencyFactory()
    tag = TagFactory()
    for _ in range(n):
        document = DocumentFactory()
        document.tags.add(tag)
        DocumentAgencyFactory(document=document, agency=agency, status="confirmed")
        DocumentAgreementFactory(agreement=AgreementFactory(agency=agency))
    with django_assert_max_num_queries(10):
        assert client.get(reverse("research:document-list")).status_code == 200
    with django_assert_max_num_queries(10):
        assert client.get(reverse("research:document-list"), {"format": "csv"}).status_code == 200
    with django_assert_max_num_queries(10):
        assert client.get(document.get_absolute_url()).status_code == 200
    with django_assert_max_num_queries(12):
        assert client.get(agency.get_absolute_url()).status_code == 200
