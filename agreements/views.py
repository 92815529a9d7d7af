"""Public pages of the agreements app: agencies, states, snapshots, statistics, changes, data.

Views parse the query string, call a selector, and render; every listing also
downloads as CSV or JSON with the same filters (``portal.exports``). Query counts
do not grow with the number of rows shown.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta

import us
from django import forms
from django.contrib.syndication.views import Feed
from django.core.cache import cache
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.feedgenerator import Atom1Feed
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe

from agreements import charts, selectors
from agreements import page_selectors as ps
from agreements.models import (
    Agency,
    AgencyKind,
    Agreement,
    AgreementEvent,
    ListSnapshot,
    SupportModel,
)
from portal.exports import Column, export_links, export_response, requested_format

PAGE_SIZE = 50


def _page(request: HttpRequest, queryset, per_page: int = PAGE_SIZE):
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))


def _query_without(request: HttpRequest, *names: str) -> str:
    """The current query string minus ``names`` (and page), for facet and pager links."""
    query = request.GET.copy()
    for name in (*names, "page", "format"):
        query.pop(name, None)
    return query.urlencode()


def state_name(code: str) -> str:
    found = us.states.lookup(code) if code else None
    return found.name if found else code


# --- Agencies ---------------------------------------------------------------------

AGENCY_COLUMNS = [
    Column("name"),
    Column("state"),
    Column("kind"),
    Column("agency_type"),
    Column("county_name"),
    Column("county_fips"),
    Column("ori"),
    Column("models", lambda a: sorted({g.model for g in a.agreements.all()})),
    Column("statuses", lambda a: sorted({g.status for g in a.agreements.all()})),
    Column("url", lambda a: a.get_absolute_url()),
]


class AgencyFilterForm(forms.Form):
    q = forms.CharField(label="Name", required=False, max_length=200)
    state = forms.CharField(label="State", required=False, max_length=2)
    model = forms.ChoiceField(
        label="Model", required=False, choices=[("", "Any"), *SupportModel.choices]
    )
    status = forms.ChoiceField(
        label="Status", required=False, choices=[("", "Any"), *Agreement.Status.choices]
    )
    kind = forms.ChoiceField(
        label="Kind", required=False, choices=[("", "Any"), *AgencyKind.choices]
    )


def agency_list(request: HttpRequest) -> HttpResponse:
    """The agencies directory: name search, facets with counts, pages, downloads."""
    form = AgencyFilterForm(request.GET)
    form.is_valid()  # an unknown value drops that filter only: cleaned_data keeps the rest
    filters = {k: v for k, v in form.cleaned_data.items() if v}
    if "state" in filters:
        filters["state"] = filters["state"].upper()
    agencies = ps.agencies_filtered(**filters)
    if fmt := requested_format(request):
        return export_response(
            fmt,
            rows=agencies.iterator(chunk_size=2000),
            columns=AGENCY_COLUMNS,
            filename="agencies",
            meta={"filters": filters},
        )
    # The directory changes with imports and curators' edits only: the page body
    # is cached per query string under the version of the agencies.
    query = hashlib.sha256(request.GET.urlencode().encode()).hexdigest()[:32]
    body_html = cached_fragment(
        f"agency-list:{query}:{ps.agencies_version()}",
        "agreements/_agency_list_body.html",
        lambda: {
            "form": form,
            "page": _page(request, agencies),
            "facets": _facet_groups(request, filters, ps.agency_facets(filters)),
            "filters": filters,
            "pager_query": _query_without(request),
            "downloads": export_links(request),
        },
    )
    return render(request, "agreements/agency_list.html", {"body_html": body_html})


FACET_TITLES = {"state": "State", "model": "Model", "status": "Status", "kind": "Kind"}


def _facet_groups(request: HttpRequest, filters: dict, facets: dict) -> list[dict]:
    """Facet values with counts and the link that selects each (keeping other filters)."""
    labels = {
        "state": {s: state_name(s) for s, _ in facets["state"]},
        "model": dict(SupportModel.choices),
        "status": dict(Agreement.Status.choices),
        "kind": dict(AgencyKind.choices),
    }
    groups = []
    for name, title in FACET_TITLES.items():
        base = _query_without(request, name)
        options = [
            {
                "value": value,
                "label": labels[name].get(value, value),
                "count": count,
                "url": "?" + "&".join(p for p in (base, urlencode({name: value})) if p),
                "selected": filters.get(name) == value,
            }
            for value, count in facets[name]
        ]
        groups.append(
            {
                "name": name,
                "title": title,
                "options": options,
                "clear": "?" + base if name in filters else "",
            }
        )
    return groups


AGENCY_TIMELINE_LIMIT = 100
# What a timeline entry shows (``event_item``) and nothing more.
TIMELINE_FIELDS = (
    "id",
    "kind",
    "occurred_at",
    "field",
    "old_value",
    "new_value",
    "agency_id",
    "previous_snapshot_id",
    "agreement__id",
    "agreement__model",
    "agreement__signed_on",
    "snapshot__id",
    "snapshot__sha256",
    "snapshot__published_at",
)


def agency_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """One agency: its agreements, the timeline of events, MOAs and documents."""
    agency = ps.agency_with_version(slug)
    if agency is None:
        # An old address (renamed or merged agency) leads to where it went.
        moved = selectors.agency_moved_to(slug)
        if moved is None:
            raise Http404("No agency at this address.")
        return redirect(moved, permanent=True)
    # Its facts, agreements and timeline change with imports and curators'
    # edits only; the documents (which depend on who is looking) are read live.
    context = {"agency": agency, "state_name": state_name(agency.state)}
    return render(
        request,
        "agreements/agency_detail.html",
        {
            **context,
            "main_html": cached_fragment(
                f"agency-main:{agency.version}",
                "agreements/_agency_main.html",
                lambda: {**context, "agreements": _agency_agreements(agency)},
            ),
            "timeline_html": cached_fragment(
                f"agency-timeline:{agency.version}",
                "agreements/_agency_timeline.html",
                lambda: {**context, **_agency_timeline(agency)},
            ),
        },
    )


def _agency_agreements(agency: Agency) -> list[Agreement]:
    return list(agency.agreements.select_related("predecessor").order_by("model", "signed_on"))


def _agency_timeline(agency: Agency) -> dict:
    """The latest changes of ``agency``; the page links to all of them in the API.

    The timeline grows with every list. Of each snapshot, only what the link
    shows is read: its warnings can be long.
    """
    events = list(
        agency.events.select_related("agreement", "snapshot")
        .only(*TIMELINE_FIELDS)
        .order_by("-occurred_at", "id")[: AGENCY_TIMELINE_LIMIT + 1]
    )
    return {
        "events": events[:AGENCY_TIMELINE_LIMIT],
        "more_events": len(events) > AGENCY_TIMELINE_LIMIT,
        "timeline_limit": AGENCY_TIMELINE_LIMIT,
    }


# --- Agreements listing -----------------------------------------------------------

AGREEMENT_COLUMNS = [
    Column("agency", "agency.name"),
    Column("agency_slug", "agency.slug"),
    Column("state", "agency.state"),
    Column("county", "agency.county_name"),
    Column("model"),
    Column("status"),
    Column("signed_on"),
    Column("signed_raw"),
    Column("moa_url"),
    Column("addendum_url"),
    Column("first_listed_at"),
    Column("last_listed_at"),
    Column("predecessor_id"),
    Column("id"),
]


def agreement_list(request: HttpRequest) -> HttpResponse:
    """Every agreement, filterable by state, model and status; downloads as CSV/JSON."""
    state = request.GET.get("state", "").upper()[:2]
    model = request.GET.get("model", "") if request.GET.get("model") in SupportModel else ""
    status = request.GET.get("status", "") if request.GET.get("status") in Agreement.Status else ""
    agreements = ps.agreements_filtered(state=state, model=model, status=status)
    if fmt := requested_format(request):
        return export_response(
            fmt,
            rows=agreements.iterator(chunk_size=2000),
            columns=AGREEMENT_COLUMNS,
            filename="agreements",
            meta={"filters": {"state": state, "model": model, "status": status}},
        )
    return render(
        request,
        "agreements/agreement_list.html",
        {
            "page": _page(request, agreements, 100),
            "state": state,
            "model": model,
            "status": status,
            "models": SupportModel.choices,
            "statuses": Agreement.Status.choices,
            "pager_query": _query_without(request),
            "downloads": export_links(request),
        },
    )


# --- States -----------------------------------------------------------------------


def state_detail(request: HttpRequest, state: str) -> HttpResponse:
    """One state: agreements in force by model, its agencies and recent changes."""
    code = state.upper()
    found = us.states.lookup(code)
    if found is None or found.abbr != code:
        raise Http404("No such state.")
    if code != state:
        return redirect("agreements:state-detail", state=code, permanent=True)
    if fmt := requested_format(request):
        return export_response(
            fmt,
            rows=ps.agencies_filtered(state=code).iterator(chunk_size=2000),
            columns=AGENCY_COLUMNS,
            filename=f"agencies-{code}",
            meta={"filters": {"state": code}},
        )
    snapshot = ps.snapshot_in_force(None)
    figures = None
    if snapshot:
        rows = [r for r in ps.snapshot_figures(snapshot)["states"] if r["state"] == code]
        figures = rows[0] if rows else {"state": code, "models": {}, "total": 0}
    return render(
        request,
        "agreements/state_detail.html",
        {
            "code": code,
            "name": found.name,
            "snapshot": snapshot,
            "figures": figures,
            "agencies_html": cached_fragment(
                f"state-agencies:{code}:{ps.agencies_version(code)}",
                "agreements/_state_agencies.html",
                lambda: _state_agencies_context(code, found.name),
            ),
            "downloads": export_links(request),
        },
    )


def _state_agencies_context(code: str, name: str) -> dict:
    agencies = (
        Agency.objects.filter(state=code, agreements__isnull=False)
        .distinct()
        .prefetch_related(Prefetch("agreements", queryset=Agreement.objects.order_by("model")))
        .order_by("name")
    )
    return {"name": name, "agencies": agencies, "events": ps.events_filtered(state=code)[:25]}


# --- Snapshots --------------------------------------------------------------------

ROW_COLUMNS = [
    Column("row_number"),
    Column("state"),
    Column("agency_name"),
    Column("model"),
    Column("signed_on"),
    Column("is_duplicate"),
    Column("agency_slug", "agency.slug"),
    Column("agreement_id"),
    Column("cells", lambda r: r.raw),
]


def snapshot_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One ICE file: download, sha256, warnings, and its rows (filterable by state/model)."""
    snapshot = get_object_or_404(ListSnapshot, pk=pk)
    rows = selectors.snapshot_rows(snapshot)
    state = request.GET.get("state", "").upper()[:2]
    model = request.GET.get("model", "")
    if state:
        rows = rows.filter(state=state)
    if model in SupportModel:
        rows = rows.filter(model=model)
    if fmt := requested_format(request):
        return export_response(
            fmt,
            rows=rows.iterator(chunk_size=2000),
            columns=ROW_COLUMNS,
            filename=f"snapshot-{snapshot.pk}-rows",
            meta={
                "snapshot_id": snapshot.pk,
                "sha256": snapshot.sha256,
                "state": state,
                "model": model,
            },
        )
    neighbours = ps.snapshot_neighbours(snapshot)
    return render(
        request,
        "agreements/snapshot_detail.html",
        {
            "snapshot": snapshot,
            "page": _page(request, rows, 100),
            "state": state,
            "model": model if model in SupportModel else "",
            "models": SupportModel.choices,
            "previous": neighbours[0],
            "next": neighbours[1],
            "pager_query": _query_without(request),
            "downloads": export_links(request),
        },
    )


