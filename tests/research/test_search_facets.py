"""Facet counts stay exact after every kind of write, whoever makes it.

search() counts facets from arrays each process keeps (research/search/facets.py),
reloaded when the index version token changes. These tests make each kind of
write between two searches and check that the counts a user sees change, so a
stale per-process cache would fail them.
"""

from __future__ import annotations

import pytest
from django.db import connections
from django.urls import reverse

from research.models import Document, DocumentAgency, Tag
from research.search import search
from research.services.linking import document_agency_review
from tests.research.factories import (
    AgencyFactory,
    AgreementFactory,
    DocumentAgencyFactory,
    DocumentFactory,
    TagFactory,
)


def facets(query: str = "zeppelin") -> dict[str, dict[str, int]]:
    results = search(query)
    return {name: {v.value: v.count for v in values} for name, values in results.facets.items()}


@pytest.fixture
def story(db):
    document = DocumentFactory(
        title="Zeppelin story", text="A zeppelin.", kind="news", publisher=""
    )
    agency = AgencyFactory(name="Cobb County Sheriff's Office", state="GA")
    AgreementFactory(agency=agency, model="JEM")
    return document, agency


def test_counts_follow_services_admin_update_bulk_and_delete(story, admin_client):
    document, agency = story
    assert facets()["type"] == {"document": 1}
    assert facets()["state"] == {}

    # A service: a curator confirms the linker's suggestion.
    link = DocumentAgencyFactory(document=document, agency=agency, status="suggested")
    assert facets()["state"] == {}
    document_agency_review(link=link, status=DocumentAgency.Status.CONFIRMED)
    assert facets()["state"] == {"GA": 1}
    assert facets()["model"] == {"JEM": 1}

    # The admin: the "reject" action on the links list.
    response = admin_client.post(
        reverse("admin:research_documentagency_changelist"),
        {"action": "reject", "_selected_action": [link.pk]},
    )
    assert response.status_code == 302
    assert facets()["state"] == {}

    # QuerySet.update(): kind and status.
    Document.objects.filter(pk=document.pk).update(kind="moa")
    assert facets()["kind"] == {"moa": 1}
    Document.objects.filter(pk=document.pk).update(status=Document.Status.NEEDS_REVIEW)
    assert facets()["type"] == {}
    Document.objects.filter(pk=document.pk).update(status=Document.Status.PUBLISHED)

    # Bulk creation of documents and tag links, bulk update.
    created = Document.objects.bulk_create(
        [
            Document(title=f"Zeppelin {i}", text="zeppelin", status="published", publisher="Air")
            for i in range(3)
        ]
    )
    assert facets()["type"] == {"document": 4}
    assert facets()["publisher"] == {"Air": 3}
    tag = TagFactory(slug="airships", name="Airships")
    Document.tags.through.objects.bulk_create(
        [Document.tags.through(document_id=d.pk, tag_id=tag.pk) for d in created]
    )
    assert facets()["tag"] == {"airships": 3}
    for d in created:
        d.publisher = "Sky"
    Document.objects.bulk_update(created, ["publisher"])
    assert facets()["publisher"] == {"Sky": 3}

    # Renaming a tag, changing an agreement's model, moving an agency.
    Tag.objects.filter(pk=tag.pk).update(slug="blimps")
    assert facets()["tag"] == {"blimps": 3}
    link.status = "confirmed"
    link.save()
    agency.agreements.update(model="TFM")
    assert facets()["model"] == {"TFM": 1}
    agency.state = "AL"
    agency.save()
    assert facets()["state"] == {"AL": 1}

    # Deletes: a tag link, a document, an agreement, a link.
    created[0].tags.remove(tag)
    assert facets()["tag"] == {"blimps": 2}
    created[1].delete()
    assert facets()["type"] == {"document": 3}
    agency.agreements.all().delete()
    assert facets()["model"] == {}
    link.delete()
    assert facets()["state"] == {}


