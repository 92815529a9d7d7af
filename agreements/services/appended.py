"""The common case, done fast: a participating list newer than every snapshot imported.

Most imports are ICE's latest list. For an agency whose rows in it all carry a
signed date already known for one of its agreements (the agreement's current
date), the full rebuild (``events.agreements_rebuild``) would only extend the
history at its end: rows keep their agreements, and the only new events are
at this snapshot. This module computes exactly that from the previous
snapshot and a few targeted queries, instead of re-reading every row of every
earlier snapshot. Any other agency (new dates, undated rows, new agencies)
goes through the full rebuild. The shuffled-order tests check that both ways
give the same history.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from types import SimpleNamespace

from django.db.models import Q

from agreements.models import Agency, Agreement, AgreementEvent, ListSnapshot, SnapshotRow
from agreements.services.events import (
    CHUNK,
    LINK_FIELDS,
    TRACKED_FIELDS,
    RebuildResult,
    agency_values,
    agreements_rebuild,
    insert_plain,
    update_grouped,
)

PARTICIPATING = ListSnapshot.Kind.PARTICIPATING
_AGREEMENT_FIELDS = ("id", "agency_id", "model", "signed_on", "status", "moa_url", "addendum_url")
_FIELDS = (*TRACKED_FIELDS, *LINK_FIELDS)


def snapshot_history_update(
    *, snapshot: ListSnapshot, new_rows: list[SnapshotRow], agency_ids: set[int]
) -> RebuildResult:
    """Bring agreements and events up to date with ``snapshot`` (saved; rows not yet)."""
    if not _is_newest_participating(snapshot):
        return agreements_rebuild(agency_ids=agency_ids, new_rows=new_rows)
    plan = _Plan(snapshot, new_rows, agency_ids)
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
    return not ListSnapshot.objects.exclude(pk=snapshot.pk).filter(later).exists()


def _chunks(ids: list[int]):
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


class _Plan:
    def __init__(self, snapshot: ListSnapshot, new_rows: list[SnapshotRow], agency_ids) -> None:
        self.snapshot = snapshot
        self.new_rows = new_rows
        self.agency_ids = sorted(agency_ids)
        self.previous = (
            ListSnapshot.objects.filter(kind=PARTICIPATING)
            .exclude(pk=snapshot.pk)
            .order_by("-published_at", "-sha256")
            .first()
        )
        self.agreements: dict[int, Agreement] = {}
        # A date is one agreement's only (dates are never shared between the
        # agreements of a lineage), so the agreement holding it as its current
        # date is the one a row with that date belongs to.
        by_date: dict[tuple, Agreement] = {}
        for chunk in _chunks(self.agency_ids):
            for values in Agreement.objects.filter(agency_id__in=chunk).values(*_AGREEMENT_FIELDS):
                # Plain records: thousands of model instances would cost more than the rest.
                agreement = SimpleNamespace(pk=values["id"], **values)
                self.agreements[agreement.pk] = agreement
                if agreement.signed_on:
                    by_date[(agreement.agency_id, agreement.model, agreement.signed_on)] = agreement
        self.structural: set[int] = set()
        for row in new_rows:
            if not row.agency_id or not row.model:
                continue
            agreement = by_date.get((row.agency_id, row.model, row.signed_on))
            if agreement is None:
                self.structural.add(row.agency_id)
            else:
                row.agreement_id = agreement.pk

    def apply(self, result: RebuildResult) -> None:
        snapshot, previous = self.snapshot, self.previous
        fast = [pk for pk in self.agency_ids if pk not in self.structural]
        fast_set = set(fast)
        current: dict[int, SnapshotRow] = {}
        for row in sorted(self.new_rows, key=lambda r: r.row_number):
            if row.agency_id not in fast_set or not row.agreement_id:
                continue
            if row.agreement_id not in current or current[row.agreement_id].is_duplicate:
                current[row.agreement_id] = row
        before = self._previous_rows(fast)
        last = self._last_values(current, before)
        events: list[AgreementEvent] = []
        changes: list[tuple[int, dict]] = []
        for pk, agreement in self.agreements.items():
            if agreement.agency_id not in fast_set:
                continue
            row = current.get(pk)
            if row is None:
                if pk in before:
                    events.append(self._event(agreement, "delisted", previous.pk))
                # Active agreements are those on the previous participating list;
                # a pending agreement's status is not this list's to change.
                if agreement.status == Agreement.Status.ACTIVE and pk in before:
                    changes.append((pk, {"status": Agreement.Status.ENDED}))
                    result.agreements_changed += 1
                continue
            if pk not in before:
                events.append(self._event(agreement, "relisted", last[pk].get("_listed")))
            events.extend(self._changes(agreement, row, last.get(pk, {})))
            diff: dict = {"last_listed_at": snapshot.published_at}
            if agreement.status != Agreement.Status.ACTIVE:
                diff["status"] = Agreement.Status.ACTIVE
            for name in LINK_FIELDS:
                if getattr(row, name) and getattr(row, name) != getattr(agreement, name):
                    diff[name] = getattr(row, name)
            if set(diff) - {"last_listed_at"}:
                result.agreements_changed += 1
            changes.append((pk, diff))
        update_grouped(Agreement, changes)
        AgreementEvent.objects.bulk_create(events, batch_size=1000)
        result.events += len(events)
        self._update_agencies(fast_set)
        insert_plain(SnapshotRow, [r for r in self.new_rows if r.agency_id not in self.structural])

    def _previous_rows(self, fast: list[int]) -> dict[int, SimpleNamespace]:
        """Agreement -> its row on the previous participating snapshot."""
        rows: dict[int, SimpleNamespace] = {}
        if self.previous is None:
            return rows
        for chunk in _chunks(fast):
            found = (
                SnapshotRow.objects.filter(
                    snapshot=self.previous, agency_id__in=chunk, agreement__isnull=False
                )
                .values("snapshot_id", "agreement_id", "is_duplicate", *_FIELDS)
                .order_by("row_number")
            )
            for values in found:
                row = SimpleNamespace(**values)
                if row.agreement_id not in rows or rows[row.agreement_id].is_duplicate:
                    rows[row.agreement_id] = row
        return rows

    def _last_values(self, current: dict, before: dict) -> dict[int, dict]:
        """Last non-blank values (and snapshot) of each listed agreement before this one."""
        last: dict[int, dict] = defaultdict(dict)
        lookups: dict[str, list[int]] = defaultdict(list)
        for pk in current:
            row = before.get(pk)
            for name in _FIELDS:
                value = getattr(row, name) if row is not None else None
                if value:
                    last[pk][name] = (value, row.snapshot_id)
                else:
                    lookups[name].append(pk)
            if row is None:
                lookups["_listed"].append(pk)
        for name, pks in lookups.items():
            for chunk in _chunks(pks):
                rows = SnapshotRow.objects.filter(
                    agreement_id__in=chunk, snapshot__kind=PARTICIPATING, is_duplicate=False
                ).exclude(snapshot=self.snapshot)
                if name != "_listed":
                    rows = rows.exclude(**{name: ""}) if name != "signed_on" else rows
                    rows = rows.exclude(**{f"{name}__isnull": True})
                found = rows.values_list(
                    "agreement_id",
                    "snapshot_id",
                    "snapshot__published_at",
                    "snapshot__sha256",
                    "row_number",
                    name if name != "_listed" else "snapshot_id",
                )
                best: dict[int, tuple] = {}
                for agreement_id, snapshot_id, when, sha, number, value in found:
                    key = (when, sha, -number)
                    if agreement_id not in best or key > best[agreement_id][0]:
                        best[agreement_id] = (key, value, snapshot_id)
                for agreement_id, (_, value, snapshot_id) in best.items():
                    last[agreement_id][name] = (
                        snapshot_id if name == "_listed" else (value, snapshot_id)
                    )
        return last

    def _event(
        self, agreement: SimpleNamespace, kind: str, previous: int | None, **extra
    ) -> AgreementEvent:
        return AgreementEvent(
            agreement_id=agreement.pk,
            agency_id=agreement.agency_id,
            kind=kind,
            snapshot_id=self.snapshot.pk,
            previous_snapshot_id=previous,
            occurred_at=self.snapshot.published_at,
            **extra,
        )

    def _changes(
        self, agreement: SimpleNamespace, row: SnapshotRow, last: dict
    ) -> list[AgreementEvent]:
        events = []
        for name in _FIELDS:
            after = getattr(row, name)
            if not after:
                continue
            before, previous = last.get(name, ("", None))
            if before == after:
                continue
            label = "county" if name == "county_name" else name
            if name in LINK_FIELDS and not before:
                events.append(
                    self._event(agreement, "moa_posted", previous, field=name, new_value=after)
                )
            elif before:
                events.append(
                    self._event(
                        agreement,
                        "field_changed",
                        previous,
                        field=label,
                        old_value=_text(before),
                        new_value=_text(after),
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


def _text(value: object) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)
