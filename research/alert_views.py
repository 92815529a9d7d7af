"""A researcher's alert pages: watches, saved searches, webhooks, and the unsubscribe link.

Every write is a call to ``research.services.alerts``; its refusals are shown
on the form. Another researcher's alert is a 404, as one that does not exist.
"""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from research import policy, selectors
from research.forms import SavedSearchForm, WatchForm, WebhookForm, show_refusal
from research.models import SavedSearch, Watch, Webhook
from research.services import alerts
from research.services.alerts import AlertRefused


def alerts_allowed(view):
    """Signed in (else the login page) and holding the alerts permission (else 403)."""

    @login_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not policy.can_keep_alerts(request.user):
            raise PermissionDenied("Your account may not keep alerts.")
        return view(request, *args, **kwargs)

    return wrapped


def _delete_page(request: HttpRequest, delete, *, what: str, done: str, back: str):
    """GET asks "delete {what}?"; POST deletes and goes back to the list named ``back``."""
    if request.method == "POST":
        delete()
        messages.success(request, done)
        return redirect(back)
    return render(request, "research/alerts/confirm_delete.html", {"what": what, "back": back})


def _watch_arguments(form: WatchForm) -> dict:
    data = form.cleaned_data
    return {
        "scope": data["scope"],
        "agency": data.get("agency"),
        "county_fips": data.get("county_fips", ""),
        "state": data.get("state", ""),
        "changes": data["changes"],
        "rate": data["rate"],
    }


