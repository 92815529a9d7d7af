"""Collections: made, filled from document and agency pages, ordered, noted, shared as the
policy allows, downloaded as CSV and JSON; someone else's by its id is a 404."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import IntegrityError, transaction
from django.template import Context, Template
from django.test import Client, RequestFactory

from research import policy
from research.models import Collection, CollectionItem, Document
from research.services.collections import (
    CollectionRefused,
    collection_item_add,
    collection_item_move,
)
from tests.research.factories import (
    AgencyFactory,
    CollectionFactory,
    CollectionItemFactory,
    CuratorFactory,
    DocumentFactory,
    ResearcherFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def titles(collection: Collection, client: Client) -> list[str]:
    """The items' titles as the collection's link shows them, in order."""
    rows = client.get(f"/collections/{collection.share_key}/?format=json")
    assert rows.status_code == 200
    return [row["title"] for row in json.loads(b"".join(rows.streaming_content))["results"]]


# --- Making and filling ------------------------------------------------------------


def test_a_researcher_makes_a_collection_and_fills_it_from_pages():
    researcher = ResearcherFactory()
    client = signed_in(researcher)
    made = client.post("/me/collections/", {"title": "Florida jails", "visibility": "private"})
    collection = Collection.objects.get(owner=researcher)
    assert made.status_code == 302
    assert made["Location"] == f"/me/collections/{collection.pk}/"
    document = DocumentFactory(title="Baker County renews")
    agency = AgencyFactory(name="Baker County Sheriff's Office", state="FL")
    back = f"/documents/{document.pk}/"
    added = client.post(
        "/me/collections/add/",
        {"collection": collection.pk, "document": document.pk, "note": "Renewal", "next": back},
    )
    assert added.status_code == 302
    assert added["Location"] == back
    client.post("/me/collections/add/", {"collection": collection.pk, "agency": agency.pk})
    page = client.get(f"/me/collections/{collection.pk}/").content.decode()
    assert "Baker County renews" in page
    assert "Baker County Sheriff&#x27;s Office" in page
    assert "Renewal" in page


def test_the_collect_form_can_start_a_first_collection():
    researcher = ResearcherFactory()
    document = DocumentFactory()
    signed_in(researcher).post(
        "/me/collections/add/", {"title": "Reading list", "document": document.pk}
    )
    collection = Collection.objects.get(owner=researcher)
    assert collection.title == "Reading list"
    assert [item.document for item in collection.items.all()] == [document]


def test_an_item_is_added_once():
    researcher = ResearcherFactory()
    collection = CollectionFactory(owner=researcher)
    document = DocumentFactory()
    client = signed_in(researcher)
    data = {"collection": collection.pk, "document": document.pk}
    client.post("/me/collections/add/", data)
    again = client.post("/me/collections/add/", data, follow=True)
    assert "is already in" in again.content.decode()
    assert collection.items.count() == 1


def test_an_item_points_at_exactly_one_thing():
    collection = CollectionFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        CollectionItem.objects.create(collection=collection, document=None, agency=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        CollectionItem.objects.create(
            collection=collection, document=DocumentFactory(), agency=AgencyFactory()
        )


def test_the_agency_page_offers_the_collect_form_to_researchers_only():
    agency = AgencyFactory()
    CollectionFactory(owner=(researcher := ResearcherFactory()), title="My agencies")
    researcher_page = signed_in(researcher).get(agency.get_absolute_url()).content.decode()
    assert "Add to a collection" in researcher_page
    assert "My agencies" in researcher_page
    assert f'name="agency" value="{agency.pk}"' in researcher_page
    assert "Add to a collection" not in Client().get(agency.get_absolute_url()).content.decode()
    no_role = signed_in(UserFactory()).get(agency.get_absolute_url()).content.decode()
    assert "Add to a collection" not in no_role


def test_an_account_without_a_role_keeps_no_collection():
    client = signed_in(UserFactory())
    assert client.post("/me/collections/", {"title": "Mine"}).status_code == 403
    assert not Collection.objects.exists()


def test_a_document_one_may_not_see_cannot_be_added():
    researcher = ResearcherFactory()
    collection = CollectionFactory(owner=researcher)
    hidden = DocumentFactory(status=Document.Status.NEEDS_REVIEW)
    response = signed_in(researcher).post(
        "/me/collections/add/", {"collection": collection.pk, "document": hidden.pk}
    )
    assert response.status_code == 404
    assert not collection.items.exists()


# --- Order and notes ---------------------------------------------------------------


def test_items_move_up_and_down_without_javascript():
    researcher = ResearcherFactory(username="owner")
    collection = CollectionFactory(owner=researcher, visibility=Collection.Visibility.PUBLIC)
    first, second, third = (
        CollectionItemFactory(collection=collection, document=DocumentFactory(title=name))
        for name in ("First", "Second", "Third")
    )
    client = signed_in(researcher)
    url = f"/me/collections/{collection.pk}/items/"
    assert client.post(f"{url}{third.pk}/", {"action": "up"}).status_code == 302
    assert titles(collection, Client()) == ["First", "Third", "Second"]
    client.post(f"{url}{first.pk}/", {"action": "down"})
    assert titles(collection, Client()) == ["Third", "First", "Second"]
    client.post(f"{url}{second.pk}/", {"action": "down"})  # already last: nothing moves
    assert titles(collection, Client()) == ["Third", "First", "Second"]


def test_moving_survives_gaps_and_ties_in_positions():
    researcher = ResearcherFactory()
    collection = CollectionFactory(owner=researcher)
    a = CollectionItemFactory(collection=collection, position=5)
    b = CollectionItemFactory(collection=collection, position=5)
    c = CollectionItemFactory(collection=collection, position=40)
    collection_item_move(user=researcher, item=c, direction="up")
    order = list(collection.items.order_by("position", "pk").values_list("pk", flat=True))
    assert order == [a.pk, c.pk, b.pk]


def test_a_note_is_saved_and_shown_on_the_link():
    researcher = ResearcherFactory()
    collection = CollectionFactory(owner=researcher, visibility=Collection.Visibility.PUBLIC)
    item = CollectionItemFactory(collection=collection)
    signed_in(researcher).post(
        f"/me/collections/{collection.pk}/items/{item.pk}/",
        {"action": "note", "note": "Signed <b>after</b> the vote."},
    )
    page = Client().get(collection.get_absolute_url()).content.decode()
    assert "Signed &lt;b&gt;after&lt;/b&gt; the vote." in page


def test_removing_an_item_keeps_the_document():
    researcher = ResearcherFactory()
    item = CollectionItemFactory(collection=CollectionFactory(owner=researcher))
    signed_in(researcher).post(
        f"/me/collections/{item.collection_id}/items/{item.pk}/", {"action": "remove"}
    )
    assert not CollectionItem.objects.exists()
    assert Document.objects.filter(pk=item.document_id).exists()


# --- Who sees it -----------------------------------------------------------------------


def test_a_private_collection_is_its_owners_alone():
    owner, other = ResearcherFactory(), ResearcherFactory()
    collection = CollectionFactory(owner=owner)
    link = collection.get_absolute_url()
    assert signed_in(owner).get(link).status_code == 200
    assert signed_in(other).get(link).status_code == 404
    assert signed_in(CuratorFactory()).get(link).status_code == 404
    assert Client().get(link).status_code == 404


def test_a_shared_collection_is_read_by_the_people_named():
    owner = ResearcherFactory()
    reader, stranger = ResearcherFactory(username="reader"), ResearcherFactory()
    collection = CollectionFactory(owner=owner, title="For Ana")
    response = signed_in(owner).post(
        f"/me/collections/{collection.pk}/",
        {"title": "For Ana", "visibility": "shared", "shared_with": "reader"},
    )
    assert response.status_code == 302
    link = collection.get_absolute_url()
    assert signed_in(reader).get(link).status_code == 200
    assert "For Ana" in signed_in(reader).get("/me/").content.decode()
    assert signed_in(stranger).get(link).status_code == 404
    assert Client().get(link).status_code == 404


def test_sharing_with_an_unknown_name_is_refused_and_changes_nothing():
    owner = ResearcherFactory()
    collection = CollectionFactory(owner=owner, title="Before")
    response = signed_in(owner).post(
        f"/me/collections/{collection.pk}/",
        {"title": "After", "visibility": "shared", "shared_with": "nobody-here"},
    )
    assert response.status_code == 400
    assert "No account is named nobody-here" in response.content.decode()
    collection.refresh_from_db()
    assert collection.title == "Before"
    assert collection.visibility == Collection.Visibility.PRIVATE


def test_a_public_collection_is_read_by_anyone_with_its_link():
    collection = CollectionFactory(visibility=Collection.Visibility.PUBLIC, title="Open list")
    CollectionItemFactory(collection=collection, document=DocumentFactory(title="Public doc"))
    page = Client().get(collection.get_absolute_url()).content.decode()
    assert "Open list" in page
    assert "Public doc" in page


def test_a_public_collection_never_shows_a_document_its_reader_may_not_see():
    owner = ResearcherFactory()
    collection = CollectionFactory(owner=owner, visibility=Collection.Visibility.PUBLIC)
    draft = DocumentFactory(
        title="My draft in review", status=Document.Status.NEEDS_REVIEW, submitted_by=owner
    )
    collection_item_add(user=owner, collection=collection, document=draft)
    CollectionItemFactory(collection=collection, document=DocumentFactory(title="Published"))
    assert titles(collection, Client()) == ["Published"]
    assert titles(collection, signed_in(owner)) == ["My draft in review", "Published"]


@pytest.mark.parametrize(
    "path",
    [
        "/me/collections/{pk}/",
        "/me/collections/{pk}/delete/",
    ],
)
def test_someone_elses_collection_by_id_is_not_found(path):
    collection = CollectionFactory(title="Untouched")
    other = signed_in(ResearcherFactory())
    url = path.format(pk=collection.pk)
    assert other.get(url).status_code == 404
    assert other.post(url, {"title": "Taken", "visibility": "public"}).status_code == 404
    collection.refresh_from_db()
    assert collection.title == "Untouched"
    assert Collection.objects.filter(pk=collection.pk).exists()


def test_someone_elses_items_cannot_be_moved_removed_or_added_to():
    collection = CollectionFactory()
    item = CollectionItemFactory(collection=collection)
    other = signed_in(ResearcherFactory())
    url = f"/me/collections/{collection.pk}/items/{item.pk}/"
    assert other.post(url, {"action": "remove"}).status_code == 404
    added = other.post(
        "/me/collections/add/", {"collection": collection.pk, "document": DocumentFactory().pk}
    )
    assert added.status_code == 404
    assert list(collection.items.all()) == [item]


def test_only_the_owner_may_change_a_collection():
    owner, other = ResearcherFactory(), ResearcherFactory()
    collection = CollectionFactory(owner=owner)
    assert policy.can_edit_collection(owner, collection)
    assert not policy.can_edit_collection(other, collection)
    with pytest.raises(CollectionRefused, match="Only the owner"):
        collection_item_add(user=other, collection=collection, document=DocumentFactory())


def test_deleting_a_collection_asks_first_and_keeps_the_documents():
    owner = ResearcherFactory()
    item = CollectionItemFactory(collection=CollectionFactory(owner=owner, title="Old"))
    client = signed_in(owner)
    url = f"/me/collections/{item.collection_id}/delete/"
    assert "Delete “Old”?" in client.get(url).content.decode()
    assert client.post(url).status_code == 302
    assert not Collection.objects.exists()
    assert Document.objects.filter(pk=item.document_id).exists()


# --- Downloads ------------------------------------------------------------------------


def test_a_collection_downloads_as_csv_and_json_in_its_order():
    owner = ResearcherFactory(username="collector")
    collection = CollectionFactory(
        owner=owner, title="Jails", visibility=Collection.Visibility.PUBLIC
    )
    CollectionItemFactory(
        collection=collection, document=DocumentFactory(title="MOA text"), note="=SUM(A1)"
    )
    CollectionItemFactory(
        collection=collection, document=None, agency=AgencyFactory(name="Polk", state="FL")
    )
    response = Client().get(f"{collection.get_absolute_url()}?format=csv")
    assert response["Content-Disposition"].startswith('attachment; filename="collection-jails-')
    text = b"".join(response.streaming_content).decode().lstrip("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(row["position"], row["kind"], row["title"]) for row in rows] == [
        ("1", "document", "MOA text"),
        ("2", "agency", "Polk (FL)"),
    ]
    assert rows[0]["note"] == "'=SUM(A1)"  # a spreadsheet reads it as text, not a formula
    assert rows[1]["state"] == "FL"
    body = json.loads(
        b"".join(Client().get(f"{collection.get_absolute_url()}?format=json").streaming_content)
    )
    assert body["meta"]["collection"] == "Jails"
    assert body["meta"]["owner"] == "collector"
    assert [row["title"] for row in body["results"]] == ["MOA text", "Polk (FL)"]


def test_a_private_collection_does_not_download_for_others():
    collection = CollectionFactory()
    CollectionItemFactory(collection=collection)
    assert Client().get(f"{collection.get_absolute_url()}?format=csv").status_code == 404


def test_the_collect_partial_renders_for_a_document_page():
    """What the document page includes: a form naming the document and one's collections."""
    researcher = ResearcherFactory()
    CollectionFactory(owner=researcher, title="Court filings")
    document = DocumentFactory()
    template = Template(
        '{% include "research/_collect_form.html" with collect_document=document %}'
    )
    request = RequestFactory().get(f"/documents/{document.pk}/")
    request.user = researcher
    html = template.render(Context({"request": request, "document": document}))
    assert f'name="document" value="{document.pk}"' in html
    assert "Court filings" in html
    assert f'name="next" value="/documents/{document.pk}/"' in html
    request.user = AnonymousUser()
    assert "form" not in template.render(Context({"request": request, "document": document}))
