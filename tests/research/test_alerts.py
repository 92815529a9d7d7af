"""Watches, saved searches and their delivery: e-mail digests, unsubscribe links, webhooks, quotas.

Lists are ICE's real files imported through the importer; webhooks are POSTed
to a server of the test's own on loopback.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import http.server
import json
import re
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import mail, signing
from django.urls import reverse

from agreements.models import AgreementEvent
from agreements.services.snapshots import snapshot_import
from research.models import AlertRate, Delivery, SavedSearch, Watch, Webhook, WebhookCall
from research.selectors import user_saved_searches, user_watches
from research.services import alerts
from research.services.alerts import AlertRefused
from research.services.review import document_publish
from research.tasks import alert_digests_task
from tests.research.factories import (
    AgencyFactory,
    AgreementFactory,
    DocumentAgreementFactory,
    DocumentFactory,
    ResearcherFactory,
)

pytestmark = pytest.mark.django_db

DATA = Path(__file__).resolve().parent.parent / "agreements" / "data"
MAY = "participatingAgencies05232025am.xlsx"
JULY = "participatingAgencies07112025pm.xlsx"


def import_list(name: str, capture) -> None:
    """Import a bundled list and run what its commit sets off (matching, sending) in-process."""
    with capture(execute=True), open(DATA / name, "rb") as handle:
        snapshot_import(file=handle, filename=name)


@pytest.fixture
def researcher():
    return ResearcherFactory(email="reader@example.org")


# --- Watches -------------------------------------------------------------------------


def test_a_list_that_adds_an_agreement_in_a_watched_state_sends_one_email_once(
    researcher, django_capture_on_commit_callbacks
):
    import_list(MAY, django_capture_on_commit_callbacks)
    watch = alerts.watch_create(
        user=researcher, scope="state", state="ny", changes=["signed"], rate="realtime"
    )
    import_list(JULY, django_capture_on_commit_callbacks)

    signed = AgreementEvent.objects.filter(
        kind=AgreementEvent.Kind.SIGNED, agency__state="NY", snapshot__original_filename=JULY
    ).select_related("agency")
    assert signed.exists()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["reader@example.org"]
    for event in signed:
        assert event.agency.name in message.body
    assert "/alerts/unsubscribe/" in message.body
    assert "(FL)" not in message.body  # only the watched state

    # Matching the same list again, or importing it again, sends nothing more.
    snapshot_id = signed.first().snapshot_id
    with django_capture_on_commit_callbacks(execute=True):
        again = alerts.alerts_match_snapshot(snapshot_id=snapshot_id)
    import_list(JULY, django_capture_on_commit_callbacks)
    assert again.deliveries == 0
    assert len(mail.outbox) == 1
    assert watch.deliveries.count() == signed.count()


def test_a_watch_sends_only_the_kinds_of_change_it_follows(
    researcher, django_capture_on_commit_callbacks
):
    import_list(MAY, django_capture_on_commit_callbacks)
    alerts.watch_create(
        user=researcher, scope="state", state="NY", changes=["ended"], rate="realtime"
    )
    import_list(JULY, django_capture_on_commit_callbacks)
    assert mail.outbox == []


def test_a_daily_watch_waits_for_the_daily_digest_and_is_sent_once(
    researcher, django_capture_on_commit_callbacks
):
    import_list(MAY, django_capture_on_commit_callbacks)
    alerts.watch_create(user=researcher, scope="program", changes=["renamed"], rate="daily")
    import_list(JULY, django_capture_on_commit_callbacks)
    assert mail.outbox == []

    with django_capture_on_commit_callbacks(execute=True):
        assert alert_digests_task("weekly") == 0
        assert alert_digests_task("daily") == 1
    assert len(mail.outbox) == 1
    assert "Renamed" in mail.outbox[0].body
    with django_capture_on_commit_callbacks(execute=True):
        assert alert_digests_task("daily") == 0
    assert len(mail.outbox) == 1
    watch = user_watches(researcher).get()
    assert watch.last_delivered_at is not None


def test_a_watch_needs_a_target_and_a_kind_of_change(researcher):
    with pytest.raises(AlertRefused) as refused:
        alerts.watch_create(user=researcher, scope="county", county_fips="12", changes=["signed"])
    assert "5-digit FIPS" in refused.value.errors["county_fips"]
    with pytest.raises(AlertRefused) as refused:
        alerts.watch_create(user=researcher, scope="state", state="TX", changes=[])
    assert "at least one kind" in refused.value.errors["changes"]
    assert not Watch.objects.exists()


def test_watching_a_state_from_the_page(client, researcher):
    client.force_login(researcher)
    response = client.post(
        reverse("research:watch-list"),
        {"scope": "state", "state": "TX", "changes": ["signed", "moa"], "rate": "weekly"},
    )
    assert response.status_code == 302
    page = client.get(reverse("research:watch-list")).content.decode()
    assert "State TX" in page
    assert "MOA posted or changed" in page


@pytest.mark.parametrize("kind", ["agency", "state"])
def test_agency_and_state_pages_link_to_a_watch_filled_in_for_them(client, researcher, kind):
    agency = AgencyFactory(state="TX")
    if kind == "agency":
        page, value, label = agency.get_absolute_url(), agency.slug, "Watch this agency"
    else:
        page, value, label = (
            reverse("agreements:state-detail", args=["TX"]),
            "TX",
            "Watch this state",
        )
    watch_page = f"{reverse('research:watch-list')}?{kind}={value}"
    link = f'<a href="{watch_page}">{label}</a>'
    assert link in client.get(page).content.decode()

    # A visitor is asked to log in, then brought back to the filled-in form.
    response = client.get(watch_page)
    assert response.status_code == 302
    assert parse_qs(urlsplit(response.url).query)["next"] == [watch_page]

    client.force_login(researcher)
    assert link in client.get(page).content.decode()  # the same for every visitor
    form = client.get(watch_page).content.decode()
    assert re.search(rf'<input type="radio" name="scope" value="{kind}"[^>]* checked', form)
    assert re.search(rf'<option value="{value}" selected>', form)


def test_deleting_an_alert_asks_first_then_removes_only_it(client, researcher):
    watch = alerts.watch_create(user=researcher, scope="program", changes=["signed"])
    saved = alerts.saved_search_create(user=researcher, name="Jails", search="jail")
    client.force_login(researcher)
    for url, what in (
        (reverse("research:watch-delete", args=[watch.pk]), "the watch on"),
        (reverse("research:saved-search-delete", args=[saved.pk]), "the saved search “Jails”"),
    ):
        assert what in client.get(url).content.decode()
    assert Watch.objects.filter(pk=watch.pk).exists()
    response = client.post(reverse("research:watch-delete", args=[watch.pk]), follow=True)
    assert "Watch deleted." in response.content.decode()
    assert not Watch.objects.filter(pk=watch.pk).exists()
    assert SavedSearch.objects.filter(pk=saved.pk).exists()


def test_another_researchers_alerts_are_not_found(client, researcher):
    watch = alerts.watch_create(user=researcher, scope="program", changes=["signed"])
    saved = alerts.saved_search_create(user=researcher, name="Jails", search="jail")
    client.force_login(ResearcherFactory())
    for url in (
        reverse("research:watch-edit", args=[watch.pk]),
        reverse("research:watch-delete", args=[watch.pk]),
        reverse("research:saved-search-edit", args=[saved.pk]),
    ):
        assert client.get(url).status_code == 404
        assert (
            client.post(url, {"scope": "program", "changes": ["ended"], "rate": "off"}).status_code
            == 404
        )
    watch.refresh_from_db()
    assert watch.rate == AlertRate.DAILY
    assert SavedSearch.objects.count() == 1


# --- Unsubscribe ---------------------------------------------------------------------


def test_the_unsubscribe_link_needs_no_login_and_stops_the_emails(client, researcher):
    watch = alerts.watch_create(user=researcher, scope="program", changes=["signed"])
    url = reverse("research:alert-unsubscribe", args=[alerts.unsubscribe_token(watch)])
    assert "Stop the e-mails" in client.get(url).content.decode()
    watch.refresh_from_db()
    assert watch.rate == AlertRate.DAILY  # a link followed by a mail scanner changes nothing
    response = client.post(url)
    assert response.status_code == 200
    assert "No more e-mails" in response.content.decode()
    watch.refresh_from_db()
    assert watch.rate == AlertRate.OFF


def test_a_forged_unsubscribe_link_is_refused(client, researcher):
    watch = alerts.watch_create(user=researcher, scope="program", changes=["signed"])
    token = alerts.unsubscribe_token(watch)
    # Signed without the portal's key, and the real link with its signature altered.
    forged = signing.dumps(
        {"k": "watch", "id": watch.pk}, key="guessed", salt=alerts.UNSUBSCRIBE_SALT
    )
    altered = token[:-1] + ("A" if token[-1] != "A" else "B")
    for bad in (forged, altered, "not-a-token"):
        response = client.post(reverse("research:alert-unsubscribe", args=[bad]))
        assert response.status_code == 400
        assert "not one the portal sent" in response.content.decode()
    assert set(Watch.objects.values_list("rate", flat=True)) == {AlertRate.DAILY}


# --- Saved searches ------------------------------------------------------------------


def unpublished(**fields):
    return DocumentFactory(status="needs_review", **fields)


def test_a_saved_search_sends_each_new_matching_document_once(
    researcher, django_capture_on_commit_callbacks
):
    DocumentFactory(title="Old news about the jail")  # published before the search: its past
    saved = alerts.saved_search_create(
        user=researcher, name="Jail screening", search="jail", rate="realtime"
    )
    matching = unpublished(title="County jail joins 287(g)")
    other = unpublished(title="Budget hearing", text="The council discussed roads and parks.")
    with django_capture_on_commit_callbacks(execute=True):
        document_publish(document=matching)
        document_publish(document=other)
    assert len(mail.outbox) == 1
    assert "County jail joins 287(g)" in mail.outbox[0].body
    assert "Old news" not in mail.outbox[0].body
    assert "Budget hearing" not in mail.outbox[0].body

    with django_capture_on_commit_callbacks(execute=True):
        document_publish(document=matching)  # published again: already sent
        alerts.alerts_match_documents(document_ids=[matching.pk])
    assert len(mail.outbox) == 1
    assert list(saved.deliveries.values_list("item__key", flat=True)) == [f"document:{matching.pk}"]
    assert user_saved_searches(researcher).get().last_delivered_at is not None


def test_a_saved_search_keeps_its_filters(researcher, django_capture_on_commit_callbacks):
    saved = alerts.saved_search_create(
        user=researcher, name="MOAs", search="/search/?q=agreement&kind=moa", rate="realtime"
    )
    assert (saved.query, saved.filters) == ("agreement", {"kind": ["moa"]})
    news = unpublished(title="An agreement in the news")
    with django_capture_on_commit_callbacks(execute=True):
        document_publish(document=news)
    assert mail.outbox == []


@pytest.mark.parametrize(
    ("search", "sentence"),
    [
        ("", "no words to look for"),
        ("-jail", "no words to look for"),
        ("?q=jail&state=XX", "The filter state=XX is not one the search knows"),
    ],
)
def test_an_invalid_saved_search_is_refused_with_a_sentence(client, researcher, search, sentence):
    client.force_login(researcher)
    response = client.post(
        reverse("research:saved-search-list"),
        {"name": "x", "search": search or " ", "rate": "daily"},
    )
    assert response.status_code == 400
    if search:
        assert sentence in response.content.decode()
    with pytest.raises(AlertRefused) as refused:
        alerts.saved_search_create(user=researcher, name="x", search=search)
    assert sentence in refused.value.errors["search"]
    assert not SavedSearch.objects.exists()


def test_a_too_broad_saved_search_is_paused_with_a_note_not_sent(
    researcher, settings, django_capture_on_commit_callbacks
):
    settings.ALERT_MAX_DAILY_MATCHES = 2
    saved = alerts.saved_search_create(
        user=researcher, name="Sheriffs", search="sheriff", rate="realtime"
    )
    documents = [unpublished(title=f"Sheriff story {n}") for n in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        alerts.alerts_match_documents(document_ids=[])  # nothing to do
        for document in documents:
            document.status = "published"
            document.save()
        alerts.alerts_match_documents(document_ids=[d.pk for d in documents])
    saved.refresh_from_db()
    assert "Paused" in saved.paused_note
    assert "more than 2 new documents in a day" in saved.paused_note
    assert mail.outbox == []
    assert not saved.deliveries.exists()
    # Saving it again resumes it.
    alerts.saved_search_update(
        saved_search=saved, name="Sheriffs", search="sheriff jail", rate="daily"
    )
    saved.refresh_from_db()
    assert saved.paused_note == ""


# --- Quotas --------------------------------------------------------------------------


def test_real_time_alerts_are_limited_per_role(researcher, settings):
    settings.ALERT_QUOTAS = {"Researchers": {"realtime": 1, "webhooks": 0}}
    alerts.watch_create(user=researcher, scope="program", changes=["signed"], rate="realtime")
    with pytest.raises(AlertRefused) as refused:
        alerts.saved_search_create(user=researcher, name="x", search="jail", rate="realtime")
    assert "the most your role allows (1)" in refused.value.errors["rate"]
    alerts.saved_search_create(user=researcher, name="x", search="jail", rate="daily")
    with pytest.raises(AlertRefused) as refused:
        alerts.webhook_create(user=researcher, url="https://93.184.215.14/hook")
    assert "the most your role allows (0)" in refused.value.errors["url"]
    assert SavedSearch.objects.get().rate == AlertRate.DAILY
    assert not Webhook.objects.exists()


# --- Webhooks ------------------------------------------------------------------------


class Receiver:
    """A loopback server that takes POSTs: answers ``status``, after ``delay`` seconds."""

    def __init__(self, status: int = 204, delay: float = 0.0):
        self.status, self.delay = status, delay
        self.requests: list[tuple[dict, bytes]] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append((dict(self.headers), body))
                time.sleep(receiver.delay)
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver(settings):
    settings.FETCH_ALLOW_LOOPBACK = True  # the tests' own server, as ingestion tests do
    server = Receiver()
    yield server
    server.close()


def test_a_webhook_to_loopback_is_refused_in_production_settings(client, researcher, settings):
    settings.FETCH_ALLOW_LOOPBACK = False
    for url in ("http://127.0.0.1:9/hook", "http://[::1]/hook", "http://169.254.169.254/latest"):
        with pytest.raises(AlertRefused) as refused:
            alerts.webhook_create(user=researcher, url=url)
        assert "which the portal does not fetch" in refused.value.errors["url"]
    client.force_login(researcher)
    response = client.post(reverse("research:webhook-list"), {"url": "http://10.0.0.5/hook"})
    assert response.status_code == 400
    assert "private" in response.content.decode()
    assert not Webhook.objects.exists()


def _one_delivery(researcher, capture) -> Delivery:
    saved = alerts.saved_search_create(user=researcher, name="Jails", search="jail", rate="daily")
    document = unpublished(title="County jail joins 287(g)")
    with capture(execute=True):
        document_publish(document=document)
    return saved.deliveries.get()


def test_a_webhook_gets_each_item_signed_with_its_secret(
    researcher, receiver, django_capture_on_commit_callbacks
):
    webhook = alerts.webhook_create(user=researcher, url=receiver.url)
    delivery = _one_delivery(researcher, django_capture_on_commit_callbacks)
    assert len(receiver.requests) == 1
    headers, body = receiver.requests[0]
    expected = "sha256=" + hmac.new(webhook.secret.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Portal-Signature"] == expected
    payload = json.loads(body)
    assert payload["title"] == "County jail joins 287(g)"
    assert payload["alert"] == {
        "type": "saved_search",
        "id": delivery.saved_search_id,
        "name": "Jails",
    }
    assert WebhookCall.objects.get().state == WebhookCall.State.SENT
    # A call already sent is not sent again.
    assert alerts.webhook_call_attempt(call_id=WebhookCall.objects.get().pk) == "sent"
    assert len(receiver.requests) == 1


def test_a_webhook_answering_500_is_retried_with_backoff_then_disabled(
    researcher, receiver, settings, django_capture_on_commit_callbacks, client
):
    settings.WEBHOOK_MAX_FAILURES = 3
    receiver.status = 500
    webhook = alerts.webhook_create(user=researcher, url=receiver.url)
    _one_delivery(researcher, django_capture_on_commit_callbacks)  # the first try
    call = WebhookCall.objects.get()
    assert call.state == WebhookCall.State.PENDING
    waits = [call.next_attempt_at]
    for _ in range(2):
        WebhookCall.objects.filter(pk=call.pk).update(
            next_attempt_at=call.next_attempt_at.replace(year=2000)
        )
        with django_capture_on_commit_callbacks(execute=True):
            assert alerts.alerts_send_pending() == 1  # the retry, once its wait is over
        call.refresh_from_db()
        waits.append(call.next_attempt_at - call.next_attempt_at.replace(year=2000))
    assert len(receiver.requests) == 3
    headers = {h["X-Portal-Delivery"] for h, _ in receiver.requests}
    assert headers == {str(call.pk)}  # the same id on every retry
    webhook.refresh_from_db()
    assert not webhook.active
    assert "after 3 failed calls in a row" in webhook.disabled_note
    assert "500" in webhook.disabled_note
    assert call.state == WebhookCall.State.FAILED
    assert alerts.alerts_send_pending() == 0
    client.force_login(researcher)
    assert (
        "after 3 failed calls in a row"
        in client.get(reverse("research:webhook-list")).content.decode()
    )


def test_a_hanging_webhook_is_given_up_on_and_retried_later(
    researcher, receiver, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    receiver.delay = 3
    alerts.webhook_create(user=researcher, url=receiver.url)
    _one_delivery(researcher, django_capture_on_commit_callbacks)
    call = WebhookCall.objects.get()
    assert call.state == WebhookCall.State.PENDING
    assert "did not answer within 1 s" in call.last_error
    assert call.attempts == 1


def test_a_search_is_saved_from_the_search_page_with_its_filters(client, researcher):
    client.force_login(researcher)
    page = client.get("/search/", {"q": "jail", "state": "TX"}).content.decode()
    start = page.index('class="save-search"><a href="') + len('class="save-search"><a href="')
    link = html.unescape(page[start : page.index('"', start)])
    form = client.get(link).content.decode()
    assert "?q=jail&amp;state=TX" in form
    response = client.post(
        reverse("research:saved-search-list"),
        {"name": "Texas jails", "search": "?q=jail&state=TX", "rate": "weekly"},
    )
    assert response.status_code == 302
    saved = SavedSearch.objects.get()
    assert (saved.name, saved.query, saved.filters) == ("Texas jails", "jail", {"state": ["TX"]})
    # The public is not offered to save a search.
    client.logout()
    assert "save-search" not in client.get("/search/", {"q": "jail"}).content.decode()


def test_a_county_and_an_agency_watch_get_the_changes_there(
    researcher, django_capture_on_commit_callbacks
):
    import_list(MAY, django_capture_on_commit_callbacks)
    import_list(JULY, django_capture_on_commit_callbacks)  # to learn where the news is
    event = (
        AgreementEvent.objects.filter(kind="signed", snapshot__original_filename=JULY)
        .exclude(agency__county_fips="")
        .select_related("agency")
        .first()
    )
    county = alerts.watch_create(
        user=researcher, scope="county", county_fips=event.agency.county_fips, changes=["signed"]
    )
    agency = alerts.watch_create(
        user=researcher, scope="agency", agency=event.agency, changes=["signed"]
    )
    elsewhere = alerts.watch_create(
        user=researcher, scope="county", county_fips="99999", changes=["signed"]
    )
    alerts.alerts_match_snapshot(snapshot_id=event.snapshot_id)
    assert (
        event.agency.name
        in county.deliveries.get(item__key__contains=f":{event.agreement_id}:").item.title
    )
    assert agency.deliveries.filter(item__title__startswith=event.agency.name).exists()
    assert not elsewhere.deliveries.exists()


def test_an_moa_published_for_a_watched_agency_is_sent(
    researcher, django_capture_on_commit_callbacks
):
    agreement = AgreementFactory()
    watch = alerts.watch_create(
        user=researcher, scope="agency", agency=agreement.agency, changes=["moa"], rate="realtime"
    )
    moa = unpublished(kind="moa", title="Memorandum of agreement, Example County")
    DocumentAgreementFactory(document=moa, agreement=agreement, role="moa")
    with django_capture_on_commit_callbacks(execute=True):
        document_publish(document=moa)
    assert watch.deliveries.get().item.title.endswith("MOA published")
    assert len(mail.outbox) == 1
    assert "Memorandum of agreement, Example County" in mail.outbox[0].body
