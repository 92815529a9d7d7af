"""Public pages of the agreements app: agencies, states, snapshots, statistics, changes, data.

Views parse the query string, call a selector, and render; every listing also
downloads as CSV or JSON with the same filters (``portal.exports``). Query counts
do not grow with the number of rows shown.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable

import us
from django.contrib.syndication.views import Feed
from django.core.cache import cache
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.feedgenerator import Atom1Feed
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_safe

from agreements import charts, selectors
from agreements.filters import (
    AgencyFilter,
    AgreementEventFilter,
    AgreementFilter,
    AsOfForm,
    StateModelForm,
)
from agreements.models import AgencyKind, Agreement, ListSnapshot, SupportModel
from portal.exports import Column, export_links, export_response, requested_format
from portal.fields import parse_id

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
    Column("statuses", lambda a: sorted({_status_value(g) for g in a.agreements.all()})),
    Column("url", lambda a: a.get_absolute_url()),
]


def _status_value(agreement: Agreement) -> str:
    """The status for the directory's downloads: an ending in question is no ending."""
    return "name changed?" if agreement.ending_in_question else agreement.status


@require_safe
def agency_list(request: HttpRequest) -> HttpResponse:
    """The agencies directory: name search, facets with counts, pages, downloads."""
    filterset = AgencyFilter(request.GET)
    form, criteria = filterset.form, filterset.criteria
    filters = criteria.chosen()
    if fmt := requested_format(request):
        return export_response(
            fmt,
            rows=selectors.agency_directory(criteria).iterator(chunk_size=2000),
            columns=AGENCY_COLUMNS,
            filename="agencies",
            meta={"filters": filters},
        )

    def body() -> dict:
        return {
            "form": form,
            "page": _page(request, selectors.agency_directory(criteria)),
            "facets": _facet_groups(request, filters, selectors.agency_facets(criteria)),
            "filters": filters,
            "pager_query": _query_without(request),
            "downloads": export_links(request),
        }

    # The directory changes with imports and curators' edits only: the page body
    # is cached per filters and page under the version of the agencies.
    key = _directory_key(request, filterset)
    body_html = (
        cached_fragment(
            f"agency-list:{key}:{selectors.agencies_version()}",
            "agreements/_agency_list_body.html",
            body,
        )
        if key
        else render_to_string("agreements/_agency_list_body.html", body())
    )
    return render(request, "agreements/agency_list.html", {"body_html": body_html})


# Pages of the directory past this one are drawn anew each time: a visitor cannot
# fill the cache by counting pages, and few read that far.
MAX_CACHED_PAGE = 100


def _directory_key(request: HttpRequest, filterset: AgencyFilter) -> str | None:
    """The cache key of a directory page, from its valid filters and page; None: not cached.

    Only the filters the filter set declares make a key, so made-up parameters
    (``?zz=<random>``) cannot add cache entries; such a page, an invalid filter
    or a far page is drawn without the cache.
    """
    page = parse_id(request.GET.get("page", "1"))
    known = set(filterset.filters) | {"page"}
    if set(request.GET) - known or not filterset.is_valid():
        return None
    if page is None or page > MAX_CACHED_PAGE:
        return None
    chosen = sorted(filterset.criteria.chosen().items())
    return hashlib.sha256(repr((chosen, page)).encode()).hexdigest()[:32]


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


def _as_of(request: HttpRequest) -> tuple[AsOfForm, dt.date | None]:
    """The ``?as_of=`` of a page, read as the statistics page reads it (None: today)."""
    form = AsOfForm(request.GET or None)
    return form, (form.cleaned_data.get("as_of") if form.is_valid() else None)


@require_safe
def agency_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """One agency: its agreements, the timeline of events, MOAs and documents; ``?as_of=`` a day."""
    agency = selectors.agency_with_version(slug)
    if agency is None:
        # An old address (renamed or merged agency) leads to where it went.
        moved = selectors.agency_moved_to(slug)
        if moved is None:
            raise Http404("No agency at this address.")
        return redirect(moved, permanent=True)
    form, as_of = _as_of(request)
    # Its facts, agreements and timeline change with imports and curators'
    # edits only; the documents (which depend on who is looking) are read live.
    context = {
        "agency": agency,
        "state_name": state_name(agency.state),
        "as_of": as_of,
        "snapshot": selectors.snapshot_in_force(as_of) if as_of else None,
    }
    return render(
        request,
        "agreements/agency_detail.html",
        {
            **context,
            "form": form,
            "as_of_value": request.GET.get("as_of", ""),
            "bounds": selectors.snapshot_bounds(agency.imports),
            "main_html": cached_fragment(
                f"agency-main:{agency.version}:{as_of}",
                "agreements/_agency_main.html",
                lambda: {**context, "agreements": selectors.agency_agreements(agency, as_of)},
            ),
            "timeline_html": cached_fragment(
                f"agency-timeline:{agency.version}:{as_of}",
                "agreements/_agency_timeline.html",
                lambda: {**context, **selectors.agency_timeline(agency, as_of)},
            ),
        },
    )