# --- Statistics -------------------------------------------------------------------


def snapshot_file(request: HttpRequest, pk: int) -> FileResponse:
    """The original ICE file of a snapshot, byte for byte, under the name ICE gave it."""
    snapshot = get_object_or_404(ListSnapshot, pk=pk)
    if not snapshot.file:
        raise Http404("This snapshot has no stored file.")
    try:
        handle = snapshot.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404("The stored file of this snapshot is missing.") from exc
    name = snapshot.original_filename or snapshot.file.name.rsplit("/", 1)[-1]
    return FileResponse(handle, as_attachment=True, filename=name)


class AsOfForm(forms.Form):
    as_of = forms.DateField(
        label="As of",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The figures of the latest ICE list published on or before this day.",
    )


def stats(request: HttpRequest) -> HttpResponse:
    """Agreements in force by model and by state on a chosen day, traced to one snapshot."""
    form = AsOfForm(request.GET or None)
    as_of = form.cleaned_data.get("as_of") if form.is_valid() else None
    snapshot = ps.snapshot_in_force(as_of)
    if snapshot and (fmt := requested_format(request)):
        figures = ps.snapshot_figures(snapshot)
        meta = {
            "as_of": as_of or timezone.localdate(),
            "snapshot_id": snapshot.pk,
            "snapshot_published_at": snapshot.published_at,
            "snapshot_sha256": snapshot.sha256,
        }
        columns = [
            Column("state"),
            *[Column(m, lambda r, m=m: r["models"][m]) for m in figures["models"]],
            Column("total"),
            Column("snapshot_id", lambda r: snapshot.pk),
            Column("snapshot_published_at", lambda r: snapshot.published_at),
            Column("snapshot_sha256", lambda r: snapshot.sha256),
        ]
        return export_response(
            fmt, rows=figures["states"], columns=columns, filename="agreements-by-state", meta=meta
        )
    figures_html = ""
    if snapshot:
        pending = ps.snapshot_in_force(as_of, kind=ListSnapshot.Kind.PENDING)
        figures_html = cached_fragment(
            f"stats-figures:{_version(snapshot)}:{_version(pending)}",
            "agreements/_stats_figures.html",
            lambda: {
                "snapshot": snapshot,
                "figures": ps.snapshot_figures(snapshot),
                "pending": _pending_figures(pending),
                "rows_url": reverse("agreements:snapshot-detail", args=[snapshot.pk]),
            },
        )
    return render(
        request,
        "agreements/stats.html",
        {
            "form": form,
            "as_of": as_of,
            "as_of_value": request.GET.get("as_of", ""),
            "snapshot": snapshot,
            "figures_html": figures_html,
            "bounds": ps.snapshot_bounds(),
            "downloads": export_links(request) if snapshot else None,
        },
    )


