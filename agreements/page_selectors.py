"""Reads the public pages need beyond ``agreements.selectors``.

Kept apart from the shared selectors (owned by another engineer) so both can
change without stepping on each other; every function runs a fixed number of
queries whatever the number of rows.
"""

from __future__ import annotations

from datetime import date

from django.core.cache import cache
from django.db.models import Count, Max, OuterRef, Prefetch, QuerySet, Subquery

from agreements import selectors
from agreements.models import (
    Agency,
    Agreement,
    AgreementEvent,
    ListSnapshot,
    SupportModel,
)

# How the changes page groups event kinds.
EVENT_CHANGE = {
    AgreementEvent.Kind.SIGNED: "added",
    AgreementEvent.Kind.RELISTED: "added",
    AgreementEvent.Kind.PENDING_LISTED: "added",
    AgreementEvent.Kind.DELISTED: "removed",
    AgreementEvent.Kind.FIELD_CHANGED: "changed",
    AgreementEvent.Kind.MOA_POSTED: "changed",
}
FIGURES_CACHE_SECONDS = 300
CHANGE_LABELS = {"added": "Added", "removed": "Removed", "changed": "Changed"}


snapshot_in_force = selectors.snapshot_in_force


def snapshot_bounds() -> dict:
    """First and last publication day of the participating lists, for the date picker."""
    first, last = selectors.snapshot_first(), selectors.snapshot_in_force(None)
    return {
        "first": first.published_at.date() if first else None,
        "last": last.published_at.date() if last else None,
    }


def snapshot_figures(snapshot: ListSnapshot) -> dict:
    """``selectors.snapshot_stats`` shaped for tables: one row per state, a column per model.

    A snapshot's rows do not change after import, so its counts are cached for a
    few minutes (an agency merge can move the agency count; the cache catches up).
    """
    key = f"snapshot-figures:{snapshot.pk}:{snapshot.sha256}:{snapshot.row_count}"
    stats = cache.get(key)
    if stats is None:
        stats = selectors.snapshot_stats(snapshot)
        cache.set(key, stats, FIGURES_CACHE_SECONDS)
    models = list(stats["by_model"])
    states = [
        {
            "state": state,
            "models": {m: stats["by_state_model"].get(state, {}).get(m, 0) for m in models},
            "total": total,
        }
        for state, total in stats["by_state"].items()
    ]
    return {
        "snapshot": snapshot,
        "total": stats["agreements"],
        "agencies": stats["agencies"],
        "state_count": len([s for s in states if s["state"] != selectors.UNKNOWN]),
        "models": stats["by_model"],
        "states": states,
    }


def agencies_version(state: str = "") -> str:
    """The version of the agencies (of ``state``), their agreements and events, for cache keys.

    Imports add a snapshot (and events); curators' edits and merges touch the
    agencies' and agreements' ``updated_at``, or remove an agency. Four small
    queries; the last two read every agency and agreement of the state (all, without one).
    """
    newest = (
        ListSnapshot.objects.order_by("-id").values_list("id", flat=True).first(),
        AgreementEvent.objects.order_by("-id").values_list("id", flat=True).first(),
    )
    agencies, agreements = Agency.objects.all(), Agreement.objects.all()
    if state:
        agencies, agreements = agencies.filter(state=state), agreements.filter(agency__state=state)
    # Counted apart: a join of the two would cost more than both.
    found = [
        rows.aggregate(n=Count("id"), changed=Max("updated_at")) for rows in (agencies, agreements)
    ]
    return "-".join(
        str(v)
        for v in (
            *newest,
            *(f["n"] for f in found),
            *(f["changed"] and f["changed"].timestamp() for f in found),
        )
    )


def agency_with_version(slug: str) -> Agency | None:
    """The agency at ``slug``, with ``version`` naming the state of its page's data.

    The version changes when a list is imported (a new snapshot, new events),
    when a curator edits or merges the agency (its ``updated_at``), edits,
    adds or removes one of its agreements, or an event of it is removed. One
    query, with the agency (and one for its aliases).
    """
    agreements = Agreement.objects.filter(agency=OuterRef("pk")).order_by().values("agency")
    events = AgreementEvent.objects.filter(agency=OuterRef("pk")).order_by().values("agency")
    agency = (
        Agency.objects.filter(slug=slug)
        .prefetch_related("aliases")
        .annotate(
            newest_snapshot=Subquery(ListSnapshot.objects.order_by("-id").values("id")[:1]),
            newest_event=Subquery(AgreementEvent.objects.order_by("-id").values("id")[:1]),
            agreement_count=Subquery(agreements.annotate(n=Count("id")).values("n")),
            agreements_changed=Subquery(agreements.annotate(m=Max("updated_at")).values("m")),
            event_count=Subquery(events.annotate(n=Count("id")).values("n")),
        )
        .first()
    )
    if agency is not None:
        changed = agency.agreements_changed
        agency.version = "-".join(
            str(v)
            for v in (
                agency.pk,
                agency.updated_at.timestamp(),
                agency.newest_snapshot,
                agency.newest_event,
                agency.agreement_count,
                changed.timestamp() if changed else None,
                agency.event_count,
            )
        )
    return agency


