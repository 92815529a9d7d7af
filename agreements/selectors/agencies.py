"""Agencies: the directory and its facets, one agency's page, where an old address went."""

from __future__ import annotations

import dataclasses
import datetime as dt

from django.db.models import Count, Max, OuterRef, Prefetch, Q, QuerySet, Subquery
from rapidfuzz import fuzz, process

from agreements.models import Agency, AgencyAlias, Agreement, AgreementEvent
from agreements.selectors.agreements import (
    Criteria,
    agencies_selected,
    agreements_selected,
    statuses_on,
)
from agreements.selectors.snapshots import end_of_day, imports_version


def _agreements_prefetch() -> Prefetch:
    return Prefetch("agreements", queryset=Agreement.objects.order_by("model", "signed_on", "id"))


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
            _agreements_prefetch(),
        )
        .order_by("state", "name", "id")
    )


def agency_directory(criteria: Criteria) -> QuerySet[Agency]:
    """Agencies matching ``criteria``, with their agreements prefetched, for the directory.

    Not ``agency_list()``: its per-agency counts cost a GROUP BY over every
    agency that the directory does not show.
    """
    agencies = Agency.objects.prefetch_related(_agreements_prefetch()).order_by(
        "state", "name", "id"
    )
    return agencies_selected(criteria, agencies)


def agency_facets(criteria: Criteria) -> dict[str, list[tuple[str, int]]]:
    """Counts of agencies per facet value, each facet counted with the other criteria applied.

    Model and status are counted on agreements (distinct agencies), so that a
    chosen status narrows the model counts to agreements with that status.
    """
    facets = {}
    for name in ("state", "kind"):
        values = (
            agencies_selected(criteria.without(name), Agency.objects.order_by())
            .values(name)
            .annotate(n=Count("id"))
            .order_by(name)
        )
        facets[name] = [(v[name], v["n"]) for v in values if v[name]]
    for name in ("model", "status"):
        others = criteria.without(name)
        if name == "status" and criteria.as_of is not None:
            # A status on a past day is not a column: each is counted apart.
            counts = [
                (str(status), _agencies_holding(dataclasses.replace(others, status=status)))
                for status in Agreement.Status
            ]
            facets[name] = [(value, n) for value, n in counts if n]
            continue
        # An ending in question is no status a filter selects, so no facet counts it.
        values = (
            agreements_selected(others, Agreement.objects.filter(ending_in_question=False))
            .order_by()
            .values(name)
            .annotate(n=Count("agency_id", distinct=True))
            .order_by(name)
        )
        facets[name] = [(v[name], v["n"]) for v in values if v[name]]
    return facets


def _agencies_holding(criteria: Criteria) -> int:
    agreements = agreements_selected(criteria, Agreement.objects.order_by())
    return agreements.values("agency_id").distinct().count()


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


def agencies_version(state: str = "") -> str:
    """The version of the agencies (of ``state``), their agreements and events, for cache keys.

    Imports add a snapshot (and events); curators' edits and merges touch the
    agencies' and agreements' ``updated_at``, or remove an agency. Four small
    queries; the last two read every agency and agreement of the state (all, without one).
    """
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
            imports_version(),
            *(f["n"] for f in found),
            *(f["changed"] and f["changed"].timestamp() for f in found),
        )
    )


def agency_with_version(slug: str) -> Agency | None:
    """The agency at ``slug``, with ``version`` naming the state of its page's data.

    The version changes when a list is imported (a new snapshot, new events),
    when a curator edits or merges the agency (its ``updated_at``), edits,
    adds or removes one of its agreements, or an event of it is removed. One
    query, with the agency (one for its aliases, one for the newest import, kept as
    ``imports``).
    """
    agreements = Agreement.objects.filter(agency=OuterRef("pk")).order_by().values("agency")
    events = AgreementEvent.objects.filter(agency=OuterRef("pk")).order_by().values("agency")
    agency = (
        Agency.objects.filter(slug=slug)
        .prefetch_related("aliases")
        .annotate(
            agreement_count=Subquery(agreements.annotate(n=Count("id")).values("n")),
            agreements_changed=Subquery(agreements.annotate(m=Max("updated_at")).values("m")),
            event_count=Subquery(events.annotate(n=Count("id")).values("n")),
        )
        .first()
    )
    if agency is not None:
        changed = agency.agreements_changed
        agency.imports = imports_version()
        agency.version = "-".join(
            str(v)
            for v in (
                agency.pk,
                agency.updated_at.timestamp(),
                agency.imports,
                agency.agreement_count,
                changed.timestamp() if changed else None,
                agency.event_count,
            )
        )
    return agency


def agency_agreements(agency: Agency, as_of: dt.date | None = None) -> list[Agreement]:
    """The agreements of ``agency``; with ``as_of``, each carries ``status_then`` of that day."""
    agreements = list(
        agency.agreements.select_related("predecessor").order_by("model", "signed_on", "id")
    )
    if as_of is not None:
        then = statuses_on(agreements, as_of)
        for agreement in agreements:
            agreement.status_then = then[agreement.pk]
            # The ending in question is the last one: after the last listing before that day.
            agreement.in_question_then = (
                agreement.status_then == Agreement.Status.ENDED
                and agreement.ending_in_question
                and agreement.last_listed_at < end_of_day(as_of)
            )
    return agreements


def state_agencies(state: str, as_of: dt.date | None = None) -> QuerySet[Agency]:
    """The agencies of ``state`` that hold an agreement (active on ``as_of``, when given)."""
    agencies = agencies_selected(
        Criteria(state=state, as_of=as_of),
        Agency.objects.prefetch_related(_agreements_prefetch()).order_by("name", "id"),
    )
    if as_of is None:
        agencies = agencies.filter(agreements__isnull=False).distinct()
    return agencies


def states_with_agencies() -> list[str]:
    """The states of the agencies on any list, for state pickers."""
    return list(Agency.objects.order_by("state").values_list("state", flat=True).distinct())