# --- Agreements listing -----------------------------------------------------------

AGREEMENT_COLUMNS = [
    Column("agency", "agency.name"),
    Column("agency_slug", "agency.slug"),
    Column("state", "agency.state"),
    Column("county", "agency.county_name"),
    Column("model"),
    Column("status"),
    Column("ending_in_question"),
    Column("status_label"),
    Column("signed_on"),
    Column("signed_raw"),
    Column("moa_url"),
    Column("addendum_url"),
    Column("first_listed_at"),
    Column("last_listed_at"),
    Column("predecessor_id"),
    Column("id"),
]


@require_safe
def agreement_list(request: HttpRequest) -> HttpResponse:
    """Every agreement, filterable by state, model, status and day; downloads as CSV/JSON."""
    filterset = AgreementFilter(request.GET)
    criteria = filterset.criteria
    agreements = selectors.agreements_selected(criteria)
    if fmt := requested_format(request):
        return export_response(
            fmt,
            rows=agreements.iterator(chunk_size=2000),
            columns=AGREEMENT_COLUMNS,
            filename="agreements",
            meta={"filters": criteria.chosen()},
        )
    return render(
        request,
        "agreements/agreement_list.html",
        {
            "page": _page(request, agreements, 100),
            "state": criteria.state,
            "model": criteria.model,
            "status": criteria.status,
            "as_of": criteria.as_of,
            "models": SupportModel.choices,
            "statuses": Agreement.Status.choices,
            "pager_query": _query_without(request),
            "downloads": export_links(request),
        },
    )


# --- States -----------------------------------------------------------------------


@require_safe
def state_detail(request: HttpRequest, state: str) -> HttpResponse:
    """One state: agreements in force by model, its agencies and recent changes; ``?as_of=``."""
    code = state.upper()
    found = us.states.lookup(code)
    if found is None or found.abbr != code:
        raise Http404("No such state.")
    if code != state:
        return redirect("agreements:state-detail", state=code, permanent=True)
    form, as_of = _as_of(request)
    if fmt := requested_format(request):
        criteria = selectors.Criteria(state=code, as_of=as_of)
        return export_response(
            fmt,
            rows=selectors.agency_directory(criteria).iterator(chunk_size=2000),
            columns=AGENCY_COLUMNS,
            filename=f"agencies-{code}",
            meta={"filters": criteria.chosen()},
        )
    snapshot = selectors.snapshot_in_force(as_of)
    return render(
        request,
        "agreements/state_detail.html",
        {
            "code": code,
            "name": found.name,
            "snapshot": snapshot,
            "figures": selectors.state_figures(snapshot, code) if snapshot else None,
            "form": form,
            "as_of": as_of,
            "as_of_value": request.GET.get("as_of", ""),
            "bounds": selectors.snapshot_bounds(),
            "agencies_html": cached_fragment(
                f"state-agencies:{code}:{as_of}:{selectors.agencies_version(code)}",
                "agreements/_state_agencies.html",
                lambda: {
                    "name": found.name,
                    "as_of": as_of,
                    "agencies": selectors.state_agencies(code, as_of),
                    "events": selectors.latest_events(state=code, as_of=as_of),
                },
            ),
            "downloads": export_links(request),
        },
    )


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