def snapshot_neighbours(snapshot: ListSnapshot) -> tuple[ListSnapshot | None, ListSnapshot | None]:
    """The previous and next snapshot of the same kind."""
    same = ListSnapshot.objects.filter(kind=snapshot.kind).exclude(pk=snapshot.pk)
    previous = (
        same.filter(published_at__lte=snapshot.published_at).order_by("-published_at").first()
    )
    following = same.filter(published_at__gt=snapshot.published_at).order_by("published_at").first()
    return previous, following


def _agency_filter(
    agencies: QuerySet[Agency],
    *,
    q: str = "",
    state: str = "",
    model: str = "",
    status: str = "",
    kind: str = "",
) -> QuerySet[Agency]:
    if q:
        agencies = selectors.agency_search(agencies, q)
    if state:
        agencies = agencies.filter(state=state)
    if kind:
        agencies = agencies.filter(kind=kind)
    if model or status:
        # Model and status must hold for the same agreement.
        agreements = Agreement.objects.all()
        if model:
            agreements = agreements.filter(model=model)
        if status:
            agreements = agreements.filter(status=status)
        agencies = agencies.filter(pk__in=agreements.values("agency_id"))
    return agencies


def agencies_filtered(**filters: str) -> QuerySet[Agency]:
    """Agencies matching a name search and the facets, with their agreements prefetched.

    Not ``selectors.agency_list()``: its per-agency counts cost a GROUP BY over
    every agency that the directory does not show.
    """
    agencies = Agency.objects.prefetch_related(
        Prefetch("agreements", queryset=Agreement.objects.order_by("model", "signed_on", "id"))
    ).order_by("state", "name", "id")
    return _agency_filter(agencies, **filters)


def agency_facets(filters: dict) -> dict[str, list[tuple[str, int]]]:
    """Counts of agencies per facet value, each facet counted with the other filters applied.

    Model and status are counted on agreements (distinct agencies), so that a
    chosen status narrows the model counts to agreements with that status.
    """
    facets = {}
    for name in ("state", "kind"):
        others = {k: v for k, v in filters.items() if k != name}
        values = (
            _agency_filter(Agency.objects.all(), **others)
            .values(name)
            .annotate(n=Count("id"))
            .order_by(name)
        )
        facets[name] = [(v[name], v["n"]) for v in values if v[name]]
    agency_filters = {k: v for k, v in filters.items() if k in {"q", "state", "kind"}}
    for name, other in (("model", "status"), ("status", "model")):
        agreements = Agreement.objects.all()
        if filters.get(other):
            agreements = agreements.filter(**{other: filters[other]})
        if agency_filters:
            agreements = agreements.filter(
                agency__in=_agency_filter(Agency.objects.all(), **agency_filters).values("pk")
            )
        values = (
            agreements.values(name).annotate(n=Count("agency_id", distinct=True)).order_by(name)
        )
        facets[name] = [(v[name], v["n"]) for v in values if v[name]]
    return facets


def agreements_filtered(
    *, state: str = "", model: str = "", status: str = ""
) -> QuerySet[Agreement]:
    agreements = selectors.agreement_list()
    if state:
        agreements = agreements.filter(agency__state=state)
    if model:
        agreements = agreements.filter(model=model)
    if status:
        agreements = agreements.filter(status=status)
    return agreements


def events_filtered(*, state: str = "", change: str = "") -> QuerySet[AgreementEvent]:
    """Agreement events, newest first, for one state and one kind of change."""
    events = selectors.event_list()
    if state:
        events = events.filter(agency__state=state)
    if change:
        events = events.filter(kind__in=[k for k, c in EVENT_CHANGE.items() if c == change])
    # Newest list first; within a list, by state and agency, as a reader scans it.
    return events.order_by("-occurred_at", "-snapshot_id", "agency__state", "agency__name", "id")


