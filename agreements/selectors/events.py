"""The history: agreement events, how they read, and what changed between two lists.

Every public surface (agency timeline, state page, changes page and its feed,
the page of what ICE changed in one list, the API's ``kind_label``) names an
event through ``KIND_LABELS``, so an ending, a rename and a renewal are told
apart the same way everywhere. A possible rename is never shown as an ending.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from django.db.models import Count, QuerySet

from agreements.models import Agency, Agreement, AgreementEvent, ListSnapshot, SnapshotRow
from agreements.selectors.snapshots import end_of_day

Kind = AgreementEvent.Kind

# What the public reads for each kind, in the order a list's changes are shown.
KIND_LABELS: dict[str, str] = {
    Kind.SIGNED: "Added",
    Kind.RELISTED: "Back on the list",
    Kind.DELISTED: "Ended",
    Kind.RENAMED: "Renamed",
    Kind.POSSIBLE_RENAME: "Name changed?",
    Kind.RESIGNED: "Re-signed",
    Kind.MODEL_SWITCHED: "Model switched",
    Kind.REDATED: "Re-dated",
    Kind.MOA_POSTED: "MOA link added",
    Kind.MOA_CHANGED: "MOA link changed",
    Kind.MOA_REMOVED: "MOA link removed",
    Kind.FIELD_CHANGED: "Other change",
    Kind.PENDING_LISTED: "Listed as pending",
}
KIND_ORDER = {kind: i for i, kind in enumerate(KIND_LABELS)}
# What a timeline entry shows (``event_item``) and nothing more: a snapshot's warnings can be long.
EVENT_FIELDS = (
    "id",
    "kind",
    "occurred_at",
    "field",
    "old_value",
    "new_value",
    "agency_id",
    "previous_snapshot__id",
    "previous_snapshot__published_at",
    "previous_snapshot__sha256",
    "agency__id",
    "agency__name",
    "agency__slug",
    "agency__state",
    "agreement__id",
    "agreement__model",
    "agreement__signed_on",
    "agreement__predecessor__id",
    "agreement__predecessor__model",
    "agreement__predecessor__signed_on",
    "snapshot__id",
    "snapshot__sha256",
    "snapshot__published_at",
    "snapshot__kind",
)
AGENCY_TIMELINE_LIMIT = 100


def event_list() -> QuerySet[AgreementEvent]:
    """Agreement events, newest list first; within a list, by state and agency."""
    return (
        AgreementEvent.objects.select_related(
            "agency", "agreement", "agreement__predecessor", "snapshot", "previous_snapshot"
        )
        .defer("snapshot__warnings", "previous_snapshot__warnings")
        .order_by(
            "-occurred_at", "-snapshot__sha256", "agency__state", "agency__name", "kind", "id"
        )
    )


def event_kind_counts(events: QuerySet[AgreementEvent]) -> list[tuple[str, str, int]]:
    """(kind, label, count) of every event ``events`` selects, in the order of ``KIND_LABELS``."""
    counts = dict(events.order_by().values_list("kind").annotate(n=Count("id")))
    return [(kind, KIND_LABELS[kind], counts[kind]) for kind in KIND_LABELS if counts.get(kind)]


def event_totals(events: QuerySet[AgreementEvent], snapshot_ids: set[int]) -> dict[int, int]:
    """How many of ``events`` each snapshot holds (one query)."""
    counts = (
        events.filter(snapshot_id__in=snapshot_ids)
        .order_by()
        .values("snapshot_id")
        .annotate(n=Count("id"))
    )
    return {row["snapshot_id"]: row["n"] for row in counts}


def events_by_snapshot(
    events: list[AgreementEvent], totals: dict[int, int] | None = None
) -> list[dict]:
    """Consecutive ``events`` grouped by the snapshot they were seen in, then by kind.

    ``totals`` gives each snapshot's number of events across all pages.
    """
    totals = totals or {}
    groups: list[dict] = []
    for event in events:
        if not groups or groups[-1]["snapshot"].pk != event.snapshot_id:
            groups.append({"snapshot": event.snapshot, "by_kind": {}})
        groups[-1]["by_kind"].setdefault(event.kind, []).append(event)
    return [
        {
            "snapshot": group["snapshot"],
            "sections": [
                {"key": kind, "label": KIND_LABELS[kind], "events": group["by_kind"][kind]}
                for kind in sorted(group["by_kind"], key=KIND_ORDER.__getitem__)
            ],
            "count": sum(len(v) for v in group["by_kind"].values()),
            "total": totals.get(group["snapshot"].pk),
        }
        for group in groups
    ]


def _field_label(name: str) -> str:
    """The verbose name of an agreement or agency field, e.g. "MOA URL" for moa_url."""
    for model in (Agreement, Agency):
        names = {f.name: f for f in model._meta.get_fields()}
        if name in names and hasattr(names[name], "verbose_name"):
            return str(names[name].verbose_name)
    return name.replace("_", " ") or "a field"


def _agreement_words(agreement: Agreement | None, *, with_model: bool = True) -> str:
    if agreement is None:
        return "an earlier agreement"
    what = f"{agreement.model} agreement" if with_model else "agreement"
    return f"{what} signed {agreement.signed_on:%Y-%m-%d}" if agreement.signed_on else what


def event_sentence(event: AgreementEvent, *, with_model: bool = True) -> str:
    """A short sentence for an event, e.g. "JEM agreement signed 2025-02-20 ended"."""
    what = _agreement_words(event.agreement, with_model=with_model)
    old, new = event.old_value, event.new_value
    predecessor = _agreement_words(event.agreement.predecessor)
    sentences = {
        Kind.PENDING_LISTED: f"{what} listed as pending",
        Kind.SIGNED: f"{what} added to the participating list",
        Kind.RELISTED: f"{what} back on the list",
        Kind.DELISTED: f"{what} ended: removed from the list with no successor",
        Kind.RENAMED: f"{what}: agency renamed from “{old}” to “{new}”",
        Kind.POSSIBLE_RENAME: (
            f"{what}: name changed? “{old}” may now be written “{new}” (a curator will check)"
        ),
        Kind.RESIGNED: f"{what} re-signed: renews the {predecessor}",
        Kind.MODEL_SWITCHED: f"{what}: model switched, replaces the {predecessor}",
        Kind.REDATED: f"{what}: signing date corrected from {old or '(blank)'} to {new}",
        Kind.MOA_POSTED: f"{what}: MOA link added",
        Kind.MOA_CHANGED: f"{what}: MOA link changed",
        Kind.MOA_REMOVED: f"{what}: MOA link removed",
    }
    if event.kind in sentences:
        return sentences[event.kind]
    return f"{what}: {_field_label(event.field)} changed from “{old}” to “{new}”"


def agency_timeline(agency: Agency, as_of: dt.date | None = None) -> dict:
    """The latest changes of ``agency`` (up to the end of ``as_of``); the page links to all."""
    events = event_list().filter(agency=agency).only(*EVENT_FIELDS)
    if as_of is not None:
        events = events.filter(occurred_at__lt=end_of_day(as_of))
    shown = list(events[: AGENCY_TIMELINE_LIMIT + 1])
    return {
        "events": shown[:AGENCY_TIMELINE_LIMIT],
        "more_events": len(shown) > AGENCY_TIMELINE_LIMIT,
        "timeline_limit": AGENCY_TIMELINE_LIMIT,
    }


def latest_events(*, state: str = "", as_of: dt.date | None = None, limit: int = 25) -> list:
    """The latest ``limit`` events (of ``state``, up to the end of ``as_of``)."""
    events = event_list().only(*EVENT_FIELDS)
    if state:
        events = events.filter(agency__state=state)
    if as_of is not None:
        events = events.filter(occurred_at__lt=end_of_day(as_of))
    return list(events[:limit])


# --- What ICE changed in one list ------------------------------------------------------


@dataclass
class ListChange:
    """One change a list made, with the rows of the two files that show it."""

    event: AgreementEvent
    label: str
    sentence: str
    before: SnapshotRow | None = None
    after: SnapshotRow | None = None

    before_list: ListSnapshot | None = None
    after_list: ListSnapshot | None = None

    @property
    def rows(self) -> list[tuple[str, SnapshotRow | None, ListSnapshot | None]]:
        """(caption, row, list) of the previous list's row and this list's row."""
        return [
            ("Previous list", self.before, self.before_list),
            ("This list", self.after, self.after_list),
        ]


@dataclass
class ListChanges:
    """What changed in ``snapshot`` since ``previous``, the list of the same kind before it."""

    snapshot: ListSnapshot
    previous: ListSnapshot | None
    changes: list[ListChange] = field(default_factory=list)

    @property
    def counts(self) -> list[tuple[str, str, int]]:
        counted = Counter(change.event.kind for change in self.changes)
        return [(k, KIND_LABELS[k], counted[k]) for k in KIND_LABELS if counted[k]]

    @property
    def sections(self) -> list[dict]:
        return [
            {
                "key": kind,
                "label": label,
                "changes": [c for c in self.changes if c.event.kind == kind],
            }
            for kind, label, _ in self.counts
        ]


def list_changes(snapshot: ListSnapshot, previous: ListSnapshot | None) -> ListChanges:
    """Every event first seen in ``snapshot``, each with its row in ``previous`` and in ``snapshot``.

    A row is found by the event's agreement, or (for a re-signed or switched
    agreement, whose old row names the agreement it replaces) by its
    predecessor. Three queries whatever the number of changes.
    """
    events = list(event_list().filter(snapshot=snapshot).only(*EVENT_FIELDS))
    events.sort(key=lambda e: (KIND_ORDER[e.kind], e.agency.state, e.agency.name, e.pk))
    ids = {e.agreement_id for e in events} | {
        e.agreement.predecessor_id for e in events if e.agreement.predecessor_id
    }
    rows: dict[tuple[int, int], SnapshotRow] = {}
    snapshots = [snapshot.pk] + ([previous.pk] if previous else [])
    found = SnapshotRow.objects.filter(snapshot_id__in=snapshots, agreement_id__in=ids).order_by(
        "-row_number"
    )
    for row in found:
        rows[row.snapshot_id, row.agreement_id] = row  # the first row of an agreement wins
    result = ListChanges(snapshot=snapshot, previous=previous)
    for event in events:
        before = None
        if previous is not None:
            before = rows.get((previous.pk, event.agreement_id)) or rows.get(
                (previous.pk, event.agreement.predecessor_id)
            )
        result.changes.append(
            ListChange(
                event=event,
                label=KIND_LABELS[event.kind],
                sentence=event_sentence(event),
                before=before,
                after=rows.get((snapshot.pk, event.agreement_id)),
                before_list=previous,
                after_list=snapshot,
            )
        )
    return result
