"""Watches, saved searches and webhooks, and the one way their alerts are matched and sent.

Matching turns new agreement events (after a list is applied) and newly
published documents into ``Delivery`` rows, one per alert and item: the
database refuses a second, so re-running a match never sends anything twice.
An e-mail (``AlertDigest``) takes its deliveries in the transaction that
creates it, and is marked sent in the transaction that holds its row while
sending, so a worker killed mid-send leaves it unsent for the next one. A
webhook call is sent the same way, with backoff after failures, and the
webhook is disabled after ``WEBHOOK_MAX_FAILURES`` failures in a row.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Count, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from agreements.models import Agency, AgreementEvent
from portal.http import FetchError, UnsafeURLError, check_url
from portal.http import post as http_post
from research import policy
from research.models import (
    AlertDigest,
    AlertItem,
    AlertRate,
    Delivery,
    Document,
    DocumentAgreement,
    SavedSearch,
    Watch,
    Webhook,
    WebhookCall,
)
from research.search.query import parse_query
from research.search.selectors import FACETS, matching_documents, normalize_filters

UNSUBSCRIBE_SALT = "research.alerts.unsubscribe"
SIGNATURE_HEADER = "X-Portal-Signature"
DELIVERY_HEADER = "X-Portal-Delivery"
# A failed webhook call waits 30 s, 1 min, 2 min ... at most an hour before the next try.
RETRY_FIRST = timedelta(seconds=30)
RETRY_MAX = timedelta(hours=1)

# Each kind of change a watch offers, as the agreement events that show it.
EVENT_CHANGES = {
    AgreementEvent.Kind.PENDING_LISTED: Watch.Change.PENDING_LISTED,
    AgreementEvent.Kind.SIGNED: Watch.Change.SIGNED,
    AgreementEvent.Kind.RESIGNED: Watch.Change.SIGNED,
    AgreementEvent.Kind.RENAMED: Watch.Change.RENAMED,
    AgreementEvent.Kind.MODEL_SWITCHED: Watch.Change.MODEL_SWITCHED,
    AgreementEvent.Kind.DELISTED: Watch.Change.ENDED,
    AgreementEvent.Kind.RELISTED: Watch.Change.RELISTED,
    AgreementEvent.Kind.MOA_POSTED: Watch.Change.MOA,
    AgreementEvent.Kind.MOA_CHANGED: Watch.Change.MOA,
}


class AlertRefused(Exception):
    """A watch, saved search or webhook that cannot be saved; ``errors`` maps fields to sentences."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(" ".join(errors.values()))
        self.errors = errors


# --- Quotas --------------------------------------------------------------------------


def alert_quota(user) -> dict[str, int]:
    """How many real-time alerts and webhooks ``user`` may keep: their largest role's."""
    names = set(user.groups.values_list("name", flat=True))
    quota = {"realtime": 0, "webhooks": 0}
    for name, limits in settings.ALERT_QUOTAS.items():
        if name in names or (user.is_superuser and name == policy.ADMINISTRATORS):
            for key in quota:
                quota[key] = max(quota[key], int(limits.get(key, 0)))
    return quota


def _check_realtime(user, rate: str, *, watch=None, search=None) -> None:
    if rate != AlertRate.REALTIME:
        return
    used = (
        Watch.objects.filter(user=user, rate=AlertRate.REALTIME)
        .exclude(pk=getattr(watch, "pk", None))
        .count()
        + SavedSearch.objects.filter(user=user, rate=AlertRate.REALTIME)
        .exclude(pk=getattr(search, "pk", None))
        .count()
    )
    allowed = alert_quota(user)["realtime"]
    if used >= allowed:
        raise AlertRefused(
            {
                "rate": f"You already have {used} alerts sent as it happens, the most your role "
                f"allows ({allowed}); choose daily or weekly, or change another alert first."
            }
        )


def _refuse_unless_allowed(user) -> None:
    if not policy.can_keep_alerts(user):
        raise AlertRefused({"__all__": "Your account may not keep alerts."})


def _check_rate(rate: str) -> None:
    if rate not in AlertRate.values:
        raise AlertRefused(
            {"rate": "Choose how often to be sent: as it happens, daily, weekly or off."}
        )


# --- Watches -------------------------------------------------------------------------