def _version(snapshot: ListSnapshot | None) -> str:
    """What identifies the figures of a list in a cache key (its rows never change)."""
    return f"{snapshot.pk}-{snapshot.sha256}-{snapshot.row_count}" if snapshot else "none"


def _pending_figures(pending: ListSnapshot | None) -> dict | None:
    """The pending list in force the same day and how many agreements it holds."""
    if pending is None:
        return None
    return {"snapshot": pending, "total": ps.snapshot_figures(pending)["total"]}


# --- Changes ----------------------------------------------------------------------

EVENT_COLUMNS = [
    Column("occurred_at"),
    Column("kind"),
    Column("change", lambda e: ps.EVENT_CHANGE[e.kind]),
    Column("state", "agency.state"),
    Column("agency", "agency.name"),
    Column("agency_slug", "agency.slug"),
    Column("model", "agreement.model"),
    Column("signed_on", "agreement.signed_on"),
    Column("field"),
    Column("old_value"),
    Column("new_value"),
    Column("snapshot_id"),
    Column("snapshot_sha256", "snapshot.sha256"),
    Column("previous_snapshot_id"),
]


def changes(request: HttpRequest) -> HttpResponse:
    """What changed between consecutive ICE lists: added, removed and changed agreements."""
    state = request.GET.get("state", "").upper()[:2]
    change = request.GET.get("change", "")
    change = change if change in ps.CHANGE_LABELS else ""
    events = ps.events_filtered(state=state, change=change)
    if fmt := requested_format(request):
        return export_response(
            fmt,
            rows=events.select_related("agency", "agreement", "snapshot").iterator(chunk_size=2000),
            columns=EVENT_COLUMNS,
            filename="agreement-events",
            meta={"filters": {"state": state, "change": change}},
        )
    page = _page(request, events, 100)
    shown = list(page)
    totals = ps.event_totals(events, {e.snapshot_id for e in shown})
    groups = ps.events_by_snapshot(shown, totals)
    feed_url = reverse("agreements:changes-feed") + (
        f"?{urlencode({'state': state})}" if state else ""
    )
    return render(
        request,
        "agreements/changes.html",
        {
            "page": page,
            "groups": groups,
            "state": state,
            "state_name": state_name(state) if state else "",
            "change": change,
            "change_labels": ps.CHANGE_LABELS.items(),
            "states": ps.states_with_agencies(),
            "feed_url": feed_url,
            "pager_query": _query_without(request),
            "downloads": export_links(request),
        },
    )


