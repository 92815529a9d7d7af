"""Which agreements (and agencies) a listing selects: the one filter the pages, exports and API share.

``Criteria`` is parsed once from a query string (``agreements.filters``) and
read the same way everywhere. Model, status and ``as_of`` always hold for the
same agreement, and with ``as_of`` the status is the one of that day:

- active: on the participating list in force that day;
- pending: on the pending list in force that day, and not active;
- ended: on an earlier participating list, and not on the one in force, unless
  that ending is in question (a possible rename no curator has settled yet):
  such an agreement shows "Name changed?" and no status filter selects it.

``as_of`` without a status selects the agreements active that day.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from django.db.models import Q, QuerySet

from agreements.models import Agency, AgencyAlias, Agreement, ListSnapshot, SnapshotRow
from agreements.selectors.snapshots import end_of_day, snapshot_in_force

Status = Agreement.Status


@dataclasses.dataclass(frozen=True)
class Criteria:
    """What a listing of agencies or agreements is narrowed to; blank means any."""

    q: str = ""
    state: str = ""
    kind: str = ""
    county_fips: str = ""
    needs_review: bool | None = None
    agency: str = ""
    model: str = ""
    status: str = ""
    as_of: dt.date | None = None

    @classmethod
    def from_cleaned(cls, data: dict[str, Any]) -> Criteria:
        """From a form's ``cleaned_data``: only known, valid, non-blank values count."""
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names and v not in (None, "")}
        for name in ("q", "county_fips", "agency"):
            if name in values:
                values[name] = values[name].strip()
        if "state" in values:
            values["state"] = values["state"].strip().upper()
        return cls(**values)

    def without(self, name: str) -> Criteria:
        """The same criteria with ``name`` left open (a facet counts its own values so)."""
        default = next(f.default for f in dataclasses.fields(self) if f.name == name)
        return dataclasses.replace(self, **{name: default})

    def chosen(self) -> dict[str, Any]:
        """The criteria set, by name, as a query string writes them (for links and exports)."""
        values = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) not in (None, "")
        }
        if self.as_of is not None:
            values["as_of"] = self.as_of.isoformat()
        return values

    @property
    def on_agreements(self) -> bool:
        """Whether an agreement must match (not only the agency)."""
        return bool(self.model or self.status or self.as_of)


def agency_search(queryset: QuerySet[Agency], text: str) -> QuerySet[Agency]:
    """Agencies whose name or one of whose aliases contains ``text``."""
    text = text.strip()
    if not text:
        return queryset
    matching = AgencyAlias.objects.filter(name__icontains=text).values("agency_id")
    return queryset.filter(Q(name__icontains=text) | Q(pk__in=matching))


def _listed(snapshot: ListSnapshot) -> QuerySet:
    return SnapshotRow.objects.filter(snapshot=snapshot, agreement__isnull=False).values(
        "agreement_id"
    )


def status_on(as_of: dt.date, status: str = "") -> Q:
    """Agreements whose status on ``as_of`` was ``status`` (blank: active)."""
    participating = snapshot_in_force(as_of)
    active = Q(pk__in=_listed(participating)) if participating else Q(pk__in=[])
    if status in ("", Status.ACTIVE):
        return active
    if status == Status.PENDING:
        pending = snapshot_in_force(as_of, kind=ListSnapshot.Kind.PENDING)
        return Q(pk__in=_listed(pending)) & ~active if pending else Q(pk__in=[])
    earlier = SnapshotRow.objects.filter(
        snapshot__in=ListSnapshot.objects.applied().filter(
            kind=ListSnapshot.Kind.PARTICIPATING, published_at__lt=end_of_day(as_of)
        ),
        agreement__isnull=False,
    ).values("agreement_id")
    # Its last listing before that day means the ending in question had happened by then.
    questioned = Q(ending_in_question=True, last_listed_at__lt=end_of_day(as_of))
    return Q(pk__in=earlier) & ~active & ~questioned


def statuses_on(agreements: list[Agreement], as_of: dt.date) -> dict[int, str]:
    """The status of each of ``agreements`` on ``as_of`` ("" when not yet listed); three queries."""
    participating = snapshot_in_force(as_of)
    pending = snapshot_in_force(as_of, kind=ListSnapshot.Kind.PENDING)
    earlier = ListSnapshot.objects.applied().filter(
        kind=ListSnapshot.Kind.PARTICIPATING, published_at__lt=end_of_day(as_of)
    )
    seen: dict[int, set[int]] = {a.pk: set() for a in agreements}
    rows = SnapshotRow.objects.filter(agreement_id__in=list(seen)).filter(
        Q(snapshot__in=earlier) | Q(snapshot=pending)
    )
    for agreement_id, snapshot_id in rows.values_list("agreement_id", "snapshot_id").distinct():
        seen[agreement_id].add(snapshot_id)
    statuses = {}
    for pk, lists in seen.items():
        if participating and participating.pk in lists:
            statuses[pk] = str(Status.ACTIVE)
        elif pending and pending.pk in lists:
            statuses[pk] = str(Status.PENDING)
        elif lists - {pending.pk if pending else None}:
            statuses[pk] = str(Status.ENDED)
        else:
            statuses[pk] = ""
    return statuses


def agreement_list() -> QuerySet[Agreement]:
    """Agreements with their agency, ready for lists (no per-row queries)."""
    return Agreement.objects.select_related("agency", "predecessor").order_by(
        "agency__state", "agency__name", "model", "signed_on", "id"
    )


def _agency_fields(c: Criteria, prefix: str = "") -> Q:
    """The criteria on an agency's own fields, for agencies or (with ``agency__``) agreements."""
    fields = {
        "state": c.state,
        "kind": c.kind,
        "county_fips": c.county_fips,
        "needs_review": c.needs_review,
        "slug": c.agency,
    }
    return Q(**{prefix + name: value for name, value in fields.items() if value not in (None, "")})


def agreements_selected(
    criteria: Criteria, queryset: QuerySet[Agreement] | None = None
) -> QuerySet[Agreement]:
    """The agreements matching ``criteria`` (of ``queryset``, ``agreement_list()`` by default)."""
    agreements = agreement_list() if queryset is None else queryset
    c = criteria
    agreements = agreements.filter(_agency_fields(c, "agency__"))
    if c.q:
        agreements = agreements.filter(
            agency__in=agency_search(Agency.objects.all(), c.q).values("pk")
        )
    if c.model:
        agreements = agreements.filter(model=c.model)
    if c.as_of is not None:
        agreements = agreements.filter(status_on(c.as_of, c.status))
    elif c.status == Status.ENDED:
        agreements = agreements.filter(status=c.status, ending_in_question=False)
    elif c.status:
        agreements = agreements.filter(status=c.status)
    return agreements


def agencies_selected(
    criteria: Criteria, queryset: QuerySet[Agency] | None = None
) -> QuerySet[Agency]:
    """The agencies matching ``criteria``: with model, status or as_of, through one agreement."""
    agencies = Agency.objects.order_by("state", "name", "id") if queryset is None else queryset
    c = criteria
    if c.q:
        agencies = agency_search(agencies, c.q)
    agencies = agencies.filter(_agency_fields(c))
    if c.on_agreements:
        on = Criteria(model=c.model, status=c.status, as_of=c.as_of)
        agreements = agreements_selected(on, Agreement.objects.order_by())
        agencies = agencies.filter(pk__in=agreements.values("agency_id"))
    return agencies
