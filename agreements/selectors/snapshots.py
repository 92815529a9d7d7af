"""ICE's lists: which one is in force on a day, their neighbours, rows and figures.

"As of day D" means: the latest applied participating snapshot published on or
before the end of D (in the portal's time zone). Statistics are counted from
that snapshot's own rows, so every figure matches the ICE file it came from.
Lists are ordered by ``ListSnapshot.objects.chronological()`` and
``newest_first()`` only: publication time, then sha256.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Max, Min, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from agreements.models import Agreement, AgreementEvent, ListSnapshot, SnapshotRow, SupportModel

UNKNOWN = "unknown"
# How long computed figures stay cached: the bound on how late a curator's
# edit that does not change a cache key's version shows.
FIGURES_CACHE_SECONDS = 300


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
    snapshots = ListSnapshot.objects.applied().filter(kind=kind)
    if as_of is not None:
        snapshots = snapshots.filter(published_at__lt=end_of_day(as_of))
    return snapshots.defer("warnings").newest_first().first()


def snapshot_first(kind: str = ListSnapshot.Kind.PARTICIPATING) -> ListSnapshot | None:
    """The earliest snapshot of ``kind``, to tell users where the record begins."""
    return (
        ListSnapshot.objects.applied().filter(kind=kind).defer("warnings").chronological().first()
    )


def snapshot_bounds(imports: str | None = None) -> dict[str, dt.date | None]:
    """First and last publication day of the participating lists, for the date picker.

    Cached under the newest import (``imports``, when the caller read it
    already): a curator applying a held list changes no id, so the bounds may
    lag it by the cache's few minutes.
    """
    key = f"snapshot-bounds:{imports or imports_version()}"
    if (cached := cache.get(key)) is not None:
        return cached
    bounds = (
        ListSnapshot.objects.applied()
        .filter(kind=ListSnapshot.Kind.PARTICIPATING)
        .aggregate(first=Min("published_at"), last=Max("published_at"))
    )
    result = {name: timezone.localdate(at) if at else None for name, at in bounds.items()}
    cache.set(key, result, FIGURES_CACHE_SECONDS)
    return result


def snapshot_get(pk: int) -> ListSnapshot:
    """The snapshot ``pk``, or 404."""
    return get_object_or_404(ListSnapshot, pk=pk)


def snapshot_list() -> QuerySet[ListSnapshot]:
    """Every ICE list kept (held ones too: they are evidence), newest first."""
    return ListSnapshot.objects.newest_first()


def snapshot_neighbours(snapshot: ListSnapshot) -> tuple[ListSnapshot | None, ListSnapshot | None]:
    """The applied lists of the same kind just before and just after ``snapshot``."""
    same = ListSnapshot.objects.applied().filter(kind=snapshot.kind).exclude(pk=snapshot.pk)
    at, sha = snapshot.published_at, snapshot.sha256
    earlier = Q(published_at__lt=at) | Q(published_at=at, sha256__lt=sha)
    later = Q(published_at__gt=at) | Q(published_at=at, sha256__gt=sha)
    previous = same.filter(earlier).defer("warnings").newest_first().first()
    following = same.filter(later).defer("warnings").chronological().first()
    return previous, following


def snapshot_rows(snapshot: ListSnapshot) -> QuerySet[SnapshotRow]:
    """The rows of one snapshot as ICE wrote them, in sheet order."""
    return snapshot.rows.select_related("agency", "agreement").order_by("row_number")


def snapshot_rows_filtered(snapshot: ListSnapshot, *, state: str, model: str) -> QuerySet:
    """The rows of ``snapshot`` of one state and one model (either may be blank)."""
    rows = snapshot_rows(snapshot)
    if state:
        rows = rows.filter(state=state)
    if model:
        rows = rows.filter(model=model)
    return rows


def counted_rows(snapshot: ListSnapshot) -> QuerySet[SnapshotRow]:
    """The rows that count: a duplicate row repeats one already counted, ICE listed it once."""
    return SnapshotRow.objects.filter(snapshot=snapshot, is_duplicate=False)


def imports_version() -> str:
    """Names the newest import, for cache keys: it changes whenever a list or event is added.

    One query of two maxima of primary keys, written out: the ORM would compile
    two aggregate queries on every page view for it.
    """
    quote = connection.ops.quote_name
    sql = "SELECT (SELECT MAX({id}) FROM {lists}), (SELECT MAX({id}) FROM {events})".format(  # noqa: S608 -- names from the models, quoted
        id=quote("id"),
        lists=quote(ListSnapshot._meta.db_table),
        events=quote(AgreementEvent._meta.db_table),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        newest_list, newest_event = cursor.fetchone()
    return f"{newest_list}-{newest_event}"


def snapshot_stats(snapshot: ListSnapshot) -> dict[str, Any]:
    """Counts by model, state and state x model, from the rows of ``snapshot``."""
    groups = (
        counted_rows(snapshot)
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
        counted_rows(snapshot)
        .exclude(agency__isnull=True)
        .aggregate(n=Count("agency", distinct=True))["n"]
    )
    unresolved_agencies = (
        counted_rows(snapshot)
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
        "share_by_state_model": {
            state: {
                model: share(n, by_model[model])
                for model, n in sorted(by_state_model[state].items())
            }
            for state in sorted(by_state_model)
        },
    }


def share(part: int, whole: int) -> float | None:
    """``part`` as a percentage of ``whole``, to one decimal (None when ``whole`` is 0)."""
    return round(100 * part / whole, 1) if whole else None


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
            "agreements": counted_rows(pending).count(),
        }
    )
    return stats


def snapshot_figures(snapshot: ListSnapshot) -> dict[str, Any]:
    """``snapshot_stats`` shaped for tables: one row per state, a column per model.

    Each state's count of a model comes with its share of that model's total
    (Florida's 264 of 620 Task Force agreements on the list of 2025-12-01:
    42.6). A snapshot's rows do not change after import, so its figures are
    cached for a few minutes (an agency merge can move the agency count; the
    cache catches up).
    """
    key = f"snapshot-figures:{snapshot.pk}:{snapshot.sha256}:{snapshot.row_count}"
    figures = cache.get(key)
    if figures is None:
        figures = _figures(snapshot_stats(snapshot))
        cache.set(key, figures, FIGURES_CACHE_SECONDS)
    return {"snapshot": snapshot, **figures}


def _figures(stats: dict[str, Any]) -> dict[str, Any]:
    models = list(stats["by_model"])
    states = []
    for state, total in stats["by_state"].items():
        counts = stats["by_state_model"].get(state, {})
        shares = {m: share(counts.get(m, 0), stats["by_model"][m]) for m in models}
        states.append(
            {
                "state": state,
                "models": {m: counts.get(m, 0) for m in models},
                "shares": shares,
                "cells": [(m, counts.get(m, 0), shares[m]) for m in models],
                "total": total,
                "total_share": share(total, stats["agreements"]),
            }
        )
    return {
        "total": stats["agreements"],
        "agencies": stats["agencies"],
        "state_count": len([s for s in states if s["state"] != UNKNOWN]),
        "models": stats["by_model"],
        "states": states,
    }


def state_figures(snapshot: ListSnapshot, state: str) -> dict[str, Any]:
    """The row of ``snapshot_figures`` for one state (zeros when it has none)."""
    for row in snapshot_figures(snapshot)["states"]:
        if row["state"] == state:
            return row
    return {"state": state, "models": {}, "shares": {}, "cells": [], "total": 0}


def monthly_signings(
    *, months: int, until: dt.date, version: str = ""
) -> tuple[list[dt.date], dict[str, list[int]]]:
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


def _monthly_signings(*, months: int, until: dt.date) -> tuple[list[dt.date], dict[str, list[int]]]:
    end = until.replace(day=1)
    start_index = end.year * 12 + end.month - 1 - (months - 1)
    start = dt.date(start_index // 12, start_index % 12 + 1, 1)
    axis = [dt.date((start_index + i) // 12, (start_index + i) % 12 + 1, 1) for i in range(months)]
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