class ChangesFeed(Feed):
    """Atom feed of agreement events, optionally for one state (``?state=TX``)."""

    feed_type = Atom1Feed
    description_template = None

    def get_object(self, request: HttpRequest, *args, **kwargs) -> str:
        return request.GET.get("state", "").upper()[:2]

    def title(self, state: str) -> str:
        where = f" in {state_name(state)}" if state else ""
        return f"287(g) agreement changes{where}"

    def subtitle(self, state: str) -> str:
        return "Agreements added to, removed from and changed on ICE's 287(g) lists."

    def link(self, state: str) -> str:
        url = reverse("agreements:changes")
        return f"{url}?{urlencode({'state': state})}" if state else url

    def items(self, state: str):
        return ps.events_filtered(state=state).select_related("agency", "agreement", "snapshot")[
            :100
        ]

    def item_title(self, event: AgreementEvent) -> str:
        return f"{event.agency.name} ({event.agency.state}): {ps.event_sentence(event)}"

    def item_description(self, event: AgreementEvent) -> str:
        return (
            f"{ps.event_sentence(event)}. Seen in the ICE list published "
            f"{event.snapshot.published_at:%Y-%m-%d %H:%M} UTC (sha256 {event.snapshot.sha256})."
        )

    def item_link(self, event: AgreementEvent) -> str:
        return f"{event.agency.get_absolute_url()}#event-{event.pk}"

    def item_guid(self, event: AgreementEvent) -> str:
        return f"agreement-event-{event.pk}"

    item_guid_is_permalink = False

    def item_pubdate(self, event: AgreementEvent):
        return event.occurred_at

    def item_updateddate(self, event: AgreementEvent):
        return event.occurred_at


