"""The agreements API: as-of statistics, filters, snapshots, schema, query counts."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from agreements.models import AgencyKind, AgreementEvent, SupportModel
from tests.agreements.factories import (
    AgencyAliasFactory,
    AgencyFactory,
    AgreementEventFactory,
    AgreementFactory,
    ListSnapshotFactory,
    listed,
)

pytestmark = pytest.mark.django_db


def at(year: int, month: int, day: int, hour: int = 9) -> dt.datetime:
    return timezone.make_aware(dt.datetime(year, month, day, hour))


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def two_lists():
    """A June and a July participating list; July adds a Florida WSO agreement."""
    june = ListSnapshotFactory(published_at=at(2025, 6, 1))
    july = ListSnapshotFactory(published_at=at(2025, 7, 1))
    harris = AgencyFactory(name="Harris County Sheriff's Office", state="TX", county_fips="48201")
    baker = AgencyFactory(name="Baker County Sheriff's Office", state="FL", county_fips="12003")
    harris_jem = AgreementFactory(agency=harris, model=SupportModel.JEM)
    harris_tfm = AgreementFactory(agency=harris, model=SupportModel.TFM)
    baker_wso = AgreementFactory(agency=baker, model=SupportModel.WSO)
    listed(june, harris_jem, harris_tfm)
    listed(july, harris_jem, harris_tfm, baker_wso)
    return {"june": june, "july": july, "harris": harris, "baker": baker, "baker_wso": baker_wso}


# --- /api/v1/stats/ ---------------------------------------------------------------


def test_stats_as_of_uses_list_in_force_that_day(api, two_lists):
    response = api.get("/api/v1/stats/", {"as_of": "2025-06-30"})

    assert response.status_code == 200
    body = response.json()
    assert body["as_of"] == "2025-06-30"
    assert body["snapshot"]["id"] == two_lists["june"].pk
    assert body["snapshot"]["sha256"] == two_lists["june"].sha256
    assert body["agreements"] == 2
    assert body["agencies"] == 1
    assert body["by_model"] == {"JEM": 1, "TFM": 1, "WSO": 0}
    assert body["by_state_model"] == {"TX": {"JEM": 1, "TFM": 1}}


def test_stats_without_date_uses_latest_list(api, two_lists):
    body = api.get("/api/v1/stats/").json()

    assert body["as_of"] is None
    assert body["snapshot"]["id"] == two_lists["july"].pk
    assert body["by_state"] == {"FL": 1, "TX": 2}


def test_stats_on_publication_day_includes_that_list(api, two_lists):
    body = api.get("/api/v1/stats/", {"as_of": "2025-07-01"}).json()

    assert body["snapshot"]["id"] == two_lists["july"].pk


def test_stats_before_first_list_is_404_with_sentence(api, two_lists):
    response = api.get("/api/v1/stats/", {"as_of": "2025-01-01"})

    assert response.status_code == 404
    detail = response.json()["detail"]
    assert "2025-01-01" in detail
    assert "2025-06-01" in detail


def test_stats_with_nothing_imported_says_so(api):
    response = api.get("/api/v1/stats/")

    assert response.status_code == 404
    assert "No ICE participating list has been imported yet" in response.json()["detail"]


@pytest.mark.parametrize("bad", ["2025-13-01", "yesterday", "07/01/2025", "2025-02-30"])
def test_stats_bad_date_is_400_with_sentence(api, two_lists, bad):
    response = api.get("/api/v1/stats/", {"as_of": bad})

    assert response.status_code == 400
    assert response.json() == {
        "detail": "as_of: Write the date as YYYY-MM-DD, for example 2025-07-01."
    }


# --- /api/v1/agreements/ ----------------------------------------------------------


def ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {item["id"] for item in response.json()["results"]}


def test_agreements_filter_by_state_model_status_fips(api, two_lists):
    ended = AgreementFactory(agency=two_lists["baker"], status="ended")
    baker_wso = two_lists["baker_wso"]

    assert ids(api.get("/api/v1/agreements/", {"state": "fl"})) == {baker_wso.pk, ended.pk}
    assert ids(api.get("/api/v1/agreements/", {"model": "WSO"})) == {baker_wso.pk}
    assert ids(api.get("/api/v1/agreements/", {"status": "ended"})) == {ended.pk}
    assert ids(api.get("/api/v1/agreements/", {"county_fips": "12003", "status": "active"})) == {
        baker_wso.pk
    }


def test_agreements_as_of_lists_that_days_agreements(api, two_lists):
    june = ids(api.get("/api/v1/agreements/", {"as_of": "2025-06-15"}))
    july = ids(api.get("/api/v1/agreements/", {"as_of": "2025-07-15"}))

    assert len(june) == 2
    assert july == june | {two_lists["baker_wso"].pk}
    assert ids(api.get("/api/v1/agreements/", {"as_of": "2024-01-01"})) == set()


def test_agreements_bad_filter_values_are_400(api, two_lists):
    assert api.get("/api/v1/agreements/", {"as_of": "junk"}).status_code == 400
    assert api.get("/api/v1/agreements/", {"model": "XYZ"}).status_code == 400


def test_agreement_shows_its_agency(api, two_lists):
    body = api.get(f"/api/v1/agreements/{two_lists['baker_wso'].pk}/").json()

    assert body["agency"]["slug"] == two_lists["baker"].slug
    assert body["model_label"] == "Warrant Service Officer"


# --- /api/v1/agencies/ ------------------------------------------------------------


def test_agency_detail_by_slug_with_aliases_and_agreements(api, two_lists):
    harris = two_lists["harris"]
    AgencyAliasFactory(agency=harris, name="Harris Co Sheriffs Office")

    body = api.get(f"/api/v1/agencies/{harris.slug}/").json()

    assert body["name"] == "Harris County Sheriff's Office"
    assert [a["name"] for a in body["aliases"]] == ["Harris Co Sheriffs Office"]
    assert sorted(a["model"] for a in body["agreements"]) == ["JEM", "TFM"]
    assert body["agreement_count"] == 2
    assert body["url"] == f"http://testserver/agencies/{harris.slug}/"


def test_agencies_filters(api, two_lists):
    harris, baker = two_lists["harris"], two_lists["baker"]
    police = AgencyFactory(state="TX", kind=AgencyKind.MUNICIPALITY, needs_review=True)
    AgencyAliasFactory(agency=baker, name="Baker Co. S.O.")

    assert ids(api.get("/api/v1/agencies/", {"state": "TX"})) == {harris.pk, police.pk}
    assert ids(api.get("/api/v1/agencies/", {"model": "TFM"})) == {harris.pk}
    assert ids(api.get("/api/v1/agencies/", {"kind": "municipality"})) == {police.pk}
    assert ids(api.get("/api/v1/agencies/", {"needs_review": "true"})) == {police.pk}
    assert ids(api.get("/api/v1/agencies/", {"q": "baker co."})) == {baker.pk}
    assert ids(api.get("/api/v1/agencies/", {"county_fips": "48201"})) == {harris.pk}
    assert ids(api.get("/api/v1/agencies/", {"as_of": "2025-06-15"})) == {harris.pk}
    assert ids(api.get("/api/v1/agencies/", {"as_of": "2025-07-15"})) == {harris.pk, baker.pk}
    assert ids(api.get("/api/v1/agencies/", {"as_of": "2025-05-15"})) == set()


def test_unknown_agency_is_404(api):
    assert api.get("/api/v1/agencies/no-such-agency/").status_code == 404


# --- /api/v1/events/ --------------------------------------------------------------


def test_events_filters(api, two_lists):
    baker_wso = two_lists["baker_wso"]
    july, june = two_lists["july"], two_lists["june"]
    signed = AgreementEventFactory(agreement=baker_wso, snapshot=july)
    delisted = AgreementEventFactory(
        agreement=AgreementFactory(agency=two_lists["harris"]),
        snapshot=june,
        kind=AgreementEvent.Kind.DELISTED,
    )

    assert ids(api.get("/api/v1/events/", {"agency": two_lists["baker"].slug})) == {signed.pk}
    assert ids(api.get("/api/v1/events/", {"state": "TX"})) == {delisted.pk}
    assert ids(api.get("/api/v1/events/", {"kind": "delisted"})) == {delisted.pk}
    assert ids(api.get("/api/v1/events/", {"agreement": baker_wso.pk})) == {signed.pk}
    assert ids(api.get("/api/v1/events/", {"since": "2025-07-01"})) == {signed.pk}
    assert ids(api.get("/api/v1/events/", {"until": "2025-06-01"})) == {delisted.pk}
    assert ids(api.get("/api/v1/events/", {"since": "2025-06-02", "until": "2025-06-30"})) == set()
    assert api.get("/api/v1/events/", {"since": "June"}).status_code == 400


def test_events_newest_first(api, two_lists):
    older = AgreementEventFactory(snapshot=two_lists["june"])
    newer = AgreementEventFactory(snapshot=two_lists["july"])

    results = api.get("/api/v1/events/").json()["results"]

    assert [e["id"] for e in results] == [newer.pk, older.pk]
    assert results[0]["kind_label"] == "Added"


# --- /api/v1/snapshots/ -----------------------------------------------------------


def test_snapshot_detail_has_warnings_header_file_and_sha(api):
    snapshot = ListSnapshotFactory(
        warnings=[{"row": 7, "column": "STATE", "value": "Texs", "message": "Misspelled state."}],
        header=["STATE", "LAW ENFORCEMENT AGENCY"],
    )

    body = api.get(f"/api/v1/snapshots/{snapshot.pk}/").json()

    assert body["sha256"] == snapshot.sha256
    assert body["header"] == ["STATE", "LAW ENFORCEMENT AGENCY"]
    assert body["warnings"][0]["message"] == "Misspelled state."
    assert body["warning_count"] == 1
    assert body["file_url"] == f"http://testserver/snapshots/{snapshot.pk}/file/"
    assert body["url"] == f"http://testserver/snapshots/{snapshot.pk}/"


def test_snapshot_list_filters_by_kind_and_is_newest_first(api):
    old = ListSnapshotFactory(published_at=at(2025, 5, 1))
    new = ListSnapshotFactory(published_at=at(2025, 6, 1))
    pending = ListSnapshotFactory(published_at=at(2025, 5, 15), kind="pending")

    results = api.get("/api/v1/snapshots/").json()["results"]
    assert [s["id"] for s in results] == [new.pk, pending.pk, old.pk]
    assert "warnings" not in results[0]
    assert ids(api.get("/api/v1/snapshots/", {"kind": "pending"})) == {pending.pk}


def test_snapshot_rows_in_sheet_order(api, two_lists):
    body = api.get(f"/api/v1/snapshots/{two_lists['july'].pk}/rows/").json()

    assert [r["row_number"] for r in body["results"]] == [2, 3, 4]
    assert body["results"][2]["raw"]["SUPPORT TYPE"] == "Warrant Service Officer"


# --- Read-only, paginated, flat query counts, schema ------------------------------


def test_api_is_read_only(api, two_lists, django_user_model):
    user = django_user_model.objects.create_user("researcher", password="pw")
    api.force_authenticate(user)

    assert api.post("/api/v1/agencies/", {"name": "x"}).status_code == 405
    assert api.delete(f"/api/v1/agencies/{two_lists['harris'].slug}/").status_code == 405
    assert api.post("/api/v1/stats/", {}).status_code == 405


def test_lists_are_paginated(api):
    AgencyFactory.create_batch(3)

    body = api.get("/api/v1/agencies/", {"page_size": 2}).json()

    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert body["next"]


def _populate(n: int) -> None:
    for _ in range(n):
        snapshot = ListSnapshotFactory()
        agency = AgencyFactory()
        AgencyAliasFactory(agency=agency)
        agreement = AgreementFactory(agency=agency)
        AgreementFactory(agency=agency, model=SupportModel.TFM, predecessor=agreement)
        listed(snapshot, agreement)
        AgreementEventFactory(agreement=agreement, snapshot=snapshot)


@pytest.mark.parametrize(
    "url",
    ["/api/v1/agencies/", "/api/v1/agreements/", "/api/v1/events/", "/api/v1/snapshots/"],
)
def test_list_query_count_does_not_grow_with_results(api, url, django_assert_max_num_queries):
    _populate(3)
    with django_assert_max_num_queries(6) as small:
        api.get(url)
    _populate(20)
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = api.get(url)
    assert response.json()["count"] > 20


def test_stats_query_count_is_flat(api, django_assert_max_num_queries):
    _populate(30)

    with django_assert_max_num_queries(8):
        assert api.get("/api/v1/stats/").status_code == 200


def test_api_docs_and_schema_are_served(client):
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()


def test_openapi_schema_lists_endpoints_without_warnings(capsys):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")

    from drf_spectacular.generators import SchemaGenerator

    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    for path in [
        "/api/v1/stats/",
        "/api/v1/agencies/",
        "/api/v1/agencies/{slug}/",
        "/api/v1/agreements/",
        "/api/v1/snapshots/",
        "/api/v1/snapshots/{id}/",
        "/api/v1/events/",
    ]:
        assert path in paths
    params = {p["name"] for p in paths["/api/v1/agreements/"]["get"]["parameters"]}
    assert {"state", "model", "status", "as_of", "county_fips", "page"} <= params


def test_agency_counts_are_not_changed_by_filters(api, two_lists):
    AgreementFactory(agency=two_lists["harris"], status="ended", model="TFM")

    body = api.get("/api/v1/agencies/", {"model": "TFM"}).json()

    harris = next(a for a in body["results"] if a["slug"] == two_lists["harris"].slug)
    assert body["count"] == 1
    assert (harris["agreement_count"], harris["active_agreement_count"]) == (3, 2)
    assert len(harris["agreements"]) == 3