@require_safe
def snapshot_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One ICE file: download, sha256, warnings, and its rows (filterable by state/model)."""
    snapshot = selectors.snapshot_get(pk)
    state, model = StateModelForm(request.GET).chosen
    rows = selectors.snapshot_rows_filtered(snapshot, state=state, model=model)
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
    previous, following = selectors.snapshot_neighbours(snapshot)
    return render(
        request,
        "agreements/snapshot_detail.html",
        {
            "snapshot": snapshot,
            "page": _page(request, rows, 100),
            "state": state,
            "model": model,
            "models": SupportModel.choices,
            "previous": previous,
            "next": following,
            "pager_query": _query_without(request),
            "downloads": export_links(request),
        },
    )


@require_safe
def snapshot_file(request: HttpRequest, pk: int) -> FileResponse:
    """The original ICE file of a snapshot, byte for byte, under the name ICE gave it."""
    snapshot = selectors.snapshot_get(pk)
    if not snapshot.file:
        raise Http404("This snapshot has no stored file.")
    try:
        handle = snapshot.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404("The stored file of this snapshot is missing.") from exc
    name = snapshot.original_filename or snapshot.file.name.rsplit("/", 1)[-1]
    return FileResponse(handle, as_attachment=True, filename=name)


# --- What ICE changed in one list ---------------------------------------------------


def _list_changes(pk: int) -> selectors.ListChanges:
    snapshot = selectors.snapshot_get(pk)
    return selectors.list_changes(snapshot, selectors.snapshot_neighbours(snapshot)[0])


@require_safe
def snapshot_changes(request: HttpRequest, pk: int) -> HttpResponse:
    """What changed in one ICE list since the previous list of its kind, row by row."""
    snapshot = selectors.snapshot_get(pk)
    # A list's changes are fixed once its events are derived; a re-derivation adds events.
    html = cached_fragment(
        f"snapshot-changes:{snapshot.pk}:{selectors.imports_version()}",
        "agreements/_snapshot_changes.html",
        lambda: {"changes": _list_changes(pk)},
    )
    return render(
        request,
        "agreements/snapshot_changes.html",
        {"snapshot": snapshot, "body_html": html},
    )


def _row_evidence(request: HttpRequest, row) -> dict | None:
    """A list row as evidence: which file, which row, what ICE wrote, where to download it."""
    if row is None:
        return None
    return {
        "snapshot_id": row.snapshot_id,
        "row_number": row.row_number,
        "cells": row.raw,
        "file_url": request.build_absolute_uri(
            reverse("agreements:snapshot-file", args=[row.snapshot_id])
        ),
    }


def _change_url(request: HttpRequest, change: selectors.ListChange) -> str:
    page = reverse("agreements:snapshot-changes", args=[change.event.snapshot_id])
    return request.build_absolute_uri(f"{page}#change-{change.event.pk}")


@require_safe
def snapshot_changes_json(request: HttpRequest, pk: int) -> JsonResponse:
    """What changed in one list as a JSON Feed 1.1, each item with the two files' rows."""
    changes = _list_changes(pk)
    snapshot, previous = changes.snapshot, changes.previous
    title = f"What ICE changed in its {snapshot.get_kind_display().lower()} list of "
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": title + f"{snapshot.published_at:%Y-%m-%d %H:%M} UTC",
        "home_page_url": request.build_absolute_uri(
            reverse("agreements:snapshot-changes", args=[snapshot.pk])
        ),
        "feed_url": request.build_absolute_uri(),
        "_list": {
            "snapshot_id": snapshot.pk,
            "sha256": snapshot.sha256,
            "published_at": snapshot.published_at.isoformat(),
            "previous_snapshot_id": previous.pk if previous else None,
            "previous_sha256": previous.sha256 if previous else None,
            "counts": {kind: n for kind, _, n in changes.counts},
        },
        "items": [
            {
                "id": f"agreement-event-{change.event.pk}",
                "url": _change_url(request, change),
                "title": f"{change.label}: {change.event.agency.name} ({change.event.agency.state})",
                "content_text": change.sentence,
                "date_published": change.event.occurred_at.isoformat(),
                "tags": [change.event.kind],
                "_change": {
                    "kind": change.event.kind,
                    "label": change.label,
                    "agency": change.event.agency.slug,
                    "agreement_id": change.event.agreement_id,
                    "predecessor_id": change.event.agreement.predecessor_id,
                    "old_value": change.event.old_value,
                    "new_value": change.event.new_value,
                    "previous_row": _row_evidence(request, change.before),
                    "row": _row_evidence(request, change.after),
                },
            }
            for change in changes.changes
        ],
    }
    return JsonResponse(feed, content_type="application/feed+json", json_dumps_params={"indent": 1})


