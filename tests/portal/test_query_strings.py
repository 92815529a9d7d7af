"""Any query string on any listing ends in a page, a result or a clear 400, never a 500.

Every filter of every list page, download and API list route is thrown arbitrary
text (NUL bytes and any Unicode included), huge numbers and far-off dates. Run with
DATABASE_URL=postgres://... too: PostgreSQL refuses NUL bytes that SQLite stores.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agreements.filters import (
    AgencyFilter,
    AgreementEventFilter,
    AgreementFilter,
    AsOfForm,
    SnapshotFilter,
    StateModelForm,
)
from research.filters import AnnotationFilter, DocumentFilter
from research.search.selectors import FACETS

pytestmark = pytest.mark.django_db

PAGING = ["page", "format"]
API_PAGING = ["page", "page_size", "format"]
SEARCH = ["q", "sort", "page", *FACETS]

# Each listing and the parameters it reads: the filters come from the filter objects,
# so a filter added there is thrown at here too.
PAGES = {
    "/": ["model"],
    "/agencies/": [*AgencyFilter.base_filters, *PAGING],
    "/agreements/": [*AgreementFilter.base_filters, *PAGING],
    "/changes/": [*AgreementEventFilter.base_filters, *PAGING],
    "/changes/feed/": ["state"],
    "/statistics/": [*AsOfForm.base_fields, "format"],
    "/states/TX/": [*AsOfForm.base_fields, "format"],
    "/agencies/{agency}/": [*AsOfForm.base_fields],
    "/snapshots/{snapshot}/": [*StateModelForm.base_fields, *PAGING],
    "/data/": ["format"],
    "/documents/": [*DocumentFilter.base_filters, *PAGING],
    "/documents/feed/": ["format"],
    "/search/": [*SEARCH, "format"],
}
API = {
    "/api/v1/agencies/": [*AgencyFilter.base_filters, *API_PAGING],
    "/api/v1/agreements/": [*AgreementFilter.base_filters, *API_PAGING],
    "/api/v1/events/": [*AgreementEventFilter.base_filters, *API_PAGING],
    "/api/v1/snapshots/": [*SnapshotFilter.base_filters, *API_PAGING],
    "/api/v1/snapshots/{snapshot}/rows/": API_PAGING,
    "/api/v1/stats/": [*AsOfForm.base_fields],
    "/api/v1/documents/": [*DocumentFilter.base_filters, *API_PAGING],
    "/api/v1/annotations/": [*AnnotationFilter.base_filters, *API_PAGING],
    "/api/v1/search/": [*SEARCH, "page_size"],
}

ODD_VALUES = [
    "\x00",
    "a\x00b",
    "TX\x00",
    "9999-12-31",
    "0001-01-01",
    "10000-01-01",
    "2025-02-30",
    "99999999999999999999999999",
    "-9223372036854775809",
    "-1",
    "0",
    "1e400",
    "NaN",
    "²",
    "١٢",
    "＝1+1",
    "' OR 1=1 --",
    '"unclosed',
    "%00",
    " ",
    "x" * 3000,
]
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
values = st.one_of(
    st.sampled_from(ODD_VALUES),
    text,
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.dates().map(lambda d: d.isoformat()),
)


def queries(names: list[str]):
    return st.dictionaries(st.sampled_from(sorted(set(names))), values, max_size=4)


def _path(template: str, data: dict) -> str:
    return template.format(agency=data["agencies"][0].slug, snapshot=data["snapshots"][0].pk)


def _request(client, path: str, query: dict):
    client.raise_request_exception = False
    response = client.get(path, query)
    if response.streaming:  # a download is only done when it has been read to the end
        b"".join(response.streaming_content)
    return response


@pytest.mark.parametrize("route", sorted(PAGES))
def test_any_query_string_on_a_page_shows_a_page(client, portal_data, route):
    path = _path(route, portal_data)

    @given(query=queries(PAGES[route]))
    def check(query):
        response = _request(client, path, query)
        assert response.status_code in {200, 301, 302, 400, 404}, (query, response.status_code)

    check()


@pytest.mark.parametrize("route", sorted(API))
def test_any_query_string_on_an_api_route_is_a_result_or_a_clear_400(client, portal_data, route):
    path = _path(route, portal_data)

    @given(query=queries(API[route]))
    def check(query):
        response = _request(client, path, query)
        assert response.status_code in {200, 400, 404}, (query, response.status_code)
        if response.status_code == 400:
            assert response.json(), "a 400 says what was wrong"

    check()


# --- The inputs the probe found, each once --------------------------------------


@pytest.mark.parametrize(
    "url", ["/api/v1/stats/?as_of=9999-12-31", "/api/v1/agreements/?as_of=9999-12-31"]
)
def test_a_day_at_the_end_of_the_calendar_is_a_clear_400_in_the_api(client, portal_data, url):
    response = client.get(url)

    assert response.status_code == 400
    assert "between 1900-01-01 and 2999-12-31" in str(response.json())


@pytest.mark.parametrize("url", ["/statistics/?as_of=9999-12-31", "/agencies/?as_of=0001-01-01"])
def test_a_day_at_the_end_of_the_calendar_is_refused_on_a_page(client, portal_data, url):
    response = client.get(url)

    assert response.status_code == 200
    if url.startswith("/statistics/"):
        assert "between 1900-01-01 and 2999-12-31" in response.content.decode()


def test_the_json_suffix_on_detail_actions_answers_json(client, portal_data):
    document = portal_data["documents"][0]
    snapshot = portal_data["snapshots"][0]

    status = client.get(f"/api/v1/documents/{document.pk}/status.json")
    rows = client.get(f"/api/v1/snapshots/{snapshot.pk}/rows.json")

    assert status.status_code == 200 and status.json()["status"] == "published"
    assert rows.status_code == 200 and rows.json()["count"] == 2


@pytest.mark.parametrize(
    "url",
    [
        "/documents/?agency=a%00b",
        "/documents/?state=T%00",
        "/api/v1/documents/?agency=a%00b",
        "/api/v1/documents/?state=T%00",
        "/api/v1/agreements/?agency=a%00b",
        "/api/v1/agencies/?state=T%00",
        "/snapshots/{snapshot}/?state=%00",
        "/changes/feed/?state=%00",
        "/search/?publisher=a%00b",
        "/api/v1/search/?publisher=a%00b",
    ],
)
def test_a_nul_byte_in_a_filter_is_no_server_error(client, portal_data, url):
    client.raise_request_exception = False
    response = client.get(_path(url, portal_data))

    assert response.status_code in {200, 400}
    if url.startswith("/api/") and response.status_code == 400:
        assert "Null characters are not allowed." in str(response.json())


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/agencies/a%00b/",
        "/agencies/a%00b/",
        "/changes/feed/?state=0%1f",
    ],
)
def test_a_nul_byte_in_a_path_or_an_unknown_feed_state_is_not_found(client, portal_data, url):
    client.raise_request_exception = False

    assert client.get(url).status_code == 404


@pytest.mark.parametrize("number", ["-9223372036854775809", "99999999999999999999999999"])
def test_a_number_no_id_can_be_is_a_clear_400_in_the_api_and_no_filter_on_a_page(
    client, portal_data, number
):
    api = client.get("/api/v1/events/", {"agreement": number})
    page = client.get("/changes/", {"agreement": number})

    assert api.status_code == 400 and "agreement" in api.json()
    assert page.status_code == 200
