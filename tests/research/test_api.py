"""The documents API: what each reader sees, the filters, and submitting a URL."""

from __future__ import annotations

import datetime as dt

import pytest
from rest_framework.test import APIClient

from research.models import Document, DocumentAgency
from research.services.ingest import NOT_VISIBLE

from .factories import (
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

LIST = "/api/v1/documents/"
LONG_TEXT = "Deputies will screen people booked into the county jail. " * 40


def client_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def titles(response) -> list[str]:
    assert response.status_code == 200, response.content
    return sorted(item["title"] for item in response.json()["results"])


def test_the_public_sees_published_documents_only():
    DocumentFactory(title="Published story")
    DocumentFactory(title="Waiting for review", status=Document.Status.NEEDS_REVIEW)
    DocumentFactory(title="Rejected spam", status=Document.Status.REJECTED)
    assert titles(client_for().get(LIST)) == ["Published story"]
    assert titles(client_for(CuratorFactory()).get(LIST)) == [
        "Published story",
        "Rejected spam",
        "Waiting for review",
    ]


def test_copyrighted_text_is_for_researchers_only():
    news = DocumentFactory(title="News", text=LONG_TEXT, rights=Document.Rights.COPYRIGHTED)
    url = f"{LIST}{news.pk}/"
    public = client_for().get(url).json()
    assert public["text"] is None
    assert public["full_text_available"] is False
    assert public["excerpt"].startswith("Deputies will screen")
    assert len(public["excerpt"]) < 320
    assert client_for(UserFactory()).get(url).json()["text"] is None
    assert client_for(ResearcherFactory()).get(url).json()["text"] == LONG_TEXT


def test_public_domain_text_is_public():
    moa = DocumentFactory(kind="moa", text=LONG_TEXT, rights=Document.Rights.PUBLIC_DOMAIN)
    body = client_for().get(f"{LIST}{moa.pk}/").json()
    assert body["text"] == LONG_TEXT
    assert body["full_text_available"] is True


def test_unpublished_document_is_not_found_for_the_public():
    queued = DocumentFactory(status=Document.Status.QUEUED)
    assert client_for().get(f"{LIST}{queued.pk}/").status_code == 404
    assert client_for().get(f"{LIST}{queued.pk}/status/").status_code == 404


def test_status_shows_processing_state_and_error_to_the_submitter():
    researcher = ResearcherFactory()
    failed = DocumentFactory(
        status=Document.Status.FAILED,
        status_message="The page at https://example.org/x was not found (404).",
        submitted_by=researcher,
        attempts=1,
    )
    body = client_for(researcher).get(f"{LIST}{failed.pk}/status/").json()
    assert body["status"] == "failed"
    assert "not found (404)" in body["status_message"]
    assert client_for(ResearcherFactory()).get(f"{LIST}{failed.pk}/status/").status_code == 404


def test_filter_by_kind_tag_and_published_dates():
    tag = TagFactory(name="Lawsuits")
    filing = DocumentFactory(title="Filing", kind="court_filing", published_on=dt.date(2024, 5, 1))
    filing.tags.add(tag)
    DocumentFactory(title="March news", published_on=dt.date(2025, 3, 1))
    DocumentFactory(title="June news", published_on=dt.date(2025, 6, 1))
    client = client_for()
    assert titles(client.get(LIST, {"kind": "court_filing"})) == ["Filing"]
    assert titles(client.get(LIST, {"tag": "lawsuits"})) == ["Filing"]
    assert titles(
        client.get(LIST, {"published_after": "2025-01-01", "published_before": "2025-04-30"})
    ) == ["March news"]
    assert client.get(LIST, {"kind": "poem"}).status_code == 400


def test_filter_by_agency_slug_id_and_state_uses_confirmed_links_and_moas():
    polk_ga = AgencyFactory(name="Polk County Sheriff's Office", state="GA")
    polk_fl = AgencyFactory(name="Polk County Sheriff's Office", state="FL")
    confirmed = DocumentAgencyFactory(
        document=DocumentFactory(title="Confirmed GA story"),
        agency=polk_ga,
        status=DocumentAgency.Status.CONFIRMED,
    )
    DocumentAgencyFactory(document=DocumentFactory(title="Only suggested"), agency=polk_ga)
    DocumentAgreementFactory(
        document=DocumentFactory(title="Polk FL MOA", kind="moa"),
        agreement=AgreementFactory(agency=polk_fl),
    )
    client = client_for()
    assert titles(client.get(LIST, {"agency": polk_ga.slug})) == ["Confirmed GA story"]
    assert titles(client.get(LIST, {"agency": str(polk_fl.pk)})) == ["Polk FL MOA"]
    assert titles(client.get(LIST, {"state": "ga"})) == ["Confirmed GA story"]
    assert titles(client.get(LIST, {"state": "FL"})) == ["Polk FL MOA"]
    listed = client.get(LIST, {"agency": polk_ga.slug}).json()["results"][0]
    assert [a["slug"] for a in listed["agencies"]] == [confirmed.agency.slug]


def test_suggested_links_are_shown_to_curators_only():
    link = DocumentAgencyFactory()
    url = f"{LIST}{link.document.pk}/"
    assert client_for().get(url).json()["agencies"] == []
    curator_view = client_for(CuratorFactory()).get(url).json()["agencies"]
    assert [(a["slug"], a["status"]) for a in curator_view] == [(link.agency.slug, "suggested")]


def test_submitting_needs_a_researcher_or_curator():
    payload = {"url": "https://news.example.org/sheriff-signs"}
    assert client_for().post(LIST, payload).status_code in {401, 403}
    assert client_for(UserFactory()).post(LIST, payload).status_code == 403
    assert not Document.objects.exists()


def test_invalid_url_is_refused_with_a_reason():
    response = client_for(ResearcherFactory()).post(LIST, {"url": "not a url"})
    assert response.status_code == 400
    assert "url" in response.json()


def test_documents_are_in_the_openapi_schema():
    schema = client_for().get("/api/schema/", {"format": "json"}).json()
    assert {
        "/api/v1/documents/",
        "/api/v1/documents/{id}/",
        "/api/v1/documents/{id}/status/",
    } <= set(schema["paths"])
    assert "post" in schema["paths"]["/api/v1/documents/"]


def test_researcher_submits_a_url_and_gets_a_queued_document(django_capture_on_commit_callbacks):
    researcher = ResearcherFactory()
    client = client_for(researcher)
    url = "https://news.example.org/2025/03/sheriff-signs?utm_source=twitter"
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(LIST, {"url": url, "kind": "news"}, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued"
    assert callbacks, "processing is sent once the submission commits"
    document = Document.objects.get(pk=body["id"])
    assert document.submitted_by == researcher
    status = client.get(f"{LIST}{document.pk}/status/").json()
    assert status["status"] == "queued"
    again = client.post(LIST, {"url": url}, format="json").json()
    assert again["id"] == document.pk


def test_ftp_url_is_refused_with_a_sentence():
    response = client_for(CuratorFactory()).post(LIST, {"url": "ftp://example.org/moa.pdf"})
    assert response.status_code == 400
    assert "web address" in " ".join(response.json()["url"]) or "valid URL" in str(response.json())


def _submitted_by_another(status: str, url: str) -> Document:
    from research.services.ingest import document_submit

    document = document_submit(url=url, submitted_by=ResearcherFactory())
    Document.objects.filter(pk=document.pk).update(
        status=status, title="Secret draft", text="Unpublished words.", attempts=3
    )
    return Document.objects.get(pk=document.pk)


@pytest.mark.parametrize("status", [Document.Status.NEEDS_REVIEW, Document.Status.FAILED])
def test_submitting_another_researchers_unpublished_url_reveals_and_requeues_nothing(
    status, django_capture_on_commit_callbacks
):
    url = "https://news.example.org/2025/03/draft"
    document = _submitted_by_another(status, url)
    client = client_for(ResearcherFactory())
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(LIST, {"url": url}, format="json")
    assert response.status_code == 409
    assert response.json() == {"detail": NOT_VISIBLE}
    assert "Secret" not in response.content.decode()
    assert not callbacks, "nothing is sent for fetching"
    document.refresh_from_db()
    assert (document.status, document.attempts) == (status, 3)
    assert client.get(f"{LIST}{document.pk}/").status_code == 404


@pytest.mark.parametrize(
    "spelling",
    [
        "https://NEWS.example.org/2025/03/draft?utm_source=feed",
        "  https://news.example.org/2025/03/draft#comments  ",
    ],
)
def test_another_spelling_of_an_unpublished_url_reveals_nothing_either(
    spelling, django_capture_on_commit_callbacks
):
    """The same address with tracking parameters, a fragment or another case is the same."""
    document = _submitted_by_another(
        Document.Status.FAILED, "https://news.example.org/2025/03/draft"
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client_for(ResearcherFactory()).post(LIST, {"url": spelling}, format="json")
    assert response.status_code == 409
    assert "Secret" not in response.content.decode()
    assert not callbacks
    document.refresh_from_db()
    assert (document.status, document.attempts) == (Document.Status.FAILED, 3)


def test_a_curator_or_the_submitter_may_retry_a_failed_url(django_capture_on_commit_callbacks):
    url = "https://news.example.org/2025/03/dead-link"
    document = _submitted_by_another(Document.Status.FAILED, url)
    for user in (document.submitted_by, CuratorFactory()):
        Document.objects.filter(pk=document.pk).update(status=Document.Status.FAILED)
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            response = client_for(user).post(LIST, {"url": url}, format="json")
        assert response.status_code == 202
        assert response.json()["status"] == "queued"
        assert callbacks


def test_submitting_a_published_url_returns_its_document():
    url = "https://news.example.org/2025/03/published"
    document = _submitted_by_another(Document.Status.PUBLISHED, url)
    response = client_for(ResearcherFactory()).post(LIST, {"url": url}, format="json")
    assert response.status_code == 202
    assert response.json()["id"] == document.pk