def _watch_target(
    scope: str, agency: Agency | None, county_fips: str, state: str
) -> dict[str, object]:
    county_fips, state = (county_fips or "").strip(), (state or "").strip().upper()
    if scope == Watch.Scope.AGENCY:
        if agency is None:
            raise AlertRefused({"agency": "Choose the agency to watch."})
        return {"agency": agency, "county_fips": "", "state": ""}
    if scope == Watch.Scope.COUNTY:
        if not (len(county_fips) == 5 and county_fips.isdigit()):
            raise AlertRefused(
                {"county_fips": "A county is given by its 5-digit FIPS code, e.g. 12045."}
            )
        return {"agency": None, "county_fips": county_fips, "state": ""}
    if scope == Watch.Scope.STATE:
        from research.search.selectors import _STATE_CODES

        if state not in _STATE_CODES:
            raise AlertRefused({"state": "A state is given by its two-letter code, e.g. TX."})
        return {"agency": None, "county_fips": "", "state": state}
    if scope == Watch.Scope.PROGRAM:
        return {"agency": None, "county_fips": "", "state": ""}
    raise AlertRefused(
        {"scope": "Choose what to watch: an agency, a county, a state or the program."}
    )


def _clean_changes(changes: Iterable[str]) -> list[str]:
    chosen = [c for c in Watch.Change.values if c in set(changes or ())]
    if not chosen:
        raise AlertRefused({"changes": "Choose at least one kind of change to be told about."})
    return chosen


@transaction.atomic
def watch_create(
    *,
    user,
    scope: str,
    changes: Iterable[str],
    rate: str = AlertRate.DAILY,
    agency: Agency | None = None,
    county_fips: str = "",
    state: str = "",
) -> Watch:
    """Watch an agency, a county, a state or the program for the chosen kinds of change."""
    _refuse_unless_allowed(user)
    _check_rate(rate)
    target = _watch_target(scope, agency, county_fips, state)
    chosen = _clean_changes(changes)
    _check_realtime(user, rate)
    return Watch.objects.create(user=user, scope=scope, changes=chosen, rate=rate, **target)


@transaction.atomic
def watch_update(
    *,
    watch: Watch,
    scope: str,
    changes: Iterable[str],
    rate: str,
    agency: Agency | None = None,
    county_fips: str = "",
    state: str = "",
) -> Watch:
    """Change what a watch follows and how often it is sent."""
    _check_rate(rate)
    target = _watch_target(scope, agency, county_fips, state)
    chosen = _clean_changes(changes)
    _check_realtime(watch.user, rate, watch=watch)
    for name, value in {"scope": scope, "changes": chosen, "rate": rate, **target}.items():
        setattr(watch, name, value)
    watch.save()
    return watch


def watch_delete(*, watch: Watch) -> None:
    watch.delete()


# --- Saved searches ------------------------------------------------------------------


def search_parse(text: str) -> tuple[str, dict[str, list[str]]]:
    """Words and filters from what a researcher gives: words, or a search page's address.

    Raise AlertRefused with a sentence when the search would match everything
    or names a filter the search does not know.
    """
    text = (text or "").strip()
    parts = urlsplit(text)
    query_string = parts.query if (parts.scheme or text.startswith(("/", "?"))) else ""
    if not query_string and "=" in text and " " not in text:
        query_string = text
    if query_string:
        pairs = parse_qsl(query_string, keep_blank_values=False)
        words = " ".join(v for k, v in pairs if k == "q")
        raw: dict[str, list[str]] = defaultdict(list)
        for key, value in pairs:
            if key in FACETS:
                raw[key].append(value)
        filters = normalize_filters(raw)
        for key, values in raw.items():
            dropped = [v for v in values if v not in filters.get(key, [])]
            upper = [v for v in dropped if v.upper() not in filters.get(key, [])]
            if upper:
                raise AlertRefused(
                    {
                        "search": f"The filter {key}={upper[0]} is not one the search knows; "
                        "copy the address of the search page again."
                    }
                )
    else:
        words, filters = text, {}
    parsed = parse_query(words)
    if not parsed.has_positive and not filters:
        raise AlertRefused(
            {
                "search": "This search has no words to look for and no filter, so it would match "
                "every new document; add a word or a filter."
            }
        )
    return str(parsed), filters


