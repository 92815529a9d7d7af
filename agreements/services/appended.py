"""The common case, done fast: a participating list newer than every snapshot imported.

Most imports are ICE's latest list. For an agency whose rows in it all carry a
signed date already known for one of its agreements (the agreement's current
date), the full rebuild (``events.agreements_rebuild``) would only extend the
history at its end: rows keep their agreements, and the only new events are
at this snapshot. This module computes exactly that by comparing each row with
its agreement's ``AgreementLastSeen`` record (what the lists said last), so
the cost does not grow with the history, and advances those records. Any
other agency (new dates, undated rows, new agencies, an agreement without a
record) goes through the full rebuild. The shuffled-order tests check that
both ways give the same history.
"""

from __future__ import annotations

from types import SimpleNamespace

from django.db.models import Q

from agreements import normalize
from agreements.models import (
    Agency,
    Agreement,
    AgreementEvent,
    AgreementLastSeen,
    ListSnapshot,
    SnapshotRow,
)
from agreements.services.events import (
    CHUNK,
    LAST_SEEN_COLUMNS,
    LINK_COLUMNS,
    LINK_FIELDS,
    TRACKED_FIELDS,
    NewRow,
    RebuildResult,
    agency_values,
    agreements_rebuild,
    event_record,
    field_events,
    insert_plain,
    link_columns,
    update_grouped,
)

PARTICIPATING = ListSnapshot.Kind.PARTICIPATING
_AGREEMENT_FIELDS = ("id", "agency_id", "model", "signed_on", "status", "moa_url", "addendum_url")
_FIELDS = (*TRACKED_FIELDS, *LINK_FIELDS)


def snapshot_history_update(
    *,
    snapshot: ListSnapshot,
    new_rows: list[NewRow],
    agency_ids: set[int],
    structural: set[int] = frozenset(),
) -> RebuildResult:
    """Bring agreements and events up to date with ``snapshot`` (saved; rows not yet).

    ``structural`` agencies (merged, split, or with a possible rename) are rebuilt in full.
    """
    if not _is_newest_participating(snapshot):
        return agreements_rebuild(agency_ids=agency_ids, new_rows=new_rows)
    plan = _Plan(snapshot, new_rows, agency_ids)
    plan.structural |= set(structural) | plan.renamed()
    structural_rows = [r for r in new_rows if r.agency_id in plan.structural]
    result = (
        agreements_rebuild(agency_ids=plan.structural, new_rows=structural_rows)
        if plan.structural
        else RebuildResult()
    )
    plan.apply(result)
    return result


def _is_newest_participating(snapshot: ListSnapshot) -> bool:
    if snapshot.kind != PARTICIPATING:
        return False
    later = Q(published_at__gt=snapshot.published_at) | Q(
        published_at=snapshot.published_at, sha256__gt=snapshot.sha256
    )
    return not ListSnapshot.objects.exclude(pk=snapshot.pk).filter(later, held=False).exists()


def _chunks(ids: list[int]):
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


