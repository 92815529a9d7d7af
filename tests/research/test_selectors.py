"""What the research selectors return to each reader: the policy's choice, ordered and filtered."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import QueryDict
from django.utils import timezone

from research import policy, selectors
from research.canonical import url_key
from research.filters import DocumentFilter
from research.models import Document, DocumentAgency, DocumentAgreement, DocumentURL
from tests.research.factories import (
    AgencyFactory,
    AgreementFactory,
    CuratorFactory,
    DocumentAgencyFactory,
    DocumentAgreementFactory,
    DocumentFactory,
    ResearcherFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    """Every kind of reader, with a draft submitted by one of the researchers."""
    submitter = ResearcherFactory()
    draft = DocumentFactory(
        title="Draft submitted for review",
        status=Document.Status.NEEDS_REVIEW,
        published_on=dt.date(2019, 5, 1),
        submitted_by=submitter,
    )
    return {
        "anonymous": AnonymousUser(),
        "signed in": UserFactory(),
        "researcher": ResearcherFactory(),
        "submitter": submitter,
        "curator": CuratorFactory(),
        "draft": draft,
    }


SEES_DRAFT = {
    "anonymous": False,
    "signed in": False,
    "researcher": False,
    "submitter": True,
    "curator": True,
}


def titles(documents) -> list[str]:
    return [document.title for document in documents]


@pytest.mark.parametrize("role", sorted(SEES_DRAFT))
def test_document_list_holds_what_the_policy_lets_each_reader_see(people, role):
    older = DocumentFactory(title="Older article", published_on=dt.date(2024, 1, 2))
    newer = DocumentFactory(title="Newer article", published_on=dt.date(2025, 1, 2))
    listed = titles(selectors.document_list(people[role]))
    expected = [newer.title, older.title] + ([people["draft"].title] if SEES_DRAFT[role] else [])
    assert listed == expected
    assert (2019 in selectors.document_years(people[role])) is SEES_DRAFT[role]


def test_document_list_names_confirmed_agencies_only_even_for_curators(people):
    article = DocumentFactory(title="Article naming two agencies")
    confirmed = DocumentAgencyFactory(
        document=article, agency__name="Able County", status=DocumentAgency.Status.CONFIRMED
    )
    DocumentAgencyFactory(
        document=article, agency__name="Baker County", status=DocumentAgency.Status.SUGGESTED
    )
    for reader in (people["anonymous"], people["curator"]):
        listed = selectors.document_list(reader).get(pk=article.pk)
        assert [link.agency for link in listed.confirmed_links] == [confirmed.agency]


def test_the_filter_object_narrows_the_list_by_year_and_ignores_a_year_that_is_no_number(
    people,
):
    DocumentFactory(title="From 2024", published_on=dt.date(2024, 4, 4))
    DocumentFactory(title="From 2025", published_on=dt.date(2025, 4, 4))

    def filtered(query: str, reader) -> list[str]:
        filterset = DocumentFilter(
            QueryDict(query), queryset=selectors.document_list(people[reader])
        )
        assert filterset.is_valid()
        return titles(filterset.qs)

    assert filtered("year=2024", "anonymous") == ["From 2024"]
    assert filtered("year=2019", "anonymous") == []
    assert filtered("year=2019", "curator") == ["Draft submitted for review"]
    assert filtered("year=last", "anonymous") == ["From 2025", "From 2024"]


@pytest.mark.parametrize("role", sorted(SEES_DRAFT))
def test_one_document_is_found_only_by_readers_allowed_to_see_it(people, role):
    draft = people["draft"]
    if SEES_DRAFT[role]:
        assert selectors.document_get(people[role], draft.pk) == draft
        assert selectors.document_page(people[role], draft.pk).confirmed_links == []
    else:
        with pytest.raises(Document.DoesNotExist):
            selectors.document_get(people[role], draft.pk)
        with pytest.raises(Document.DoesNotExist):
            selectors.document_page(people[role], draft.pk)


def test_a_documents_agreements_are_listed_moa_first_then_by_agency():
    moa = DocumentAgreementFactory(agreement__agency__name="Zulu County Sheriff")
    related = DocumentAgreementFactory(
        document=moa.document,
        agreement__agency__name="Alpha County Sheriff",
        role=DocumentAgreement.Role.RELATED,
    )
    assert list(selectors.document_agreement_links(moa.document)) == [moa, related]


def test_the_api_list_carries_every_agency_link_for_the_serializer_to_sift(people):
    article = DocumentFactory()
    DocumentAgencyFactory(document=article, status=DocumentAgency.Status.SUGGESTED)
    listed = selectors.document_api_list(people["anonymous"]).get(pk=article.pk)
    assert [link.status for link in listed.agency_links.all()] == ["suggested"]
    assert titles(selectors.document_api_list(people["submitter"], detail=True)) == [
        article.title,
        people["draft"].title,
    ]


@pytest.mark.parametrize("role", sorted(SEES_DRAFT))
def test_an_agencys_documents_are_its_moas_and_confirmed_documents_the_reader_may_see(
    people, role, django_assert_num_queries
):
    agency = AgencyFactory(name="Polk County Sheriff's Office")
    moa = DocumentAgreementFactory(
        agreement=AgreementFactory(agency=agency), document__title="Polk MOA"
    )
    DocumentAgencyFactory(
        document=DocumentFactory(title="Confirmed article"),
        agency=agency,
        status=DocumentAgency.Status.CONFIRMED,
    )
    DocumentAgencyFactory(
        document=DocumentFactory(title="Suggested article"),
        agency=agency,
        status=DocumentAgency.Status.SUGGESTED,
    )
    DocumentAgencyFactory(
        document=people["draft"], agency=agency, status=DocumentAgency.Status.CONFIRMED
    )
    DocumentAgreementFactory(
        agreement=moa.agreement,
        role=DocumentAgreement.Role.RELATED,
        document__kind=Document.Kind.COURT_FILING,
        document__title="Court ruling",
        document__published_on=dt.date(2025, 9, 1),
    )
    policy.sees_unreviewed(people[role])  # a signed-in user's permissions are read once
    with django_assert_num_queries(3):
        moas, documents = selectors.agency_documents(people[role], agency)
    assert [(m.title, m.role) for m in moas] == [("Polk MOA", DocumentAgreement.Role.MOA)]
    assert titles(documents) == ["Court ruling", "Confirmed article"] + (
        ["Draft submitted for review"] if SEES_DRAFT[role] else []
    )


def test_an_agency_with_no_linked_documents_costs_two_queries(django_assert_num_queries):
    agency = AgencyFactory()
    with django_assert_num_queries(2):
        assert selectors.agency_documents(None, agency) == ([], [])


def test_the_feed_gives_each_reader_the_latest_it_may_see_and_the_front_page_the_public_ones(
    people,
):
    now = timezone.now()
    DocumentFactory(title="Published yesterday", status_changed_at=now - dt.timedelta(days=1))
    DocumentFactory(title="Published today", status_changed_at=now)
    DocumentFactory(title="Never dated")
    Document.objects.filter(pk=people["draft"].pk).update(status_changed_at=now)
    assert titles(selectors.latest_documents(people["anonymous"], limit=1)) == ["Published today"]
    assert "Draft submitted for review" in titles(
        selectors.latest_documents(people["curator"], limit=5)
    )
    assert titles(selectors.front_page_documents()) == ["Published today", "Published yesterday"]


def test_a_known_address_gives_the_document_and_the_original_it_duplicates():
    original = DocumentFactory(title="Original")
    copy = DocumentFactory(title="Copy", duplicate_of=original)
    url = "https://news.example.org/copy"
    DocumentURL.objects.create(document=copy, url=url, url_key=url_key(url))
    assert selectors.documents_at_url(f"  {url}  ") == [copy, original]
    assert selectors.documents_at_url("https://news.example.org/unknown") == []