@require_http_methods(["GET", "POST"])
@alerts_allowed
def watch_list(request: HttpRequest) -> HttpResponse:
    """The researcher's watches, and a form to add one (prefilled from ?agency= or ?state=)."""
    if request.method == "POST":
        form = WatchForm(request.POST)
        if form.is_valid():
            try:
                alerts.watch_create(user=request.user, **_watch_arguments(form))
            except AlertRefused as exc:
                show_refusal(form, exc)
            else:
                messages.success(request, "Watch saved.")
                return redirect("research:watch-list")
    else:
        initial = {}
        for name in ("agency", "state", "county_fips"):
            if request.GET.get(name):
                initial = {
                    "scope": "county" if name == "county_fips" else name,
                    name: request.GET[name],
                }
        form = WatchForm(initial=initial)
    return render(
        request,
        "research/alerts/watches.html",
        {"form": form, "watches": selectors.user_watches(request.user)},
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@alerts_allowed
def watch_edit(request: HttpRequest, pk: int) -> HttpResponse:
    watch = get_object_or_404(Watch, pk=pk, user=request.user)
    if request.method == "POST":
        form = WatchForm(request.POST)
        if form.is_valid():
            try:
                alerts.watch_update(watch=watch, **_watch_arguments(form))
            except AlertRefused as exc:
                show_refusal(form, exc)
            else:
                messages.success(request, "Watch saved.")
                return redirect("research:watch-list")
    else:
        form = WatchForm(
            initial={
                "scope": watch.scope,
                "agency": watch.agency.slug if watch.agency else None,
                "county_fips": watch.county_fips,
                "state": watch.state,
                "changes": watch.changes,
                "rate": watch.rate,
            }
        )
    return render(
        request,
        "research/alerts/watch_form.html",
        {"form": form, "watch": watch},
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@alerts_allowed
def watch_delete(request: HttpRequest, pk: int) -> HttpResponse:
    watch = get_object_or_404(Watch, pk=pk, user=request.user)
    return _delete_page(
        request,
        lambda: alerts.watch_delete(watch=watch),
        what=f"the watch on {watch.label}",
        done="Watch deleted.",
        back="research:watch-list",
    )


@require_http_methods(["GET", "POST"])
@alerts_allowed
def saved_search_list(request: HttpRequest) -> HttpResponse:
    """The researcher's saved searches, and a form to save one (prefilled from ?search=)."""
    if request.method == "POST":
        form = SavedSearchForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                alerts.saved_search_create(
                    user=request.user, name=data["name"], search=data["search"], rate=data["rate"]
                )
            except AlertRefused as exc:
                show_refusal(form, exc)
            else:
                messages.success(request, "Search saved.")
                return redirect("research:saved-search-list")
    else:
        form = SavedSearchForm(initial={"search": request.GET.get("search", "")})
    return render(
        request,
        "research/alerts/searches.html",
        {"form": form, "searches": selectors.user_saved_searches(request.user)},
        status=400 if form.errors else 200,
    )


def _search_text(saved: SavedSearch) -> str:
    pairs = [("q", saved.query)] if saved.query else []
    pairs += [(name, value) for name, values in saved.filters.items() for value in values]
    return saved.query if not saved.filters else "?" + urlencode(pairs)


@require_http_methods(["GET", "POST"])
@alerts_allowed
def saved_search_edit(request: HttpRequest, pk: int) -> HttpResponse:
    saved = get_object_or_404(SavedSearch, pk=pk, user=request.user)
    if request.method == "POST":
        form = SavedSearchForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                alerts.saved_search_update(
                    saved_search=saved, name=data["name"], search=data["search"], rate=data["rate"]
                )
            except AlertRefused as exc:
                show_refusal(form, exc)
            else:
                messages.success(request, "Search saved.")
                return redirect("research:saved-search-list")
    else:
        form = SavedSearchForm(
            initial={"name": saved.name, "search": _search_text(saved), "rate": saved.rate}
        )
    return render(
        request,
        "research/alerts/search_form.html",
        {"form": form, "saved": saved},
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@alerts_allowed
def saved_search_delete(request: HttpRequest, pk: int) -> HttpResponse:
    saved = get_object_or_404(SavedSearch, pk=pk, user=request.user)
    return _delete_page(
        request,
        lambda: alerts.saved_search_delete(saved_search=saved),
        what=f"the saved search “{saved.name}”",
        done="Saved search deleted.",
        back="research:saved-search-list",
    )


@require_http_methods(["GET", "POST"])
@alerts_allowed
def webhook_list(request: HttpRequest) -> HttpResponse:
    """The researcher's webhooks with their signing secrets, and a form to add one."""
    if request.method == "POST":
        form = WebhookForm(request.POST)
        if form.is_valid():
            try:
                alerts.webhook_create(user=request.user, url=form.cleaned_data["url"])
            except AlertRefused as exc:
                show_refusal(form, exc)
            else:
                messages.success(request, "Webhook added.")
                return redirect("research:webhook-list")
    else:
        form = WebhookForm()
    return render(
        request,
        "research/alerts/webhooks.html",
        {
            "form": form,
            "webhooks": selectors.user_webhooks(request.user),
            "signature_header": alerts.SIGNATURE_HEADER,
            "delivery_header": alerts.DELIVERY_HEADER,
        },
        status=400 if form.errors else 200,
    )


@require_POST
@alerts_allowed
def webhook_enable(request: HttpRequest, pk: int) -> HttpResponse:
    webhook = get_object_or_404(Webhook, pk=pk, user=request.user)
    alerts.webhook_enable(webhook=webhook)
    messages.success(request, "Webhook enabled again.")
    return redirect("research:webhook-list")


@require_http_methods(["GET", "POST"])
@alerts_allowed
def webhook_delete(request: HttpRequest, pk: int) -> HttpResponse:
    webhook = get_object_or_404(Webhook, pk=pk, user=request.user)
    return _delete_page(
        request,
        lambda: alerts.webhook_delete(webhook=webhook),
        what=f"the webhook to {webhook.url}",
        done="Webhook deleted.",
        back="research:webhook-list",
    )


@require_http_methods(["GET", "POST"])
def alert_unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """The e-mail's link: no login; GET asks (mail scanners follow links), POST stops the e-mails."""
    try:
        alert = alerts.alert_from_token(token)
    except AlertRefused as exc:
        return render(
            request,
            "research/alerts/unsubscribe.html",
            {"refusal": exc.errors["token"]},
            status=400,
        )
    if request.method == "POST":
        alert = alerts.alert_unsubscribe(token=token)
        return render(request, "research/alerts/unsubscribe.html", {"alert": alert, "done": True})
    return render(request, "research/alerts/unsubscribe.html", {"alert": alert})
