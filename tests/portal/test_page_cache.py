"""Cached page sections show new data on the first request after it arrives.

The home, statistics and state pages cache their costly sections under the
version of the data they show (see ``agreements.views.cached_fragment``). These
tests run with the cache on, as in production: each warms it, changes the data
the way the portal does (an import, a publication, a curator's edit), and
expects the next page to show the change.
"""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.cache import cache
from django.utils import timezone

from agreements.models import Agency
from agreements.services import snapshot_import
from research.models import Document
from research.services.review import document_publish
from tests.agreements.ice_builder import row, workbook
from tests.research.factories import DocumentFactory

pytestmark = pytest.mark.django_db


def import_list(rows: list[list], published: dt.datetime):
    data = workbook(rows)
    name = f"participatingAgencies{published:%m%d%Y}am.xlsx"
    return snapshot_import(file=io.BytesIO(data), filename=name, published_at=published).snapshot


def texas(agency: str, model: str = "Jail Enforcement Model") -> list:
    return row(state="TEXAS", agency=agency, county="Polk County", model=model)


@pytest.fixture
def first_list():
    return import_list(
        [texas("Polk County Sheriff's Office"), texas("Tyler County Sheriff's Office")],
        dt.datetime(2025, 6, 2, 9, tzinfo=dt.UTC),
    )


def figure(html: str, label: str) -> str:
    """The number of the front page's card named ``label``."""
    before = html.split(f"</a></div>{label}")[0]
    return before.rsplit(">", 1)[1]


def test_the_cache_is_on_in_these_tests():
    """Otherwise the tests below would pass whatever the cache keys."""
    cache.set("probe", 1)
    assert cache.get("probe") == 1


def test_home_shows_the_figures_of_a_list_imported_after_it_was_cached(client, first_list):
    html = client.get("/").content.decode()
    assert figure(html, "agreements listed") == "2"
    assert client.get("/").content.decode() == html  # served from the cache
    second = import_list(
        [
            texas("Polk County Sheriff's Office"),
            texas("Tyler County Sheriff's Office"),
            texas("Hardin County Sheriff's Office", model="Task Force Model"),
        ],
        dt.datetime(2025, 6, 16, 9, tzinfo=dt.UTC),
    )
    html = client.get("/").content.decode()
    assert figure(html, "agreements listed") == "3"
    assert "As of the ICE list of June 16, 2025" in html
    assert second.sha256[:16] in html
    assert 'aria-label="TX: 3 agreements"' in html
    # The latest changes name the agency the new list added.
    assert "Hardin County Sheriff&#x27;s Office" in html.split('id="changes-heading"')[1]
    html = client.get("/", {"model": "TFM"}).content.decode()
    assert 'aria-label="TX: 1 agreement"' in html


def test_home_lists_a_document_as_soon_as_it_is_published(client, first_list):
    DocumentFactory(
        title="Earlier story", status=Document.Status.PUBLISHED, status_changed_at=timezone.now()
    )
    waiting = DocumentFactory(
        title="Sheriff signs task force agreement",
        status=Document.Status.NEEDS_REVIEW,
        text="Text.",
    )
    assert "Earlier story" in client.get("/").content.decode()
    assert "Sheriff signs task force agreement" not in client.get("/").content.decode()
    document_publish(document=waiting)
    assert "Sheriff signs task force agreement" in client.get("/").content.decode()


def test_statistics_show_a_new_list_and_keep_the_figures_of_the_old_one(client, first_list):
    assert '<td class="num"><a href="/snapshots/' in client.get("/statistics/").content.decode()
    second = import_list(
        [texas("Polk County Sheriff's Office"), texas("Jasper County Sheriff's Office")]
        + [texas("Newton County Sheriff's Office")],
        dt.datetime(2025, 6, 16, 9, tzinfo=dt.UTC),
    )
    html = client.get("/statistics/").content.decode()
    assert second.sha256 in html
    assert f'<a href="/snapshots/{second.pk}/#rows">3</a></div>agreements listed' in html
    # The figures of the first list stay what they were, under their own key.
    html = client.get("/statistics/", {"as_of": "2025-06-10"}).content.decode()
    assert f'<a href="/snapshots/{first_list.pk}/#rows">2</a></div>agreements listed' in html