class SnapshotChangesFeed(Feed):
    """Atom feed of what changed in one ICE list, one entry per change."""

    feed_type = Atom1Feed

    def get_object(self, request: HttpRequest, pk: int) -> selectors.ListChanges:
        return _list_changes(pk)

    def title(self, changes: selectors.ListChanges) -> str:
        snapshot = changes.snapshot
        return (
            f"What ICE changed in its {snapshot.get_kind_display().lower()} list of "
            f"{snapshot.published_at:%Y-%m-%d %H:%M} UTC"
        )

    def subtitle(self, changes: selectors.ListChanges) -> str:
        return "Agreements added, ended, renamed, re-dated, switched and MOA links changed."

    def link(self, changes: selectors.ListChanges) -> str:
        return reverse("agreements:snapshot-changes", args=[changes.snapshot.pk])

    def items(self, changes: selectors.ListChanges) -> list[selectors.ListChange]:
        return changes.changes

    def item_title(self, change: selectors.ListChange) -> str:
        agency = change.event.agency
        return f"{change.label}: {agency.name} ({agency.state})"

    def item_description(self, change: selectors.ListChange) -> str:
        rows = [
            f"{which}: row {row.row_number} of the file {row.snapshot_id}"
            for which, row in (("Before", change.before), ("Now", change.after))
            if row is not None
        ]
        return ". ".join([change.sentence, *rows]) + "."

    def item_link(self, change: selectors.ListChange) -> str:
        page = reverse("agreements:snapshot-changes", args=[change.event.snapshot_id])
        return f"{page}#change-{change.event.pk}"

    def item_guid(self, change: selectors.ListChange) -> str:
        return f"agreement-event-{change.event.pk}"

    item_guid_is_permalink = False

    def item_pubdate(self, change: selectors.ListChange):
        return change.event.occurred_at

    def item_updateddate(self, change: selectors.ListChange):
        return change.event.occurred_at


# --- Statistics -------------------------------------------------------------------