# --- Data and methodology -----------------------------------------------------------

SNAPSHOT_COLUMNS = [
    Column("id"),
    Column("kind"),
    Column("published_at"),
    Column("published_at_source"),
    Column("original_filename"),
    Column("sha256"),
    Column("row_count"),
    Column("warning_count", lambda s: len(s.warnings or [])),
    Column("source_url"),
    Column("file_url", lambda s: s.file.url if s.file else ""),
    Column("page_url", lambda s: s.get_absolute_url()),
]


def data(request: HttpRequest) -> HttpResponse:
    """Downloads: current agreements, full history, and every ICE file with its sha256."""
    snapshots = selectors.snapshot_list()
    if fmt := requested_format(request):
        return export_response(
            fmt,
            rows=snapshots.iterator(chunk_size=500),
            columns=SNAPSHOT_COLUMNS,
            filename="snapshots",
        )
    return render(
        request,
        "agreements/data.html",
        {"snapshots": snapshots, "downloads": export_links(request)},
    )


def methodology(request: HttpRequest) -> HttpResponse:
    """How the lists are collected and normalized, and what they cannot tell."""
    return render(request, "agreements/methodology.html", {})


# --- Home page sections (portal.views.home assembles them) ----------------------------


def home_context(model: str = "") -> dict:
    """Figures, map, monthly chart and latest changes for the front page, as HTML.

    They change only when a list is imported (about twice a day) but cost more
    to draw than the rest of the page, so each section is cached under the
    identity of the data it shows: the first request after an import misses
    the cache and draws the new figures.
    """
    snapshot = ps.snapshot_in_force(None)
    context: dict = {"snapshot": snapshot}
    if snapshot is None:
        return context
    version = _version(snapshot)
    context["figures_html"] = cached_fragment(
        f"home-figures:{model}:{version}",
        "portal/_home_figures.html",
        lambda: _home_figures_context(snapshot, model),
    )
    # Any import that records a change (a pending list too) adds a newer event.
    latest_event = AgreementEvent.objects.order_by("-id").values_list("id", flat=True).first()
    context["changes_html"] = cached_fragment(
        f"home-changes:{latest_event}:{version}",
        "portal/_home_changes.html",
        lambda: {
            "events": AgreementEvent.objects.select_related(
                "agency", "agreement", "snapshot"
            ).order_by("-occurred_at", "id")[:10]
        },
    )
    return context


