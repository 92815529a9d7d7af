"""The search page and the search API: what a visitor and an API client see."""

from __future__ import annotations

import datetime as dt
import html as html_module
import json
import re
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from research.models import Document
from research.search.selectors import FACETS
from research.search.views import QueryState
from tests.research.factories import (
    AgencyFactory,
    DocumentAgencyFactory,
    DocumentFactory,
    ResearcherFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def documents():
    texas = AgencyFactory(name="Harris County Sheriff's Office", state="TX")
    florida = AgencyFactory(name="Polk County Sheriff's Office", state="FL")
    docs = []
    for i in range(25):
        d = DocumentFactory(
            title=f"Detainer story {i}",
            text=f"Deputies honored {i} detainers from ICE at the county jail.",
            published_on=dt.date(2024, 1, 1) + dt.timedelta(days=i),
            kind=Document.Kind.MOA if i % 5 == 0 else Document.Kind.NEWS,
        )
        DocumentAgencyFactory(document=d, agency=texas if i % 2 else florida, status="confirmed")
        docs.append(d)
    DocumentFactory(title="Hidden detainer draft", status=Document.Status.QUEUED)
    return docs


def test_search_page_shows_highlighted_results_and_count(client, documents):
    response = client.get(reverse("research:search"), {"q": "detainers"})
    html = response.content.decode()
    assert response.status_code == 200
    assert '<label for="search-q">' in html
    assert "1–20 of 25 results" in html
    assert "<mark>detainers</mark>" in html
    assert "Hidden detainer draft" not in html
    # Each result says what it is, who published it, when, and where.
    dated = re.findall(r'<time datetime="2024-01-(\d\d)">January (\d+), 2024</time>', html)
    assert len(dated) == 20
    assert all(int(day) == int(label) for day, label in dated)
    assert re.search(
        r'<p class="muted">News article · Example News · <time[^>]+>[^<]+</time> · (FL|TX)</p>',
        html,
    )


def test_facet_links_narrow_results_without_javascript(client, documents):
    html = client.get(reverse("research:search"), {"q": "detainers"}).content.decode()
    link = re.search(r'<a href="(\?[^"]*state=TX[^"]*)"', html).group(1).replace("&amp;", "&")
    narrowed = client.get(reverse("research:search") + link).content.decode()
    assert "1–12 of 12 results" in narrowed
    assert 'aria-current="true" class="selected"' in narrowed
    assert "Remove filter State: Texas" in narrowed


def test_pagination_and_sort_links_are_permalinks(client, documents):
    html = client.get(
        reverse("research:search"), {"q": "detainers", "sort": "date"}
    ).content.decode()
    assert html.index("story 24<") < html.index("story 23<") < html.index("story 5<")
    next_link = re.search(r'rel="next" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert "sort=date" in next_link and "page=2" in next_link
    page2 = client.get(reverse("research:search") + next_link).content.decode()
    assert "21–25 of 25 results" in page2


def test_hostile_query_is_escaped_and_never_an_error_page(client, documents):
    for q in ['"><script>alert(1)</script>', '"unbalanced', "OR -", "x" * 5000, "\x00"]:
        response = client.get(reverse("research:search"), {"q": q, "page": "-3", "state": "<b>"})
        assert response.status_code == 200
        assert "<script>alert" not in response.content.decode()


def test_number_of_queries_does_not_grow_with_results(client, documents):
    url = reverse("research:search")
    # The first search after a write also reloads the facet arrays, and the first
    # of a word reads its stems and postings (a fixed number of queries, whatever
    # the results): load them before counting.
    for q in ("warm", "story 3", "detainers"):
        client.get(url, {"q": q})
    with CaptureQueriesContext(connection) as few:
        client.get(url, {"q": "story 3"})
    with CaptureQueriesContext(connection) as many:
        client.get(url, {"q": "detainers"})
    assert len(many) == len(few) <= 16


def test_a_hostile_publisher_is_escaped_in_its_hit_and_its_facet_link(client):
    DocumentFactory(title="Zebra report", publisher='<i>Ex</i> & "Co"', text="Zebras.")
    html = client.get(reverse("research:search"), {"q": 'zebra "report"'}).content.decode()
    assert "<i>Ex" not in html
    label = "&lt;i&gt;Ex&lt;/i&gt; &amp; &quot;Co&quot;"
    assert html.count(label) == 2  # the hit's line and the facet's
    link = re.search(r'<a href="([^"]*publisher=[^"]*)"', html).group(1)
    assert link == "?q=zebra+%22report%22&amp;publisher=%3Ci%3EEx%3C%2Fi%3E+%26+%22Co%22"


def test_a_researchers_search_page_reads_what_it_shows_in_three_statements(client, documents):
    client.force_login(ResearcherFactory())
    url = reverse("research:search")
    # The first search of a phrase asks the database to match it; the next, as
    # long as nothing is written, find its matches in the process.
    for _ in range(2):
        client.get(url, {"q": '"detainer story"'})
    with CaptureQueriesContext(connection) as queries:
        html = client.get(url, {"q": '"detainer story"'}).content.decode()
    assert "1–20 of 25 results" in html
    assert "<mark>Detainer story</mark> 3" in html
    # The session's user with their permissions; the index's version with whether
    # notes exist and the reader's own submissions; the page's documents with their text.
    assert len(queries) == 3, [query["sql"][:60] for query in queries]


def test_api_returns_the_same_results_with_facets(client, documents):
    response = client.get("/api/v1/search/", {"q": "detainers", "kind": "moa", "sort": "date"})
    data = response.json()
    assert response.status_code == 200
    assert data["total"] == 5
    assert [hit["title"] for hit in data["results"]][0] == "Detainer story 20"
    assert {v["value"]: v["count"] for v in data["facets"]["kind"]} == {"moa": 5}
    assert "<mark>detainers</mark>" in data["results"][0]["snippet_html"]
    assert data["results"][0]["url"].startswith("http")
    assert data["next"] is None


def test_api_pages_link_to_each_other(client, documents):
    data = client.get("/api/v1/search/", {"q": "detainers"}).json()
    assert data["num_pages"] == 2
    second = client.get(data["next"]).json()
    assert len(second["results"]) == 5 and second["previous"]


def test_api_is_documented_in_the_openapi_schema(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/v1/search/"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"q", "sort", "page", "state", "kind", "model", "year", "tag", "publisher"} <= names


def test_results_download_as_csv_and_json_with_the_same_filters(client, documents):
    html = client.get(reverse("research:search"), {"q": "detainers", "kind": "moa"}).content
    link = re.search(r'<a href="([^"]*format=csv[^"]*)" download>', html.decode()).group(1)
    response = client.get(link.replace("&amp;", "&"))
    body = b"".join(response.streaming_content).decode()
    lines = body.strip().splitlines()
    assert lines[0].lstrip("\ufeff").startswith("type,title,url,date,kind")
    assert len(lines) == 6 and all(",moa," in line for line in lines[1:])
    assert "<mark>" not in body
    data = client.get(reverse("research:search"), {"q": "detainers", "format": "json"})
    payload = json.loads(b"".join(data.streaming_content))
    assert len(payload["results"]) == 25 and payload["meta"]["query"] == "detainers"


def test_empty_search_page_shows_the_form_not_the_whole_database(client, documents):
    html = client.get(reverse("research:search")).content.decode()
    assert 'name="q"' in html and "Type words" in html
    assert "Detainer story" not in html


@pytest.mark.parametrize(
    ("q", "filters", "sort"),
    [
        ("", {}, ""),
        ("jail & bail", {"state": ["TX"]}, "date"),
        ('"task force" -sheriff', {"type": ["document"], "year": ["2024", "2023"]}, ""),
        ("détention", {"publisher": ["El Diario & Co", "A+B"], "tag": ["lawsuit"]}, "relevance"),
    ],
)
def test_facet_links_read_as_the_page_permalinks_do(q, filters, sort):
    """Each facet link is the permalink of the page with that one value added or removed."""
    state = QueryState(SimpleNamespace(raw_query=q, filters=filters), sort)
    for name in FACETS:
        for value in ["TX", "2022", "New York Times", "x&y=z", *filters.get(name, [])]:
            values = filters.get(name, [])
            toggled = [v for v in values if v != value] if value in values else [*values, value]
            expected = state.url(filters={**filters, name: toggled})
            assert state.toggle(name, value) == expected, (name, value)


def _hit_text(html: str, title: str) -> str:
    """The words of the result whose title is ``title``, as a reader sees them."""
    items = [li.split("</li>")[0] for li in html.split('<li class="hit')[1:]]
    texts = [
        html_module.unescape(" ".join(re.sub(r"<[^>]+>|^[^>]*>", "", li).split())) for li in items
    ]
    return next(text for text in texts if title in text)


def test_an_agency_hit_reads_as_a_person_would_write_it(client):
    from tests.research.factories import AgencyAliasFactory, AgreementFactory

    duval = AgencyFactory(
        name="Duval County Sheriff's Office",
        state="FL",
        county_name="Duval County",
        agency_type="County",
    )
    AgreementFactory.create_batch(2, agency=duval)
    AgencyAliasFactory(agency=duval, name="Jacksonville Sheriff's Office")
    AgencyAliasFactory(agency=duval, name="DUVAL COUNTY SHERIFF'S OFFICE")  # its own name
    AgencyAliasFactory(agency=duval, name="Jacksonville SO")
    AgencyAliasFactory(agency=duval, name="Consolidated City of Jacksonville, Sheriff")
    AgencyAliasFactory(agency=duval, name="Jacksonville Sheriff Dept")  # a fourth: left out

    by_county = client.get(reverse("research:search"), {"q": "Duval"}).content.decode()
    by_alias = client.get(reverse("research:search"), {"q": "Jacksonville"}).content.decode()

    hit = _hit_text(by_county, "Duval County")
    assert hit.endswith("Duval County Sheriff's Office Agency · FL · 2 agreements"), hit
    assert "Florida FL" not in by_county
    # Found by another spelling, the hit says which one.
    assert _hit_text(by_alias, "Duval County").endswith(
        "Also listed as “Jacksonville Sheriff's Office”, “Jacksonville SO”,"
        " “Consolidated City of Jacksonville, Sheriff”"
    )
    api = client.get("/api/v1/search/", {"q": "Duval"}).json()["results"]
    assert [(r["title"], r["agreements"], r["snippet_html"]) for r in api] == [
        ("Duval County Sheriff's Office", 2, "")
    ]


def test_search_page_shows_note_hits_with_their_quote_author_and_facet(client):
    from research.models import Annotation
    from research.services.annotations import annotate
    from tests.research.factories import ResearcherFactory, TagFactory

    TagFactory(name="Jail", slug="jail")
    author = ResearcherFactory(first_name="Ada", last_name="Lovelace")
    story = DocumentFactory(title="Jail story", text="Deputies screen people at the <jail>.")
    note = annotate(
        story,
        author,
        start=0,
        end=len("Deputies screen"),
        body="The **marmot** clause <script>x</script>.",
        tags=["jail"],
        visibility=Annotation.Visibility.PUBLIC,
    )
    Annotation.objects.filter(pk=note.pk).update(review=Annotation.Review.APPROVED)

    html = client.get(reverse("research:search"), {"q": "marmot"}).content.decode()

    assert f'href="{story.get_absolute_url()}#note-{note.pk}">Note on Jail story</a>' in html
    assert "by Ada Lovelace" in html and "Tags: Jail" in html
    assert '<blockquote class="quote">Deputies screen</blockquote>' in html
    assert "<mark>marmot</mark>" in html and "<script>x" not in html
    assert re.search(
        r'<a href="\?q=marmot&amp;type=note"[^>]*>.*Notes <span class="count">\(1\)', html
    )
    assert re.search(
        r'<a href="\?q=marmot&amp;tag=jail"[^>]*>.*Jail <span class="count">\(1\)', html
    )
    data = client.get("/api/v1/search/", {"q": "marmot"}).json()
    assert [(r["type"], r["author"], r["tags"], r["quote"]) for r in data["results"]] == [
        ("note", "Ada Lovelace", ["Jail"], "Deputies screen")
    ]