@require_safe
def stats(request: HttpRequest) -> HttpResponse:
    """Agreements in force by model and by state on a chosen day, traced to one snapshot."""
    form, as_of = _as_of(request)
    snapshot = selectors.snapshot_in_force(as_of)
    if snapshot and (fmt := requested_format(request)):
        figures = selectors.snapshot_figures(snapshot)
        meta = {
            "as_of": as_of or timezone.localdate(),
            "snapshot_id": snapshot.pk,
            "snapshot_published_at": snapshot.published_at,
            "snapshot_sha256": snapshot.sha256,
            "percent": "each state's share of the model's agreements on the list",
        }
        columns = [
            Column("state"),
            *[Column(m, lambda r, m=m: r["models"][m]) for m in figures["models"]],
            Column("total"),
            *[Column(f"{m}_percent", lambda r, m=m: r["shares"][m]) for m in figures["models"]],
            Column("total_percent", "total_share"),
            Column("snapshot_id", lambda r: snapshot.pk),
            Column("snapshot_published_at", lambda r: snapshot.published_at),
            Column("snapshot_sha256", lambda r: snapshot.sha256),
        ]
        return export_response(
            fmt, rows=figures["states"], columns=columns, filename="agreements-by-state", meta=meta
        )
    figures_html = ""
    if snapshot:
        pending = selectors.snapshot_in_force(as_of, kind=ListSnapshot.Kind.PENDING)
        figures_html = cached_fragment(
            f"stats-figures:{_version(snapshot)}:{_version(pending)}",
            "agreements/_stats_figures.html",
            lambda: {
                "snapshot": snapshot,
                "figures": selectors.snapshot_figures(snapshot),
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
            "bounds": selectors.snapshot_bounds(),
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
    return {"snapshot": pending, "total": selectors.snapshot_figures(pending)["total"]}


# --- Changes ----------------------------------------------------------------------

EVENT_COLUMNS = [
    Column("occurred_at"),
    Column("kind"),
    Column("kind_label", lambda e: selectors.KIND_LABELS[e.kind]),
    Column("state", "agency.state"),
    Column("agency", "agency.name"),
    Column("agency_slug", "agency.slug"),
    Column("model", "agreement.model"),
    Column("signed_on", "agreement.signed_on"),
    Column("predecessor_id", "agreement.predecessor_id"),
    Column("field"),
    Column("old_value"),
    Column("new_value"),
    Column("snapshot_id"),
    Column("snapshot_sha256", "snapshot.sha256"),
    Column("previous_snapshot_id"),
]


@require_safe
def changes(request: HttpRequest) -> HttpResponse:
    """What changed between consecutive ICE lists, by kind: added, ended, renamed, re-signed..."""
    filterset = AgreementEventFilter(request.GET, queryset=selectors.event_list())
    filterset.is_valid()
    events = filterset.qs
    state = filterset.form.cleaned_data.get("state", "").strip().upper()
    kind = filterset.form.cleaned_data.get("kind", "")
    if fmt := requested_format(request):
        return export_response(
            fmt,
            rows=events.iterator(chunk_size=2000),
            columns=EVENT_COLUMNS,
            filename="agreement-events",
            meta={"filters": {k: v for k, v in filterset.form.cleaned_data.items() if v}},
        )
    page = _page(request, events.only(*selectors.events.EVENT_FIELDS), 100)
    shown = list(page)
    totals = selectors.event_totals(events, {e.snapshot_id for e in shown})
    kind_counts = selectors.event_kind_counts(events)
    base = _query_without(request, "kind")
    feed_url = reverse("agreements:changes-feed") + (
        f"?{urlencode({'state': state})}" if state else ""
    )
    return render(
        request,
        "agreements/changes.html",
        {
            "page": page,
            "groups": selectors.events_by_snapshot(shown, totals),
            "total": page.paginator.count,
            "kind_counts": [
                {
                    "kind": k,
                    "label": label,
                    "count": n,
                    "url": "?" + "&".join(p for p in (base, urlencode({"kind": k})) if p),
                    "selected": k == kind,
                }
                for k, label, n in kind_counts
            ],
            "state": state,
            "state_name": state_name(state) if state else "",
            "kind": kind,
            "kind_labels": selectors.KIND_LABELS.items(),
            "states": selectors.states_with_agencies(),
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
        state, _model = StateModelForm(request.GET).chosen
        found = us.states.lookup(state) if state else None
        if state and (found is None or found.abbr != state):
            raise Http404("No such state: use a USPS code such as TX.")
        return state

    def title(self, state: str) -> str:
        where = f" in {state_name(state)}" if state else ""
        return f"287(g) agreement changes{where}"

    def subtitle(self, state: str) -> str:
        return "Agreements added to, ended on, renamed on and changed on ICE's 287(g) lists."

    def link(self, state: str) -> str:
        url = reverse("agreements:changes")
        return f"{url}?{urlencode({'state': state})}" if state else url

    def items(self, state: str):
        return selectors.latest_events(state=state, limit=100)

    def item_title(self, event) -> str:
        return f"{event.agency.name} ({event.agency.state}): {selectors.event_sentence(event)}"

    def item_description(self, event) -> str:
        return (
            f"{selectors.event_sentence(event)}. Seen in the ICE list published "
            f"{event.snapshot.published_at:%Y-%m-%d %H:%M} UTC (sha256 {event.snapshot.sha256})."
        )

    def item_link(self, event) -> str:
        return f"{event.agency.get_absolute_url()}#event-{event.pk}"

    def item_guid(self, event) -> str:
        return f"agreement-event-{event.pk}"

    item_guid_is_permalink = False

    def item_pubdate(self, event):
        return event.occurred_at

    def item_updateddate(self, event):
        return event.occurred_at


# --- Data and methodology -----------------------------------------------------------

SNAPSHOT_COLUMNS = [
    Column("id"),
    Column("kind"),
    Column("held"),
    Column("held_reasons"),
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


@require_safe
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


@require_safe
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
    snapshot = selectors.snapshot_in_force(None)
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
    context["changes_html"] = cached_fragment(
        f"home-changes:{selectors.imports_version()}:{version}",
        "portal/_home_changes.html",
        lambda: {"events": selectors.latest_events(limit=10)},
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
        cache.set(key, html, selectors.FIGURES_CACHE_SECONDS)
    return mark_safe(html)  # noqa: S308 -- rendered by the template engine, which escapes


def _home_figures_context(snapshot: ListSnapshot, model: str) -> dict:
    context: dict = {"snapshot": snapshot, "map_model": model, "models": SupportModel.choices}
    figures = selectors.snapshot_figures(snapshot)
    month_ago = selectors.snapshot_in_force(snapshot.published_at.date() - dt.timedelta(days=30))
    if month_ago and month_ago.pk != snapshot.pk:
        before = selectors.snapshot_figures(month_ago)
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
    months, series = selectors.monthly_signings(
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