@transaction.atomic
def saved_search_create(
    *, user, name: str, search: str, rate: str = AlertRate.DAILY
) -> SavedSearch:
    """Save a search; only documents published from now on are sent."""
    _refuse_unless_allowed(user)
    _check_rate(rate)
    query, filters = search_parse(search)
    name = (name or "").strip()[:200] or query or "Saved search"
    _check_realtime(user, rate)
    return SavedSearch.objects.create(
        user=user, name=name, query=query, filters=filters, rate=rate, since=timezone.now()
    )


@transaction.atomic
def saved_search_update(
    *, saved_search: SavedSearch, name: str, search: str, rate: str
) -> SavedSearch:
    """Change a saved search; saving it again resumes a paused one."""
    _check_rate(rate)
    query, filters = search_parse(search)
    _check_realtime(saved_search.user, rate, search=saved_search)
    saved_search.name = (name or "").strip()[:200] or query or saved_search.name
    if (query, filters) != (saved_search.query, saved_search.filters):
        saved_search.since = timezone.now()  # a new search: its past is not news
    saved_search.query, saved_search.filters, saved_search.rate = query, filters, rate
    saved_search.paused_note = ""
    saved_search.save()
    return saved_search


def saved_search_delete(*, saved_search: SavedSearch) -> None:
    saved_search.delete()


# --- Webhooks ------------------------------------------------------------------------


@transaction.atomic
def webhook_create(*, user, url: str) -> Webhook:
    """Add a webhook; its address must be one the portal's safe client may reach."""
    _refuse_unless_allowed(user)
    url = (url or "").strip()
    try:
        check_url(url)
    except UnsafeURLError as exc:
        raise AlertRefused({"url": str(exc)}) from exc
    except FetchError as exc:
        raise AlertRefused(
            {"url": f"{exc} Give the full address, e.g. https://example.org/hook."}
        ) from exc
    used = Webhook.objects.filter(user=user).count()
    allowed = alert_quota(user)["webhooks"]
    if used >= allowed:
        raise AlertRefused(
            {
                "url": f"You already have {used} webhooks, the most your role allows ({allowed}); "
                "delete one first."
            }
        )
    return Webhook.objects.create(user=user, url=url, secret=secrets.token_hex(32))


def webhook_enable(*, webhook: Webhook) -> Webhook:
    """Turn a disabled webhook on again, its failures forgotten."""
    webhook.active, webhook.consecutive_failures, webhook.disabled_note = True, 0, ""
    webhook.save(update_fields=["active", "consecutive_failures", "disabled_note"])
    return webhook


def webhook_delete(*, webhook: Webhook) -> None:
    webhook.delete()


