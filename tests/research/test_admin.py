"""Curators review documents in the admin: queue, preview, links and actions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.urls import reverse

from research.models import Document, DocumentAgency

from .factories import (
    AgencyFactory,
    CuratorFactory,
    DocumentAgencyFactory,
    DocumentFactory,
    FeedFactory,
)

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:research_document_changelist")


@pytest.fixture
def curator_client(client):
    curator = CuratorFactory()
    client.force_login(curator)
    client.curator = curator
    return client


def form_data(response) -> dict:
    """The POST data of an admin change form as rendered (main form and inlines)."""
    data: dict = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        forms += list(formset.forms)
        management = formset.management_form
        for name, field in management.fields.items():
            data[management.add_prefix(name)] = management.initial.get(name, field.initial)
    for form in forms:
        for name, field in form.fields.items():
            value = form.initial.get(name, field.initial)
            if value is None:
                continue
            if hasattr(value, "pk"):
                value = value.pk
            if isinstance(value, list | tuple):
                value = [getattr(v, "pk", v) for v in value]
            if isinstance(value, bool) and not value:
                continue
            data[form.add_prefix(name)] = value
    return data


def test_changelist_opens_on_the_review_queue(curator_client):
    DocumentFactory(title="Waiting for a curator", status=Document.Status.NEEDS_REVIEW)
    DocumentFactory(title="Already public")
    page = curator_client.get(CHANGELIST).content.decode()
    assert "Waiting for a curator" in page
    assert "Already public" not in page
    everything = curator_client.get(CHANGELIST, {"queue": "all"}).content.decode()
    assert "Already public" in everything


def test_change_page_previews_the_text_escaped_and_shortened(curator_client):
    text = "<script>alert('x')</script> The sheriff spoke. " + "More words here. " * 300
    document = DocumentFactory(text=text, status=Document.Status.NEEDS_REVIEW)
    page = curator_client.get(reverse("admin:research_document_change", args=[document.pk]))
    html = page.content.decode()
    assert "&lt;script&gt;alert(" in html
    assert "<script>alert(" not in html
    assert "more characters" in html
    assert "More words here. " * 200 not in html


def test_publish_and_reject_actions(curator_client):
    ready = DocumentFactory(status=Document.Status.NEEDS_REVIEW)
    queued = DocumentFactory(title="Still queued", status=Document.Status.QUEUED, text="")
    response = curator_client.post(
        CHANGELIST + "?queue=all",
        {"action": "publish", "_selected_action": [ready.pk, queued.pk]},
        follow=True,
    )
    page = response.content.decode()
    assert "1 document(s) published." in page
    assert "is still being processed" in page
    ready.refresh_from_db()
    queued.refresh_from_db()
    assert (ready.status, queued.status) == ("published", "queued")

    curator_client.post(
        CHANGELIST + "?queue=all", {"action": "reject", "_selected_action": [ready.pk]}
    )
    ready.refresh_from_db()
    assert ready.status == "rejected"
    assert ready.history.count() >= 3  # created, published, rejected: change history kept


def test_relink_action_suggests_agencies(curator_client):
    agency = AgencyFactory(name="Alachua County Sheriff's Office", state="FL")
    document = DocumentFactory(
        status=Document.Status.NEEDS_REVIEW,
        text="The Alachua County Sheriff's Office signed on Tuesday.",
    )
    curator_client.post(CHANGELIST, {"action": "relink", "_selected_action": [document.pk]})
    link = document.agency_links.get()
    assert (link.agency, link.status, link.method) == (agency, "suggested", "automatic")
    page = curator_client.get(reverse("admin:research_document_change", args=[document.pk]))
    assert "Alachua County Sheriff&#x27;s Office signed" in page.content.decode()


def test_confirming_a_suggestion_inline_records_the_curator(curator_client):
    link = DocumentAgencyFactory(document__status=Document.Status.NEEDS_REVIEW)
    url = reverse("admin:research_document_change", args=[link.document.pk])
    data = form_data(curator_client.get(url))
    status_key = next(key for key in data if key.startswith("agency_links-0-status"))
    data[status_key] = "confirmed"
    data["_publish"] = "Save and publish"
    response = curator_client.post(url, data)
    assert response.status_code == 302, response.context and response.context["errors"]
    link.refresh_from_db()
    assert (link.status, link.reviewed_by) == ("confirmed", curator_client.curator)
    link.document.refresh_from_db()
    assert link.document.status == "published"


def test_link_admin_confirms_and_rejects_in_bulk(curator_client):
    first, second = DocumentAgencyFactory(), DocumentAgencyFactory()
    url = reverse("admin:research_documentagency_changelist")
    curator_client.post(url, {"action": "reject", "_selected_action": [first.pk, second.pk]})
    assert set(DocumentAgency.objects.values_list("status", flat=True)) == {"rejected"}


def test_rights_are_editable_and_history_is_shown(curator_client):
    document = DocumentFactory(status=Document.Status.NEEDS_REVIEW)
    url = reverse("admin:research_document_change", args=[document.pk])
    data = form_data(curator_client.get(url))
    data["rights"] = "public_domain"
    assert curator_client.post(url, data).status_code == 302
    document.refresh_from_db()
    assert document.rights == "public_domain"
    history = curator_client.get(reverse("admin:research_document_history", args=[document.pk]))
    page = " ".join(history.content.decode().split())
    assert "<strong>Rights:</strong> copyrighted" in page
    assert curator_client.curator.username in page


SUBMIT = reverse("admin:research_document_submit")
DATA = Path(__file__).parent / "data"


def test_submit_view_queues_a_url(curator_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = curator_client.post(
            SUBMIT, {"url": "https://www.ice.gov/doclib/287gMOA/x.pdf", "kind": "moa"}
        )
    document = Document.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("admin:research_document_change", args=[document.pk])
    assert (document.status, document.kind, document.submitted_by) == (
        "queued",
        "moa",
        curator_client.curator,
    )
    assert document.rights == "public_domain"


def test_submit_view_uploads_a_file_and_processes_it(
    curator_client, django_capture_on_commit_callbacks
):
    AgencyFactory(name="Baker County Sheriff's Office", state="FL")
    pdf = DATA / "287gWSO_BakerCoFl2019-10-15.pdf"
    with pdf.open("rb") as handle, django_capture_on_commit_callbacks(execute=True):
        response = curator_client.post(
            SUBMIT,
            {"upload": handle, "kind": "moa", "rights": "public_domain", "title": ""},
            follow=True,
        )
    document = Document.objects.get()
    assert document.status == "needs_review"
    assert document.page_offsets and "Baker County" in document.text
    page = response.content.decode()
    assert "is queued: it will be fetched, extracted and linked." in page
    assert document.agency_links.get().agency.name == "Baker County Sheriff's Office"


def test_submit_view_needs_a_url_or_a_file(curator_client):
    response = curator_client.post(SUBMIT, {"kind": "news"})
    assert response.status_code == 200
    assert "Give either a URL or a file" in response.content.decode()
    assert not Document.objects.exists()


def test_reextract_action_queues_the_document_again(
    curator_client, django_capture_on_commit_callbacks
):
    document = DocumentFactory(status=Document.Status.FAILED, attempts=3, text="")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        curator_client.post(
            CHANGELIST + "?queue=all",
            {"action": "reextract", "_selected_action": [document.pk]},
        )
    document.refresh_from_db()
    assert (document.status, document.attempts) == ("queued", 0)
    assert len(callbacks) == 1


def test_feed_admin_polls_now_and_shows_the_error(curator_client, local_server, settings):
    settings.FETCH_HOST_INTERVAL_SECONDS = 0
    local_server.routes["/not-a-feed"] = (200, {"Content-Type": "text/html"}, "<p>Hello")
    feed = FeedFactory(url=local_server.url("/not-a-feed"))
    response = curator_client.post(
        reverse("admin:research_feed_changelist"),
        {"action": "poll_now", "_selected_action": [feed.pk]},
        follow=True,
    )
    assert "did not return a valid RSS or Atom feed" in response.content.decode()
    feed.refresh_from_db()
    assert feed.last_error


def test_add_document_leads_to_the_submit_form(curator_client):
    response = curator_client.get(reverse("admin:research_document_add"), follow=True)
    assert response.redirect_chain[-1][0] == SUBMIT
    assert "Submit a document" in response.content.decode()


def test_a_duplicate_cannot_be_published(curator_client):
    original = DocumentFactory(status=Document.Status.NEEDS_REVIEW)
    duplicate = DocumentFactory(status=Document.Status.REJECTED, duplicate_of=original)
    response = curator_client.post(
        CHANGELIST + "?queue=all",
        {"action": "publish", "_selected_action": [duplicate.pk]},
        follow=True,
    )
    assert f"is a duplicate of document #{original.pk}" in response.content.decode()
    duplicate.refresh_from_db()
    assert duplicate.status == "rejected"


def test_a_link_added_by_hand_is_confirmed_and_manual(curator_client):
    document = DocumentFactory(status=Document.Status.NEEDS_REVIEW)
    agency = AgencyFactory(name="Baker County Sheriff's Office", state="FL")
    url = reverse("admin:research_document_change", args=[document.pk])
    data = form_data(curator_client.get(url))
    data.update(
        {
            "agency_links-TOTAL_FORMS": 1,
            "agency_links-0-agency": agency.pk,
            "agency_links-0-status": "suggested",
            "agency_links-0-document": document.pk,
        }
    )
    response = curator_client.post(url, data)
    assert response.status_code == 302, response.context and response.context["errors"]
    link = document.agency_links.get()
    assert (link.agency, link.method, link.status, link.reviewed_by) == (
        agency,
        "manual",
        "confirmed",
        curator_client.curator,
    )


def test_the_change_page_hides_empty_fields_and_names_the_guesses(curator_client):
    document = DocumentFactory(
        status=Document.Status.NEEDS_REVIEW,
        authors=[],
        guessed_fields=["kind", "rights"],
        file_created_on=None,
    )
    url = reverse("admin:research_document_change", args=[document.pk])

    page = " ".join(curator_client.get(url).content.decode().split())

    assert not re.search(r">\s*\[\]\s*</textarea>", page)  # authors: an empty box, not "[]"
    for empty in ("Duplicate of:", "Status message:", "File created:", "Feed:"):
        assert empty not in page, empty
    assert "Guessed, please check:" in page
    guessed = page.split("Guessed, please check:")[1][:300]
    assert "kind, rights" in guessed, guessed


def test_editing_a_guessed_field_settles_it_and_the_tick_settles_the_rest(curator_client):
    document = DocumentFactory(
        status=Document.Status.NEEDS_REVIEW, guessed_fields=["kind", "rights"]
    )
    url = reverse("admin:research_document_change", args=[document.pk])

    data = form_data(curator_client.get(url))
    data.update(rights="public_domain", authors="Ada Lovelace\nCharles Babbage")
    assert curator_client.post(url, data).status_code == 302
    document.refresh_from_db()
    assert (document.guessed, document.authors) == (["kind"], ["Ada Lovelace", "Charles Babbage"])

    data = form_data(curator_client.get(url))
    data["guesses_checked"] = "on"
    assert curator_client.post(url, data).status_code == 302
    document.refresh_from_db()
    assert document.guessed == []
    assert "Guessed, please check" not in curator_client.get(url).content.decode()