def cached_fragment(key: str, template: str, context: Callable[[], dict]) -> SafeString:
    """``template`` rendered with ``context()``, cached under ``key``.

    ``key`` must name the version of the data shown, so that new data is a new
    key. The timeout bounds how long edits that do not change the version (an
    agency renamed or merged by a curator) take to show.
    """
    html = cache.get(key)
    if html is None:
        html = render_to_string(template, context())
        cache.set(key, html, ps.FIGURES_CACHE_SECONDS)
    return mark_safe(html)  # noqa: S308 -- rendered by the template engine, which escapes


def _home_figures_context(snapshot: ListSnapshot, model: str) -> dict:
    context: dict = {"snapshot": snapshot, "map_model": model, "models": SupportModel.choices}
    figures = ps.snapshot_figures(snapshot)
    month_ago = ps.snapshot_in_force(snapshot.published_at.date() - timedelta(days=30))
    if month_ago and month_ago.pk != snapshot.pk:
        before = ps.snapshot_figures(month_ago)
        context["month_ago"] = {
            "snapshot": month_ago,
            "agreements": figures["total"] - before["total"],
            "agencies": figures["agencies"] - before["agencies"],
        }
    counts = {
        row["state"]: (row["models"].get(model, 0) if model else row["total"])
        for row in figures["states"]
    }
    label = dict(SupportModel.choices).get(model, "all models")
    context["figures"] = figures
    context["map_svg"] = charts.tile_map(
        counts,
        title=f"Agreements in force by state, {label}, as of {snapshot.published_at:%B %-d, %Y}",
        link=lambda s: reverse("agreements:state-detail", args=[s]),
    )
    context["map_rows"] = sorted(counts.items())
    months, series = ps.monthly_signings(
        months=36, until=snapshot.published_at.date(), version=f"{snapshot.pk}-{snapshot.sha256}"
    )
    context["bars_svg"] = charts.monthly_bars(
        months, series, title="Agreements signed per month, by model, last 36 months"
    )
    context["bar_rows"] = [
        {
            "month": m,
            "values": [series[k][i] for k in series],
            "total": sum(series[k][i] for k in series),
        }
        for i, m in enumerate(months)
    ]
    context["bar_models"] = list(series)
    return context