def webhook_signature(secret: str, body: bytes) -> str:
    """The signature header's value: ``sha256=`` and the HMAC of the body under the secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# --- Matching ------------------------------------------------------------------------


@dataclass
class MatchResult:
    deliveries: int = 0
    digests: int = 0
    webhook_calls: int = 0
    paused: int = 0


@dataclass
class _Matches:
    """What one matching run found: the items, and which alerts each goes to."""

    items: dict[str, AlertItem] = field(default_factory=dict)
    # (item key, watch id, saved search id, user id)
    pairs: list[tuple[str, int | None, int | None, int]] = field(default_factory=list)

    def add(self, item: AlertItem, recipients: Iterable[tuple[int | None, int | None, int]]):
        recipients = list(recipients)
        if recipients:
            self.items.setdefault(item.key, item)
            self.pairs += [(item.key, *recipient) for recipient in recipients]


def _event_item(event: AgreementEvent) -> AlertItem:
    agreement = event.agreement
    parts = [f"{agreement.get_model_display()} agreement"]
    if agreement.signed_on:
        parts.append(f"signed {agreement.signed_on.isoformat()}")
    if event.old_value and event.new_value:
        parts.append(f"{event.old_value} → {event.new_value}")
    elif event.new_value or event.old_value:
        parts.append(event.new_value or f"was {event.old_value}")
    return AlertItem(
        key=f"event:{event.agreement_id}:{event.kind}:{event.snapshot_id}:{event.field}",
        title=f"{event.agency.name} ({event.agency.state}): {event.get_kind_display()}",
        url=event.agency.get_absolute_url(),
        detail="; ".join(parts),
        occurred_at=event.occurred_at,
    )


def _watch_index() -> dict[tuple, list[tuple[int, int, frozenset]]]:
    """Every watch that sends, by the key an event must carry to match it."""
    index: dict[tuple, list] = defaultdict(list)
    rows = Watch.objects.exclude(rate=AlertRate.OFF).values_list(
        "pk", "user_id", "scope", "agency_id", "county_fips", "state", "changes"
    )
    for pk, user_id, scope, agency_id, fips, state, changes in rows.iterator(chunk_size=5000):
        key = {
            Watch.Scope.AGENCY: ("agency", agency_id),
            Watch.Scope.COUNTY: ("county", fips),
            Watch.Scope.STATE: ("state", state),
        }.get(scope, ("program",))
        index[key].append((pk, user_id, frozenset(changes)))
    return index


def _watchers(index, agency: Agency, change: str) -> Iterable[tuple[int, None, int]]:
    keys = [("program",), ("state", agency.state), ("agency", agency.pk)]
    if agency.county_fips:
        keys.append(("county", agency.county_fips))
    for key in keys:
        for pk, user_id, changes in index.get(key, ()):
            if change in changes:
                yield pk, None, user_id


def alerts_match_snapshot(*, snapshot_id: int) -> MatchResult:
    """Match the changes a list brought against every watch; safe to run again."""
    events = (
        AgreementEvent.objects.filter(snapshot_id=snapshot_id, kind__in=list(EVENT_CHANGES))
        .select_related("agency", "agreement")
        .order_by("pk")
    )
    index = _watch_index()
    found = _Matches()
    for event in events:
        found.add(_event_item(event), _watchers(index, event.agency, EVENT_CHANGES[event.kind]))
    return _record(found)


def _match_moa(found: _Matches, index, document: Document) -> None:
    links = DocumentAgreement.objects.filter(
        document=document, role=DocumentAgreement.Role.MOA
    ).select_related("agreement__agency")
    for link in links:
        agency = link.agreement.agency
        item = AlertItem(
            key=f"moa:{document.pk}:{link.agreement_id}",
            title=f"{agency.name} ({agency.state}): MOA published",
            url=document.get_absolute_url(),
            detail=document.title,
            occurred_at=document.status_changed_at or timezone.now(),
        )
        found.add(item, _watchers(index, agency, Watch.Change.MOA))


def _document_item(document: Document) -> AlertItem:
    return AlertItem(
        key=f"document:{document.pk}",
        title=document.title or document.canonical_url or f"Document {document.pk}",
        url=document.get_absolute_url(),
        detail=", ".join(filter(None, [document.get_kind_display(), document.publisher])),
        occurred_at=document.status_changed_at or timezone.now(),
    )


def _with_permissions(users: Iterable) -> None:
    """Load the permissions of many users in two queries (Django's per-user cache), not 2 each."""
    from django.contrib.auth.models import Permission

    users = {user.pk: user for user in users if not user.is_superuser}
    held: dict[int, set[str]] = {pk: set() for pk in users}
    for through in ("user", "group__user"):
        rows = Permission.objects.filter(**{f"{through}__in": list(users)}).values_list(
            through, "content_type__app_label", "codename"
        )
        for user_id, app_label, codename in rows:
            held[user_id].add(f"{app_label}.{codename}")
    for pk, user in users.items():
        user._perm_cache = held[pk]


def _match_searches(found: _Matches, documents: dict[int, Document]) -> int:
    """Add the new matches of every sending saved search; pause the too broad ones. How many paused."""
    paused = 0
    day_ago = timezone.now() - timedelta(days=1)
    searches = list(
        SavedSearch.objects.exclude(rate=AlertRate.OFF)
        .filter(paused_note="")
        .select_related("user")
        .annotate(today=Count("deliveries", filter=Q(deliveries__matched_at__gte=day_ago)))
    )
    _with_permissions({s.user for s in searches})
    asked = []
    for search in searches:
        among = [
            pk
            for pk, d in documents.items()
            if (d.status_changed_at or d.created_at) >= search.since
        ]
        if among:
            asked.append((search, among))
    answers = matching_documents(
        [(s.query, s.filters, policy.published_search_scope(s.user), among) for s, among in asked]
    )
    for (search, _among), matched in zip(asked, answers, strict=True):
        if not matched:
            continue
        if search.today + len(matched) > settings.ALERT_MAX_DAILY_MATCHES:
            search.paused_note = (
                f"Paused on {timezone.localdate():%B %-d, %Y}: it matched more than "
                f"{settings.ALERT_MAX_DAILY_MATCHES} new documents in a day, too many to send. "
                "Narrow it with more words or filters and save it again to resume."
            )
            search.save(update_fields=["paused_note"])
            paused += 1
            continue
        for pk in matched:
            found.add(_document_item(documents[pk]), [(None, search.pk, search.user_id)])
    return paused


def alerts_match_documents(*, document_ids: Iterable[int]) -> MatchResult:
    """Match newly published documents against saved searches and MOA watches; safe to run again."""
    documents = {
        d.pk: d
        for d in Document.objects.filter(
            pk__in=list(document_ids), status=Document.Status.PUBLISHED
        ).defer("text", "page_offsets")
    }
    if not documents:
        return MatchResult()
    found = _Matches()
    paused = _match_searches(found, documents)
    moas = [d for d in documents.values() if d.kind == Document.Kind.MOA]
    if moas:
        index = _watch_index()
        for document in moas:
            _match_moa(found, index, document)
    result = _record(found)
    result.paused = paused
    return result


def _record(found: _Matches) -> MatchResult:
    """Store the new deliveries (those already there are skipped), then queue their sending."""
    result = MatchResult()
    if not found.pairs:
        return result
    run = uuid.uuid4().hex
    with transaction.atomic():
        AlertItem.objects.bulk_create(found.items.values(), ignore_conflicts=True, batch_size=1000)
        item_ids = dict(
            AlertItem.objects.filter(key__in=list(found.items)).values_list("key", "pk")
        )
        Delivery.objects.bulk_create(
            (
                Delivery(
                    item_id=item_ids[key],
                    watch_id=watch_id,
                    saved_search_id=search_id,
                    user_id=user_id,
                    run=run,
                )
                for key, watch_id, search_id, user_id in found.pairs
            ),
            ignore_conflicts=True,
            batch_size=5000,
        )
        new = Delivery.objects.filter(run=run).order_by()
        result.deliveries = new.count()
        if not result.deliveries:
            return result
        users = set(new.values_list("user_id", flat=True).distinct())
        realtime = new.filter(_alert_rate_q(AlertRate.REALTIME)).values_list("user_id", flat=True)
        result.digests = digests_prepare(rate=AlertRate.REALTIME, user_ids=set(realtime.distinct()))
        hooks = defaultdict(list)
        for hook_id, user_id in Webhook.objects.filter(user_id__in=users, active=True).values_list(
            "pk", "user_id"
        ):
            hooks[user_id].append(hook_id)
        if hooks:
            now = timezone.now()
            calls = [
                WebhookCall(webhook_id=hook_id, delivery_id=pk, next_attempt_at=now)
                for pk, user_id in new.filter(user_id__in=list(hooks)).values_list("pk", "user_id")
                for hook_id in hooks[user_id]
            ]
            result.webhook_calls = len(WebhookCall.objects.bulk_create(calls, batch_size=2000))
    alerts_send_pending(user_ids=users)
    return result


def alerts_send_pending(
    *, user_ids: Iterable[int] | None = None, settled: timedelta = timedelta(0)
) -> int:
    """Queue every unsent digest and every due webhook call (of ``user_ids``); how many.

    Sending twice is harmless (each send holds its row and checks it is still
    unsent), so this is also how work a killed worker left is picked up: by the
    task it was part of when it runs again, and by beat each minute.
    """
    from portal.tasks import enqueue_on_commit
    from research.tasks import alert_digest_send_task, webhook_call_task

    before = timezone.now() - settled
    digests = AlertDigest.objects.filter(sent_at__isnull=True, created_at__lte=before)
    calls = WebhookCall.objects.filter(
        state=WebhookCall.State.PENDING, next_attempt_at__lte=timezone.now(), webhook__active=True
    )
    if user_ids is not None:
        user_ids = list(user_ids)
        digests = digests.filter(user_id__in=user_ids)
        calls = calls.filter(webhook__user_id__in=user_ids)
    digest_ids = list(digests.order_by("pk").values_list("pk", flat=True))
    call_ids = list(calls.order_by("next_attempt_at").values_list("pk", flat=True))
    for digest_id in digest_ids:
        enqueue_on_commit(alert_digest_send_task, digest_id)
    for call_id in call_ids:
        enqueue_on_commit(webhook_call_task, call_id)
    return len(digest_ids) + len(call_ids)


# --- E-mail --------------------------------------------------------------------------


def _alert_rate_q(rate: str) -> Q:
    return Q(watch__rate=rate) | Q(saved_search__rate=rate)


def digests_prepare(*, rate: str, user_ids: Iterable[int] | None = None) -> int:
    """Fix each researcher's unsent deliveries at ``rate`` into one digest to send; how many.

    Rows another run holds are skipped (they are in its digest), so no delivery
    is in two digests.
    """
    with transaction.atomic():
        pending = (
            Delivery.objects.filter(digest__isnull=True)
            .filter(_alert_rate_q(rate))
            .exclude(saved_search__paused_note__gt="")
        )
        if user_ids is not None:
            pending = pending.filter(user_id__in=list(user_ids))
        by_user: dict[int, list[int]] = defaultdict(list)
        rows = pending.select_for_update(skip_locked=True, of=("self",)).order_by()
        for pk, user_id in rows.values_list("pk", "user_id"):
            by_user[user_id].append(pk)
        digests = AlertDigest.objects.bulk_create(
            AlertDigest(user_id=user_id, rate=rate) for user_id in sorted(by_user)
        )
        for digest in digests:
            Delivery.objects.filter(pk__in=by_user[digest.user_id]).update(digest=digest)
    return len(digests)


def unsubscribe_token(alert: Watch | SavedSearch) -> str:
    kind = "watch" if isinstance(alert, Watch) else "search"
    return signing.dumps({"k": kind, "id": alert.pk}, salt=UNSUBSCRIBE_SALT, compress=True)


def unsubscribe_url(alert: Watch | SavedSearch) -> str:
    path = reverse("research:alert-unsubscribe", kwargs={"token": unsubscribe_token(alert)})
    return settings.SITE_URL + path


def alert_from_token(token: str) -> Watch | SavedSearch:
    """The alert an unsubscribe link names; AlertRefused if the link was not made by the portal."""
    try:
        data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
        model = {"watch": Watch, "search": SavedSearch}[data["k"]]
        return model.objects.get(pk=int(data["id"]))
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise AlertRefused(
            {
                "token": "This unsubscribe link is not one the portal sent; use the link in the e-mail."
            }
        ) from None
    except (Watch.DoesNotExist, SavedSearch.DoesNotExist):
        raise AlertRefused(
            {"token": "This alert was deleted; nothing more will be sent for it."}
        ) from None


def alert_unsubscribe(*, token: str) -> Watch | SavedSearch:
    """Stop e-mails for the alert a signed link names (its rate set to off)."""
    alert = alert_from_token(token)
    alert.rate = AlertRate.OFF
    alert.save(update_fields=["rate"])
    return alert


def _digest_sections(digest: AlertDigest) -> list[dict]:
    sections: dict[tuple, dict] = {}
    deliveries = digest.deliveries.select_related("item", "watch__agency", "saved_search").order_by(
        "item__occurred_at", "pk"
    )
    for delivery in deliveries:
        alert = delivery.watch or delivery.saved_search
        key = (type(alert).__name__, alert.pk)
        if key not in sections:
            sections[key] = {
                "label": alert.label if isinstance(alert, Watch) else alert.name,
                "unsubscribe": unsubscribe_url(alert),
                "items": [],
            }
        sections[key]["items"].append(
            {
                "title": delivery.item.title,
                "url": settings.SITE_URL + delivery.item.url,
                "detail": delivery.item.detail,
            }
        )
    return list(sections.values())


def digest_send(*, digest_id: int) -> bool:
    """Send one digest e-mail unless it was sent; True if it was sent now.

    The digest's row is held while sending: a second worker waits and then
    finds it sent, and a worker killed before marking it sent leaves it for
    the next. The Message-ID is the digest's, so a mail server that did get
    the first copy can tell a second from a new message.
    """
    with transaction.atomic():
        digest = (
            AlertDigest.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(pk=digest_id)
            .first()
        )
        if digest is None or digest.sent_at is not None:
            return False
        sections = _digest_sections(digest)
        if not sections or not digest.user.email:
            digest.sent_at = timezone.now()
            digest.save(update_fields=["sent_at"])
            return False
        count = sum(len(s["items"]) for s in sections)
        rate = AlertRate(digest.rate).label.lower()
        subject = f"{count} new for your alerts ({rate})" if count > 1 else "1 new for your alerts"
        body = render_to_string(
            "research/alerts/digest_email.txt",
            {
                "sections": sections,
                "user": digest.user,
                "site_url": settings.SITE_URL,
                "rate": rate,
            },
        )
        host = urlsplit(settings.SITE_URL).hostname or "localhost"
        message = EmailMessage(
            subject=subject,
            body=body,
            to=[digest.user.email],
            headers={
                "Message-ID": f"<alert-digest-{digest.pk}@{host}>",
                "List-Unsubscribe": f"<{sections[0]['unsubscribe']}>",
            },
        )
        message.send()
        digest.sent_at = timezone.now()
        digest.save(update_fields=["sent_at"])
    return True


# --- Webhook calls -------------------------------------------------------------------


def _payload(call: WebhookCall) -> bytes:
    delivery = call.delivery
    alert = delivery.watch or delivery.saved_search
    data = {
        "delivery": call.pk,
        "alert": {
            "type": "watch" if delivery.watch_id else "saved_search",
            "id": alert.pk,
            "name": alert.label if delivery.watch_id else alert.name,
        },
        "item": delivery.item.key,
        "title": delivery.item.title,
        "url": settings.SITE_URL + delivery.item.url,
        "detail": delivery.item.detail,
        "occurred_at": delivery.item.occurred_at.isoformat(),
    }
    return json.dumps(data, ensure_ascii=False, sort_keys=True).encode()


def _backoff(attempts: int) -> timedelta:
    return min(RETRY_FIRST * (2 ** max(attempts - 1, 0)), RETRY_MAX)


def webhook_call_attempt(*, call_id: int) -> str:
    """POST one delivery to its webhook unless done; record the outcome; return the call's state.

    The call's row is held during the POST, so two workers never send it at
    once; a worker killed mid-POST leaves it waiting for the next attempt.
    """
    with transaction.atomic():
        call = (
            WebhookCall.objects.select_for_update(of=("self",))
            .select_related(
                "webhook", "delivery__item", "delivery__watch__agency", "delivery__saved_search"
            )
            .filter(pk=call_id)
            .first()
        )
        if call is None or call.state != WebhookCall.State.PENDING:
            return call.state if call else "missing"
        webhook = call.webhook
        if not webhook.active:
            call.state, call.last_error = WebhookCall.State.FAILED, "The webhook is disabled."
            call.save(update_fields=["state", "last_error"])
            return call.state
        body = _payload(call)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: webhook_signature(webhook.secret, body),
            DELIVERY_HEADER: str(call.pk),
        }
        call.attempts += 1
        try:
            status = http_post(
                webhook.url, body=body, headers=headers, timeout=settings.WEBHOOK_TIMEOUT_SECONDS
            )
        except FetchError as exc:
            _failed(call, webhook, str(exc))
        else:
            call.state, call.sent_at, call.last_error = WebhookCall.State.SENT, timezone.now(), ""
            call.save(update_fields=["state", "sent_at", "last_error", "attempts"])
            webhook.consecutive_failures, webhook.last_status = (
                0,
                f"{status} on {timezone.now():%Y-%m-%d %H:%M} UTC",
            )
            webhook.save(update_fields=["consecutive_failures", "last_status"])
    return call.state


def _failed(call: WebhookCall, webhook: Webhook, error: str) -> None:
    now = timezone.now()
    call.last_error = error
    call.next_attempt_at = now + _backoff(call.attempts)
    call.save(update_fields=["attempts", "last_error", "next_attempt_at"])
    webhook.consecutive_failures += 1
    webhook.last_status = error[:300]
    fields = ["consecutive_failures", "last_status"]
    if webhook.consecutive_failures >= settings.WEBHOOK_MAX_FAILURES:
        webhook.active = False
        webhook.disabled_note = (
            f"Disabled on {now:%Y-%m-%d %H:%M} UTC after {webhook.consecutive_failures} failed "
            f"calls in a row; the last: {error} Check the address and enable it again."
        )
        fields += ["active", "disabled_note"]
        WebhookCall.objects.filter(webhook=webhook, state=WebhookCall.State.PENDING).update(
            state=WebhookCall.State.FAILED, last_error="The webhook was disabled."
        )
        call.state = WebhookCall.State.FAILED
    webhook.save(update_fields=fields)