def events_by_snapshot(
    events: list[AgreementEvent], totals: dict[int, int] | None = None
) -> list[dict]:
    """Consecutive ``events`` grouped by the snapshot they were seen in, split by change.

    ``totals`` gives each snapshot's number of events across all pages.
    """
    totals = totals or {}
    groups: list[dict] = []
    for event in events:
        if not groups or groups[-1]["snapshot"].pk != event.snapshot_id:
            groups.append({"snapshot": event.snapshot, "by_change": {c: [] for c in CHANGE_LABELS}})
        groups[-1]["by_change"][EVENT_CHANGE[event.kind]].append(event)
    return [
        {
            "snapshot": group["snapshot"],
            "sections": [
                {"key": c, "label": CHANGE_LABELS[c], "events": group["by_change"][c]}
                for c in CHANGE_LABELS
                if group["by_change"][c]
            ],
            "count": sum(len(v) for v in group["by_change"].values()),
            "total": totals.get(group["snapshot"].pk),
        }
        for group in groups
    ]


def event_totals(events: QuerySet[AgreementEvent], snapshot_ids: set[int]) -> dict[int, int]:
    """How many of ``events`` each snapshot holds (one query)."""
    counts = (
        events.filter(snapshot_id__in=snapshot_ids)
        .order_by()
        .values("snapshot_id")
        .annotate(n=Count("id"))
    )
    return {row["snapshot_id"]: row["n"] for row in counts}


def _field_label(field: str) -> str:
    """The verbose name of an agreement or agency field, e.g. "MOA URL" for moa_url."""
    for model in (Agreement, Agency):
        names = {f.name: f for f in model._meta.get_fields()}
        if field in names and hasattr(names[field], "verbose_name"):
            return str(names[field].verbose_name)
    return field.replace("_", " ") or "a field"


def event_sentence(event: AgreementEvent, *, with_model: bool = True) -> str:
    """A short sentence for an event, e.g. "JEM agreement signed 2025-02-20 delisted"."""
    agreement = event.agreement
    what = f"{agreement.model} agreement" if with_model else "agreement"
    if agreement.signed_on:
        what += f" signed {agreement.signed_on:%Y-%m-%d}"
    Kind = AgreementEvent.Kind
    if event.kind == Kind.FIELD_CHANGED:
        return (
            f"{what}: {_field_label(event.field)} changed from “{event.old_value}” "
            f"to “{event.new_value}”"
        )
    verb = {
        Kind.PENDING_LISTED: "listed as pending",
        Kind.SIGNED: "added to the participating list",
        Kind.MOA_POSTED: "MOA posted",
        Kind.DELISTED: "removed from the list",
        Kind.RELISTED: "listed again",
    }.get(event.kind, str(event.get_kind_display()).lower())
    return f"{what} {verb}" if event.kind != Kind.MOA_POSTED else f"{what}: {verb}"


def states_with_agencies() -> list[str]:
    return list(Agency.objects.order_by("state").values_list("state", flat=True).distinct())


def monthly_signings(
    *, months: int, until: date, version: str = ""
) -> tuple[list[date], dict[str, list[int]]]:
    """Agreements signed per month and model over the ``months`` months ending at ``until``.

    Agreements change only when a list is imported (or agencies merged), so the
    counts are cached for a few minutes under ``version`` (the latest snapshot).
    """
    key = f"monthly-signings:{months}:{until.isoformat()}:{version}"
    if (cached := cache.get(key)) is not None:
        return cached
    result = _monthly_signings(months=months, until=until)
    cache.set(key, result, FIGURES_CACHE_SECONDS)
    return result


def _monthly_signings(*, months: int, until: date) -> tuple[list[date], dict[str, list[int]]]:
    end = until.replace(day=1)
    start_index = end.year * 12 + end.month - 1 - (months - 1)
    start = date(start_index // 12, start_index % 12 + 1, 1)
    axis = [date((start_index + i) // 12, (start_index + i) % 12 + 1, 1) for i in range(months)]
    position = {m: i for i, m in enumerate(axis)}
    series = {m: [0] * months for m, _ in SupportModel.choices}
    # Grouped by day, bucketed here: portable and cheaper than a month function in SQL.
    counts = (
        Agreement.objects.filter(signed_on__gte=start, signed_on__lte=until)
        .values("signed_on", "model")
        .annotate(n=Count("id"))
        .order_by()
    )
    for item in counts:
        month = item["signed_on"].replace(day=1)
        if month in position and item["model"] in series:
            series[item["model"]][position[month]] += item["n"]
    return axis, series
