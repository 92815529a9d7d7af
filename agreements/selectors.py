"""Reads shared by the pages, the API and the exports.

"As of day D" means: the latest participating snapshot published on or before
the end of D (in the portal's time zone). Statistics are counted from that
snapshot's own rows, so every figure matches the ICE file it came from.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone
from rapidfuzz import fuzz, process

from agreements.models import (
    Agency,
    AgencyAlias,
    Agreement,
    AgreementEvent,
    ListSnapshot,
    SnapshotRow,
    SupportModel,
)

UNKNOWN = "unknown"


def end_of_day(day: dt.date) -> dt.datetime:
    """The first instant after ``day`` ends, in the current time zone."""
    start = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min)
    return timezone.make_aware(start)


def snapshot_in_force(
    as_of: dt.date | None = None, kind: str = ListSnapshot.Kind.PARTICIPATING
) -> ListSnapshot | None:
    """The latest snapshot of ``kind`` published on or before the end of ``as_of``.

    ``as_of=None`` means today, i.e. the latest snapshot of that kind. A held
    list (``ListSnapshot.held``) is not in force until a curator applies it.
    """
    snapshots = ListSnapshot.objects.filter(kind=kind, held=False)
    if as_of is not None:
        snapshots = snapshots.filter(published_at__lt=end_of_day(as_of))
    return snapshots.defer("warnings").order_by("-published_at", "-id").first()


def snapshot_first(kind: str = ListSnapshot.Kind.PARTICIPATING) -> ListSnapshot | None:
    """The earliest snapshot of ``kind``, to tell users where the record begins."""
    first = ListSnapshot.objects.filter(kind=kind, held=False).defer("warnings")
    return first.order_by("published_at").first()


def _counted_rows(snapshot: ListSnapshot) -> QuerySet[SnapshotRow]:
    # A duplicate row repeats one already counted; ICE listed the agreement once.
    return SnapshotRow.objects.filter(snapshot=snapshot, is_duplicate=False)


def snapshot_stats(snapshot: ListSnapshot) -> dict[str, Any]:
    """Counts by model, state and state x model, from the rows of ``snapshot``."""
    groups = (
        _counted_rows(snapshot)
        .values("state", "model")
        .annotate(n=Count("id"))
        .order_by("state", "model")
    )
    by_model: Counter[str] = Counter(dict.fromkeys(SupportModel.values, 0))
    by_state: Counter[str] = Counter()
    by_state_model: dict[str, dict[str, int]] = defaultdict(dict)
    total = 0
    for group in groups:
        model = group["model"] or UNKNOWN
        state = group["state"] or UNKNOWN
        by_model[model] += group["n"]
        by_state[state] += group["n"]
        by_state_model[state][model] = by_state_model[state].get(model, 0) + group["n"]
        total += group["n"]
    agencies = (
        _counted_rows(snapshot)
        .exclude(agency__isnull=True)
        .aggregate(n=Count("agency", distinct=True))["n"]
    )
    unresolved_agencies = (
        _counted_rows(snapshot)
        .filter(agency__isnull=True)
        .values("state", "agency_name")
        .distinct()
        .count()
    )
    return {
        "snapshot": {
            "id": snapshot.pk,
            "kind": snapshot.kind,
            "published_at": snapshot.published_at,
            "sha256": snapshot.sha256,
            "row_count": snapshot.row_count,
        },
        "agreements": total,
        "agencies": agencies + unresolved_agencies,
        "by_model": dict(by_model),
        "by_state": dict(sorted(by_state.items())),
        "by_state_model": {state: by_state_model[state] for state in sorted(by_state_model)},
    }


def stats_as_of(as_of: dt.date | None = None) -> dict[str, Any] | None:
    """The statistics of the participating list in force on ``as_of``.

    None when no participating list had been published by then. The pending
    list in force the same day is summarised under ``pending`` (or None).
    """
    snapshot = snapshot_in_force(as_of)
    if snapshot is None:
        return None
    stats = {"as_of": as_of, **snapshot_stats(snapshot)}
    pending = snapshot_in_force(as_of, kind=ListSnapshot.Kind.PENDING)
    stats["pending"] = (
        None
        if pending is None
        else {
            "snapshot_id": pending.pk,
            "published_at": pending.published_at,
            "sha256": pending.sha256,
            "agreements": _counted_rows(pending).count(),
        }
    )
    return stats


# --- Listings ---------------------------------------------------------------


def agreement_list() -> QuerySet[Agreement]:
    """Agreements with their agency, ready for lists (no per-row queries)."""
    return Agreement.objects.select_related("agency", "predecessor").order_by(
        "agency__state", "agency__name", "model", "signed_on", "id"
    )


def agreements_as_of(
    as_of: dt.date | None = None, queryset: QuerySet[Agreement] | None = None
) -> QuerySet[Agreement]:
    """Agreements on the participating list in force on ``as_of`` (none before the first)."""
    queryset = agreement_list() if queryset is None else queryset
    snapshot = snapshot_in_force(as_of)
    if snapshot is None:
        return queryset.none()
    listed = SnapshotRow.objects.filter(snapshot=snapshot, agreement__isnull=False).values(
        "agreement_id"
    )
    return queryset.filter(pk__in=listed)


def agencies_as_of(
    as_of: dt.date | None = None, queryset: QuerySet[Agency] | None = None
) -> QuerySet[Agency]:
    """Agencies with a row on the participating list in force on ``as_of``."""
    queryset = agency_list() if queryset is None else queryset
    snapshot = snapshot_in_force(as_of)
    if snapshot is None:
        return queryset.none()
    listed = SnapshotRow.objects.filter(snapshot=snapshot, agency__isnull=False).values("agency_id")
    return queryset.filter(pk__in=listed)


def agency_list() -> QuerySet[Agency]:
    """Agencies with their aliases and agreements prefetched, and agreement counts."""
    return (
        Agency.objects.annotate(
            agreement_count=Count("agreements", distinct=True),
            active_agreement_count=Count(
                "agreements",
                filter=Q(agreements__status=Agreement.Status.ACTIVE),
                distinct=True,
            ),
        )
        .prefetch_related(
            Prefetch("aliases", queryset=AgencyAlias.objects.order_by("name")),
            Prefetch(
                "agreements",
                queryset=Agreement.objects.order_by("model", "signed_on", "id"),
            ),
        )
        .order_by("state", "name", "id")
    )


def agency_moved_to(slug: str) -> Agency | None:
    """The agency now at the address of a former ``slug``: renamed, or merged into another.

    A merged agency is deleted, but its history keeps its state and match key,
    and the merge kept its name as an alias of the survivor (also through
    later merges), so the alias leads to where it went. An agency deleted
    without a merge leads nowhere.
    """
    past = Agency.history.filter(slug=slug).order_by("-history_date", "-history_id").first()
    if past is None:
        return None
    current = Agency.objects.filter(pk=past.id).first()
    if current is not None:
        return current if current.slug != slug else None
    alias = (
        AgencyAlias.objects.select_related("agency")
        .filter(state=past.state, name_key=past.name_key)
        .first()
    )
    return alias.agency if alias else None


def agency_search(queryset: QuerySet[Agency], text: str) -> QuerySet[Agency]:
    """Agencies whose name or one of whose aliases contains ``text``."""
    text = text.strip()
    if not text:
        return queryset
    matching = AgencyAlias.objects.filter(name__icontains=text).values("agency_id")
    return queryset.filter(Q(name__icontains=text) | Q(pk__in=matching))


def agency_near_duplicates(
    agency: Agency, *, limit: int = 5, cutoff: float = 85
) -> list[tuple[Agency, float]]:
    """Agencies of the same state whose name is close to ``agency``'s, best first.

    For curators deciding whether a flagged agency is a duplicate to merge.
    """
    others = {
        other.pk: other
        for other in Agency.objects.filter(state=agency.state)
        .exclude(pk=agency.pk)
        .only("id", "name", "name_key", "slug", "state", "county_name")
    }
    matches = process.extract(
        agency.name_key,
        {pk: other.name_key for pk, other in others.items()},
        scorer=fuzz.token_set_ratio,
        limit=limit,
        score_cutoff=cutoff,
    )
    return [(others[pk], score) for _, score, pk in matches]


def event_list() -> QuerySet[AgreementEvent]:
    """Agreement events, newest first, with what they refer to."""
    return AgreementEvent.objects.select_related(
        "agency", "agreement", "snapshot", "previous_snapshot"
    ).order_by("-occurred_at", "-id")


def snapshot_list() -> QuerySet[ListSnapshot]:
    """ICE list snapshots, newest first."""
    return ListSnapshot.objects.order_by("-published_at", "-id")


def snapshot_rows(snapshot: ListSnapshot) -> QuerySet[SnapshotRow]:
    """The rows of one snapshot as ICE wrote them, in sheet order."""
    return snapshot.rows.select_related("agency", "agreement").order_by("row_number")