def test_state_page_shows_an_agency_renamed_by_a_curator(client, first_list):
    assert "Polk County Sheriff&#x27;s Office" in client.get("/states/TX/").content.decode()
    agency = Agency.objects.get(name="Polk County Sheriff's Office")
    agency.name = "Polk County Sheriff's Department"
    agency.save()
    html = client.get("/states/TX/").content.decode()
    assert "Polk County Sheriff&#x27;s Department" in html
    assert "Polk County Sheriff&#x27;s Office" not in html


def test_state_page_shows_agencies_of_a_new_list(client, first_list):
    assert "Jasper County" not in client.get("/states/TX/").content.decode()
    import_list(
        [texas("Polk County Sheriff's Office"), texas("Jasper County Sheriff's Office")],
        dt.datetime(2025, 6, 16, 9, tzinfo=dt.UTC),
    )
    assert "Jasper County Sheriff&#x27;s Office" in client.get("/states/TX/").content.decode()


def test_agency_directory_shows_new_agencies_and_renames(client, first_list):
    html = client.get("/agencies/", {"state": "TX"}).content.decode()
    assert "2 agencies matching" in html
    import_list(
        [texas("Polk County Sheriff's Office"), texas("Jasper County Sheriff's Office")],
        dt.datetime(2025, 6, 16, 9, tzinfo=dt.UTC),
    )
    html = client.get("/agencies/", {"state": "TX"}).content.decode()
    assert "3 agencies matching" in html
    assert "Jasper County Sheriff&#x27;s Office" in html
    agency = Agency.objects.get(name="Jasper County Sheriff's Office")
    agency.name = "Jasper County Sheriff's Department"
    agency.save()
    html = client.get("/agencies/", {"state": "TX"}).content.decode()
    assert "Jasper County Sheriff&#x27;s Department" in html


def test_agency_page_shows_new_changes_and_edited_agreements(client, first_list):
    agency = Agency.objects.get(name="Polk County Sheriff's Office")
    html = client.get(agency.get_absolute_url()).content.decode()
    assert "removed from the list" not in html
    import_list(
        [texas("Tyler County Sheriff's Office")], dt.datetime(2025, 6, 16, 9, tzinfo=dt.UTC)
    )
    html = client.get(agency.get_absolute_url()).content.decode()
    assert "removed from the list" in html
    agreement = agency.agreements.get()
    agreement.moa_url = "https://www.ice.gov/doclib/polk-moa.pdf"
    agreement.save()
    html = client.get(agency.get_absolute_url()).content.decode()
    assert 'href="https://www.ice.gov/doclib/polk-moa.pdf"' in html


def _entries() -> int:
    """How many entries the cache holds (the tests' cache is Django's local memory)."""
    return len(cache._cache)


def test_made_up_query_parameters_add_no_cache_entry(client, first_list):
    assert client.get("/agencies/").status_code == 200
    warm = _entries()
    for n in range(50):
        response = client.get("/agencies/", {f"zz{n}": f"{n}-random"})
        assert response.status_code == 200
        assert "Polk County Sheriff" in response.content.decode()
    client.get("/agencies/", {"page": "999999"})
    # A digit that is not ASCII ("²".isdigit() is true) is no page number either.
    assert client.get("/agencies/", {"page": "²"}).status_code == 200
    client.get("/agencies/", {"kind": "no-such-kind"})
    assert _entries() == warm


def test_each_known_filter_and_page_is_cached_once(client, first_list):
    client.get("/agencies/")
    warm = _entries()
    client.get("/agencies/", {"state": "TX"})
    client.get("/agencies/", {"state": "tx"})  # the same filter, written otherwise
    client.get("/agencies/", {"state": "TX", "page": "1"})
    assert _entries() == warm + 1
