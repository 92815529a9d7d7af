"""Curator admin: agency search and filters, merge, history, snapshots, upload."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from agreements.models import Agency, AgencyAlias, AgreementEvent, ListSnapshot
from research.models import DocumentAgency
from tests.agreements.factories import (
    AgencyAliasFactory,
    AgencyFactory,
    AgreementFactory,
    ListSnapshotFactory,
    listed,
)
from tests.research.factories import DocumentFactory

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent / "data"
CHANGELIST = "/admin/agreements/agency/"


@pytest.fixture
def curator(client, django_user_model):
    user = django_user_model.objects.create_superuser("curator", "c@example.org", "pw")
    client.force_login(user)
    return user


def test_agency_search_finds_aliases(client, curator):
    agency = AgencyFactory(name="Lafayette County Sheriff's Office", state="AR")
    AgencyAliasFactory(agency=agency, name="Layafette County Sheriffs Office")
    AgencyFactory(name="Pulaski County Sheriff's Office", state="AR")

    page = client.get(CHANGELIST, {"q": "Layafette"}).content.decode()

    assert "Lafayette County Sheriff&#x27;s Office" in page
    assert "Pulaski" not in page


def test_agency_filters_by_model_state_and_review(client, curator):
    tfm = AgencyFactory(name="Task Force Town Police", state="FL", needs_review=True)
    AgreementFactory(agency=tfm, model="TFM")
    AgreementFactory(agency=AgencyFactory(name="Jail County Sheriff", state="TX"), model="JEM")

    assert "Task Force Town" in client.get(CHANGELIST, {"model": "TFM"}).content.decode()
    assert "Jail County" not in client.get(CHANGELIST, {"model": "TFM"}).content.decode()
    assert "Jail County" not in client.get(CHANGELIST, {"state": "FL"}).content.decode()
    assert (
        "Jail County" not in client.get(CHANGELIST, {"needs_review__exact": "1"}).content.decode()
    )


def test_agency_page_shows_aliases_agreements_and_history(client, curator):
    agency = AgencyFactory(name="Baker County Sheriff's Office", state="FL")
    AgencyAliasFactory(agency=agency, name="Baker Co SO")
    AgreementFactory(agency=agency, model="WSO")

    page = client.get(f"{CHANGELIST}{agency.pk}/change/").content.decode()
    history = client.get(f"{CHANGELIST}{agency.pk}/history/")

    assert "Baker Co SO" in page
    assert "WSO" in page
    assert history.status_code == 200


def test_curator_edit_of_agreement_is_in_history(client, curator):
    agreement = AgreementFactory(moa_url="")
    url = f"/admin/agreements/agreement/{agreement.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None}
    data.update(
        agency=agreement.agency_id,
        moa_url="https://www.ice.gov/doc-lib/moa.pdf",
        signed_on=agreement.signed_on.isoformat(),
        predecessor="",
    )
    data.pop("first_listed_at", None)
    data.pop("last_listed_at", None)
    # The read-only events inline still posts its (empty) management form.
    data.update({"events-TOTAL_FORMS": 0, "events-INITIAL_FORMS": 0, "events-MAX_NUM_FORMS": 0})

    response = client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    latest = agreement.history.latest()
    assert latest.moa_url == "https://www.ice.gov/doc-lib/moa.pdf"
    assert latest.history_user == curator


def _merge_post(client, agencies, **extra):
    return client.post(
        CHANGELIST,
        {"action": "merge_agencies", ACTION_CHECKBOX_NAME: [a.pk for a in agencies], **extra},
    )


def test_merge_action_asks_which_agency_survives(client, curator):
    a = AgencyFactory(name="Polk County Sheriff's Office", state="GA")
    b = AgencyFactory(name="Polk Co Sheriffs Office", state="GA")

    response = _merge_post(client, [a, b])

    assert response.status_code == 200
    page = response.content.decode()
    assert "Choose the agency to keep" in page
    assert f'value="{a.pk}"' in page and f'value="{b.pk}"' in page
    assert Agency.objects.count() == 2


def test_merge_action_merges_into_chosen_agency(client, curator):
    keep = AgencyFactory(name="Polk County Sheriff's Office", state="GA")
    drop = AgencyFactory(name="Polk Co Sheriffs Office", state="GA")
    agreement = AgreementFactory(agency=drop)
    listed(ListSnapshotFactory(), agreement)
    document = DocumentFactory()
    DocumentAgency.objects.create(document=document, agency=drop)

    response = _merge_post(client, [keep, drop], confirm="yes", survivor=keep.pk)

    assert response.status_code == 302
    assert response["Location"].endswith(f"/admin/agreements/agency/{keep.pk}/change/")
    assert list(Agency.objects.all()) == [keep]
    agreement.refresh_from_db()
    assert agreement.agency == keep
    assert AgencyAlias.objects.get(name="Polk Co Sheriffs Office").agency == keep
    assert DocumentAgency.objects.get(document=document).agency == keep
    messages = [str(m) for m in response.wsgi_request._messages]
    assert any("Merged Polk Co Sheriffs Office" in m for m in messages)


def test_merge_action_needs_two_agencies(client, curator):
    lone = AgencyFactory()

    response = _merge_post(client, [lone])

    assert response.status_code == 302
    assert Agency.objects.filter(pk=lone.pk).exists()


def test_snapshot_page_is_read_only_with_warnings_and_file(client, curator):
    snapshot = ListSnapshotFactory(
        warnings=[
            {"row": 3, "column": "STATE", "value": "AlABAMA", "message": "State name in odd case."}
        ],
    )
    agreement = AgreementFactory(agency=AgencyFactory(name="Colbert County Sheriff"))
    listed(snapshot, agreement)
    url = f"/admin/agreements/listsnapshot/{snapshot.pk}/change/"

    page = client.get(url).content.decode()

    assert f'href="/admin/agreements/agency/{agreement.agency_id}/change/"' in page
    assert "Colbert County Sheriff" in page
    assert f"/admin/agreements/snapshotrow/?snapshot__id__exact={snapshot.pk}" in page
    assert "State name in odd case." in page
    assert "AlABAMA" in page
    assert f'href="/snapshots/{snapshot.pk}/file/"' in page
    assert 'name="_save"' not in page
    assert client.post(f"/admin/agreements/listsnapshot/{snapshot.pk}/delete/").status_code == 403
    assert client.get("/admin/agreements/listsnapshot/add/").status_code == 403


def test_snapshot_list_offers_upload(client, curator):
    page = client.get("/admin/agreements/listsnapshot/").content.decode()

    assert reverse("admin:agreements_listsnapshot_upload") in page


def test_upload_needs_permission(client, django_user_model):
    staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(staff)

    assert client.get(reverse("admin:agreements_listsnapshot_upload")).status_code == 403


def _upload(client, path: Path, **data):
    with path.open("rb") as fh:
        upload = SimpleUploadedFile(path.name, fh.read())
    return client.post(reverse("admin:agreements_listsnapshot_upload"), {"file": upload, **data})


def test_upload_imports_snapshot_and_shows_summary(client, curator):
    response = _upload(client, DATA / "pendingAgencies06062025am.xlsx")

    snapshot = ListSnapshot.objects.get()
    assert response.status_code == 302
    assert response["Location"].endswith(f"/listsnapshot/{snapshot.pk}/change/")
    assert snapshot.kind == "pending"
    assert snapshot.imported_by == curator
    assert snapshot.rows.count() > 0
    messages = [str(m) for m in response.wsgi_request._messages]
    assert messages and "row" in messages[0]

    again = _upload(client, DATA / "pendingAgencies06062025am.xlsx")
    assert ListSnapshot.objects.count() == 1
    assert any("already imported" in str(m) for m in again.wsgi_request._messages)


def test_upload_refuses_a_non_spreadsheet_with_a_sentence(client, curator, tmp_path):
    bogus = tmp_path / "participatingAgencies.xlsx"
    bogus.write_text("this is not a workbook")

    response = _upload(client, bogus)

    assert response.status_code == 200
    errors = response.context["form"].errors["file"]
    assert errors and errors[0].endswith(".")
    assert ListSnapshot.objects.count() == 0


def test_curator_alias_gets_the_importers_match_key():
    from agreements import normalize
    from agreements.admin import AliasForm

    form = AliasForm(data={"name": "POLK CO. SHERIFF’S OFFICE", "state": "GA", "source": "curator"})

    assert form.is_valid(), form.errors
    assert form.instance.name_key == normalize.name_key("Polk County Sheriff's Office")


def test_snapshot_page_query_count_does_not_grow_with_rows(
    client, curator, django_assert_max_num_queries
):
    snapshot = ListSnapshotFactory()
    listed(snapshot, *AgreementFactory.create_batch(2))
    url = f"/admin/agreements/listsnapshot/{snapshot.pk}/change/"
    with django_assert_max_num_queries(12) as few:
        client.get(url)
    listed(snapshot, *AgreementFactory.create_batch(30))

    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get(url).content.decode()
    assert page.count("<tr><td>") >= 32


def test_rows_of_a_snapshot_can_be_browsed(client, curator):
    snapshot = ListSnapshotFactory()
    listed(snapshot, AgreementFactory(agency=AgencyFactory(name="Baker County Sheriff")))
    listed(ListSnapshotFactory(), AgreementFactory(agency=AgencyFactory(name="Other Sheriff")))

    page = client.get(
        "/admin/agreements/snapshotrow/", {"snapshot__id__exact": snapshot.pk}
    ).content.decode()

    assert "Baker County Sheriff" in page
    assert "Other Sheriff" not in page


def test_upload_with_publication_time_and_kind(client, curator):
    response = _upload(
        client,
        DATA / "participatingAgencies05232025am.xlsx",
        published_at="2025-05-23 08:00",
        kind="participating",
    )

    snapshot = ListSnapshot.objects.get()
    assert response.status_code == 302
    assert snapshot.published_at.isoformat() == "2025-05-23T08:00:00+00:00"
    assert snapshot.published_at_source == "argument"


def test_agency_page_lists_possible_duplicates_for_a_merge(client, curator):
    flagged = AgencyFactory(name="Lake Clarke Shores Police Department", state="FL")
    close = AgencyFactory(name="Lake Clark Shores Police Department", state="FL")

    page = client.get(f"{CHANGELIST}{flagged.pk}/change/").content.decode()
    listing = client.get(CHANGELIST, {"id__in": f"{flagged.pk},{close.pk}"}).content.decode()

    assert f'href="/admin/agreements/agency/{close.pk}/change/"' in page
    assert f"?id__in={flagged.pk},{close.pk}" in page
    assert "Lake Clark Shores" in listing and "Lake Clarke Shores" in listing


def test_agreement_page_shows_its_history_and_rows(client, curator):
    agreement = AgreementFactory()
    snapshot = ListSnapshotFactory()
    listed(snapshot, agreement)
    AgreementEvent.objects.create(
        agreement=agreement,
        agency=agreement.agency,
        kind="moa_posted",
        snapshot=snapshot,
        occurred_at=snapshot.published_at,
    )

    page = client.get(f"/admin/agreements/agreement/{agreement.pk}/change/").content.decode()
    rows = client.get(
        "/admin/agreements/snapshotrow/", {"agreement__id__exact": agreement.pk}
    ).content.decode()

    assert "MOA posted" in page
    assert f"?agreement__id__exact={agreement.pk}" in page
    assert "1 rows of ICE" in page
    assert "1 snapshot row" in rows


# --- Identity rules -------------------------------------------------------------

RULES = "/admin/agreements/identityrule/"
POSSIBLE = "/admin/agreements/possiblerename/"


def _brevard_lists() -> None:
    """Melbourne PD dropped and Melbourne Beach PD added with the same date: a possible rename."""
    import datetime as dt
    import io

    from agreements.services import snapshot_import
    from tests.agreements.ice_builder import row, workbook

    for month, name in (
        (3, "Melbourne Police Department"),
        (4, "Melbourne Beach Police Department"),
    ):
        florida = {"state": "FLORIDA", "signed": dt.datetime(2025, 2, 26)}
        data = workbook(
            [
                row(agency=name, county="Brevard County", **florida),
                row(agency="Baker County Sheriff's Office", county="Baker County", **florida),
            ],
            modified=dt.datetime(2025, month, 1),
        )
        snapshot_import(
            file=io.BytesIO(data), filename=f"participatingAgencies0{month}012025am.xlsx"
        )


def test_curator_settles_a_possible_rename_as_the_same_agency(client, curator):
    from agreements.models import IdentityRule, PossibleRename

    _brevard_lists()
    possible = PossibleRename.objects.get()
    page = client.get(POSSIBLE).content.decode()
    assert "Melbourne Beach Police Department" in page

    client.post(POSSIBLE, {"action": "settle_same", ACTION_CHECKBOX_NAME: [possible.pk]})

    rule = IdentityRule.objects.get()
    assert (rule.decision, rule.decided_by) == ("same", curator)
    assert (
        Agency.objects.get(county_name="Brevard County").name == "Melbourne Beach Police Department"
    )
    kinds = set(AgreementEvent.objects.values_list("kind", flat=True))
    assert kinds == {"signed", "renamed"}
    assert not PossibleRename.objects.exists()


def test_rule_added_in_the_admin_applies_at_once_and_downloads_as_csv(client, curator):
    from agreements.models import IdentityRule

    _brevard_lists()
    response = client.post(
        f"{RULES}add/",
        {
            "state": "FL",
            "name_a": "Melbourne Police Department",
            "name_b": "Melbourne Beach Police Department",
            "decision": "distinct",
            "note": "Two towns in Brevard County.",
        },
    )
    assert response.status_code == 302
    rule = IdentityRule.objects.get()
    assert rule.decided_by == curator
    kinds = AgreementEvent.objects.filter(agency__name="Melbourne Police Department")
    assert set(kinds.values_list("kind", flat=True)) == {"signed", "delisted"}  # now "Ended"
    assert "Melbourne Beach Police Department" in client.get(RULES).content.decode()

    download = client.post(RULES, {"action": "download_csv", ACTION_CHECKBOX_NAME: [rule.pk]})

    assert download["Content-Type"].startswith("text/csv")
    lines = download.content.decode().splitlines()
    assert lines[0].startswith("state,name_a,name_b,decision,note")
    assert lines[1].startswith(
        "FL,Melbourne Beach Police Department,Melbourne Police Department,distinct,"
        "Two towns in Brevard County."
    )


def test_rule_naming_one_spelling_twice_is_refused_in_the_form(client, curator):
    from agreements.models import IdentityRule

    response = client.post(
        f"{RULES}add/",
        {"state": "FL", "name_a": "Polk Co SO", "name_b": "POLK COUNTY SO", "decision": "same"},
    )
    assert response.status_code == 200
    assert "same spelling" in response.content.decode()
    assert not IdentityRule.objects.exists()


def _status_shown(client, agreement) -> tuple[str, str, tuple]:
    """The status the agency page, the agreement list and the API show for ``agreement``."""
    import re

    page = client.get(agreement.agency.get_absolute_url()).content.decode()
    on_page = re.search(
        rf'<tr id="agreement-{agreement.pk}">\s*<td>.*?</td>\s*<td>(.*?)</td>', page, re.S
    )
    listing = client.get(reverse("agreements:agreement-list"), {"state": "FL"}).content.decode()
    in_list = re.search(
        rf"#agreement-{agreement.pk}\">[^<]*</a></td>\s*<td>[^<]*</td>\s*<td>.*?</td>\s*<td>(.*?)</td>",
        listing,
        re.S,
    )
    api = client.get(f"/api/v1/agreements/{agreement.pk}/").json()
    return on_page[1], in_list[1], (api["status"], api["ending_in_question"], api["status_label"])


def _ended_count(client) -> int:
    return client.get("/api/v1/agreements/", {"status": "ended"}).json()["count"]


@pytest.mark.parametrize("action", ["settle_distinct", "settle_same"])
def test_a_possible_rename_reads_name_changed_until_a_curator_settles_it(client, curator, action):
    """Not "Ended" anywhere public, nor counted as ended, until a curator decides."""
    from agreements.models import Agreement, PossibleRename

    _brevard_lists()
    dropped = Agreement.objects.get(agency__name="Melbourne Police Department")
    assert _status_shown(client, dropped) == (
        "Name changed?",
        "Name changed?",
        ("ended", True, "Name changed?"),
    )
    assert _ended_count(client) == 0
    for url in (reverse("agreements:agency-list"), reverse("agreements:state-detail", args=["FL"])):
        page = client.get(url).content.decode()
        assert "name changed?" in page
        assert "ended" not in page

    possible = PossibleRename.objects.get()
    client.post(POSSIBLE, {"action": action, ACTION_CHECKBOX_NAME: [possible.pk]})

    if action == "settle_distinct":
        dropped = Agreement.objects.get(agency__name="Melbourne Police Department")
        assert _status_shown(client, dropped) == ("Ended", "Ended", ("ended", False, "Ended"))
        assert _ended_count(client) == 1
    else:
        renamed = Agreement.objects.get(agency__county_name="Brevard County")
        assert renamed.agency.name == "Melbourne Beach Police Department"
        assert _status_shown(client, renamed) == ("Active", "Active", ("active", False, "Active"))
        assert _ended_count(client) == 0