@pytest.mark.django_db(transaction=True)
def test_counts_follow_writes_made_on_another_connection():
    """Another gunicorn worker (or a Celery task) writes: this process's arrays must notice.

    The write goes through a second database connection, in raw SQL, so no
    Python code of this process hears of it: only the database can tell.
    """
    document = DocumentFactory(title="Zeppelin story", text="A zeppelin.", publisher="Air")
    assert facets()["publisher"] == {"Air": 1}
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute(
                "UPDATE research_document SET publisher = %s WHERE id = %s", ["Sky", document.pk]
            )
    finally:
        other.close()
    assert facets()["publisher"] == {"Sky": 1}


def test_a_researchers_own_submissions_count_in_hits_and_facets(story):
    """Search applies research.policy's scope through the arrays: a researcher's own
    unpublished submission is found and counted, another's draft is not."""
    from tests.research.factories import ResearcherFactory

    researcher = ResearcherFactory()
    own = DocumentFactory(
        title="Zeppelin draft", text="zeppelin", status="needs_review", submitted_by=researcher
    )
    DocumentFactory(
        title="Zeppelin failed", text="zeppelin", status="failed", submitted_by=researcher
    )
    DocumentFactory(title="Zeppelin other draft", text="zeppelin", status="needs_review")

    mine = search("zeppelin", user=researcher)
    assert sorted(hit.title for hit in mine.hits) == [
        "Zeppelin draft",
        "Zeppelin failed",
        "Zeppelin story",
    ]
    assert {v.value: v.count for v in mine.facets["type"]} == {"document": 3}
    assert search("zeppelin", user=researcher, filters={"type": ["agency"]}).total == 0
    assert [hit.title for hit in search("zeppelin").hits] == ["Zeppelin story"]
    assert own.pk in {hit.id for hit in search("draft", user=researcher).hits}


def test_counts_follow_a_change_of_rights(story):
    """A document whose rights become copyrighted is no longer found by a word deep
    in its text for the public: the version token changes on a rights update."""
    document, _agency = story
    Document.objects.filter(pk=document.pk).update(
        rights=Document.Rights.PUBLIC_DOMAIN, text="A balloon."
    )
    assert search("balloon").total == 1
    Document.objects.filter(pk=document.pk).update(rights=Document.Rights.COPYRIGHTED)
    assert search("balloon").total == 0


def test_many_valued_facets_count_the_same_from_few_rows_or_all_pairs(db, monkeypatch):
    from research.search import facets as facet_arrays

    agencies = [
        AgencyFactory(name=f"{name} County Sheriff's Office", state=state)
        for name, state in (("Cobb", "GA"), ("Hall", "GA"), ("Lee", "FL"), ("Polk", "FL"))
    ]
    for agency, model in zip(agencies, ("JEM", "TFM", "WSO", "JEM"), strict=True):
        AgreementFactory(agency=agency, model=model)
    tags = [TagFactory(name=name) for name in ("Jail", "Budget")]
    for n in range(12):
        document = DocumentFactory(title=f"Zeppelin {n}", text="A zeppelin." if n % 3 else "None.")
        for agency in agencies[: n % 4 + 1]:
            DocumentAgencyFactory(document=document, agency=agency, status="confirmed")
        document.tags.set(tags[: n % 3])

    monkeypatch.setattr(facet_arrays, "SPARSE", 0)  # one pass over all pairs
    every_pair = {query: facets(query) for query in ("zeppelin", "sheriff", "zeppelin 5")}
    monkeypatch.setattr(facet_arrays, "SPARSE", 10**9)  # the selected rows' own pairs
    assert {query: facets(query) for query in every_pair} == every_pair
    assert every_pair["zeppelin"]["state"] == {"GA": 12, "FL": 6}
    assert every_pair["zeppelin"]["tag"] and every_pair["zeppelin"]["model"]