class _Plan:
    def __init__(self, snapshot: ListSnapshot, new_rows: list[NewRow], agency_ids) -> None:
        self.snapshot = snapshot
        self.new_rows = new_rows
        self.agency_ids = sorted(agency_ids)
        self.previous = (
            ListSnapshot.objects.applied()
            .filter(kind=PARTICIPATING)
            .exclude(pk=snapshot.pk)
            .newest_first()
            .first()
        )
        # Once per list: it reads every warning of the list.
        self.columns = link_columns(snapshot.header, snapshot.warnings)
        self.agreements: dict[int, SimpleNamespace] = {}
        # An agency is rebuilt in full when one of its agreements has no
        # last-seen record: only the rows can tell what it was.
        self.structural: set[int] = set()
        # A date is one agreement's only (dates are never shared between the
        # agreements of a lineage), so the agreement holding it as its current
        # date is the one a row with that date belongs to.
        by_date: dict[tuple, SimpleNamespace] = {}
        seen_fields = ("last_seen", *(f"last_seen__{c}" for c in LAST_SEEN_COLUMNS))
        for chunk in _chunks(self.agency_ids):
            found = Agreement.objects.filter(agency_id__in=chunk).values_list(
                *_AGREEMENT_FIELDS, *seen_fields
            )
            for values in found:
                # Plain records: thousands of model instances would cost more than the rest.
                agreement = SimpleNamespace(**dict(zip(_AGREEMENT_FIELDS, values, strict=False)))
                agreement.pk = agreement.id
                known, *seen = values[len(_AGREEMENT_FIELDS) :]
                agreement.seen = dict(zip(LAST_SEEN_COLUMNS, seen, strict=True)) if known else None
                self.agreements[agreement.pk] = agreement
                if agreement.seen is None:
                    self.structural.add(agreement.agency_id)
                if agreement.signed_on:
                    by_date[(agreement.agency_id, agreement.model, agreement.signed_on)] = agreement
        for row in new_rows:
            if not row.agency_id or not row.model:
                continue
            agreement = by_date.get((row.agency_id, row.model, row.signed_on))
            if agreement is None or agreement.seen is None or agreement.seen["snapshot_id"] is None:
                self.structural.add(row.agency_id)  # new, re-dated, or never listed before
            else:
                row.agreement_id = agreement.pk

    def renamed(self) -> set[int]:
        """Agencies listed under another spelling than on the previous list: a rename event is due."""
        if self.previous is None:
            return set()
        before: dict[int, set[str]] = {}
        for chunk in _chunks(self.agency_ids):
            names = SnapshotRow.objects.filter(snapshot=self.previous, agency_id__in=chunk)
            for agency_id, name in names.values_list("agency_id", "agency_name"):
                before.setdefault(agency_id, set()).add(normalize.name_key(name))
        now: dict[int, set[str]] = {}
        for row in self.new_rows:
            if row.agency_id:
                now.setdefault(row.agency_id, set()).add(normalize.name_key(row.agency_name))
        return {pk for pk, keys in now.items() if pk in before and before[pk] != keys}

    def apply(self, result: RebuildResult) -> None:
        snapshot = self.snapshot
        previous = self.previous.pk if self.previous else None
        fast = {pk for pk in self.agency_ids if pk not in self.structural}
        current: dict[int, NewRow] = {}
        for row in sorted(self.new_rows, key=lambda r: r.row_number):
            if row.agency_id not in fast or not row.agreement_id:
                continue
            if row.agreement_id not in current or current[row.agreement_id].is_duplicate:
                current[row.agreement_id] = row
        events: list[SimpleNamespace] = []
        changes: list[tuple[int, dict]] = []
        seen_changes: list[tuple[int, dict]] = []
        for pk, agreement in self.agreements.items():
            if agreement.agency_id not in fast:
                continue
            row = current.get(pk)
            listed_before = previous is not None and agreement.seen["snapshot_id"] == previous
            if row is None:
                if listed_before:
                    events.append(self._event(agreement, "delisted", previous))
                # Active agreements are those on the previous participating list;
                # a pending agreement's status is not this list's to change.
                if agreement.status == Agreement.Status.ACTIVE and listed_before:
                    changes.append((pk, {"status": Agreement.Status.ENDED}))
                    result.agreements_changed += 1
                continue
            if not listed_before:
                events.append(self._event(agreement, "relisted", agreement.seen["snapshot_id"]))
            seen_diff = {"snapshot_id": snapshot.pk}
            events.extend(self._changes(agreement, row, seen_diff))
            seen_changes.append((pk, seen_diff))
            diff: dict = {"last_listed_at": snapshot.published_at}
            if agreement.status != Agreement.Status.ACTIVE:
                diff["status"] = Agreement.Status.ACTIVE
                diff["ending_in_question"] = False  # back on the list: no ending to question
            for name in LINK_FIELDS:
                if getattr(row, name) and getattr(row, name) != getattr(agreement, name):
                    diff[name] = getattr(row, name)
            if set(diff) - {"last_listed_at"}:
                result.agreements_changed += 1
            changes.append((pk, diff))
        update_grouped(Agreement, changes)
        update_grouped(AgreementLastSeen, seen_changes, stamp=False)
        insert_plain(AgreementEvent, events)
        result.events += len(events)
        self._update_agencies(fast)
        insert_plain(SnapshotRow, [r for r in self.new_rows if r.agency_id not in self.structural])

    def _event(
        self, agreement: SimpleNamespace, kind: str, previous: int | None, **extra
    ) -> SimpleNamespace:
        return event_record(
            agreement_id=agreement.pk,
            agency_id=agreement.agency_id,
            kind=kind,
            snapshot_id=self.snapshot.pk,
            previous_snapshot_id=previous,
            occurred_at=self.snapshot.published_at,
            **extra,
        )

    def _changes(
        self, agreement: SimpleNamespace, row: NewRow, seen_diff: dict
    ) -> list[SimpleNamespace]:
        """Events of ``row`` against the last values seen; the record's changes go in ``seen_diff``.

        The same reading as ``events.derive_events``: a blank cell is not a
        change, except a link left blank in a list that has its column.
        """
        events = []
        seen = agreement.seen
        columns = self.columns
        for name in _FIELDS:
            after = getattr(row, name)
            link = name in LINK_FIELDS
            if not after and not (link and LINK_COLUMNS[name] in columns):
                continue
            before, previous = seen[name], seen[f"{name}_snapshot_id"]
            seen_diff[f"{name}_snapshot_id"] = self.snapshot.pk
            if before == after:
                continue
            seen_diff[name] = after
            for _, kind, _, label, _, old, new in field_events(
                agreement.pk, name, before, after, self.snapshot.pk, previous
            ):
                events.append(
                    self._event(
                        agreement, kind, previous, field=label, old_value=old, new_value=new
                    )
                )
        return events

    def _update_agencies(self, fast: set[int]) -> None:
        latest: dict[int, dict[str, str]] = {}
        for row in sorted(self.new_rows, key=lambda r: r.row_number):
            if row.agency_id in fast:
                agency_values(latest.setdefault(row.agency_id, {}), row)
        fields = ("id", "agency_type", "county_name", "county_fips")
        changes = []
        for chunk in _chunks(sorted(latest)):
            for pk, *current in Agency.objects.filter(pk__in=chunk).values_list(*fields):
                now = dict(zip(fields[1:], current, strict=True))
                diff = {k: v for k, v in latest[pk].items() if now[k] != v}
                if diff:
                    changes.append((pk, diff))
        update_grouped(Agency, changes)
