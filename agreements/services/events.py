"""Agreements and their history, rebuilt from the ordered snapshot rows.

Nothing here depends on the order in which files were imported: after each
import, every agency the new file touches is recomputed from all of its rows
in all snapshots, ordered by publication time (then sha256). Which rows are one
agreement, that agreement's signed date, links, status and listing times, and
its ``AgreementEvent``s are all functions of that ordered history, so
importing the same files in any order yields the same records.

Rules, per agency and model (a "lineage"):
- each signed date on the participating list is an agreement; a new date that
  replaces another from one participating snapshot to the next, and is close
  to it (same month and day, or within 45 days), is the same agreement with its
  date corrected; otherwise it is a renewal, a new agreement whose
  ``predecessor`` is the one before;
- a row on the pending list belongs to the agreement signed next after it (or
  to the one signed at most 30 days before: ICE's lists lag each other), else
  to an unsigned pending agreement;
- a participating row whose SIGNED could not be read belongs to the latest
  agreement signed before it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import SimpleNamespace

from django.db import connection, models
from django.db.models import ExpressionWrapper, Q
from django.db.models.functions import Cast
from django.utils import timezone

from agreements import ice_sheet, normalize
from agreements.models import (
    Agency,
    Agreement,
    AgreementEvent,
    AgreementLastSeen,
    ListSnapshot,
    PossibleRename,
    SnapshotRow,
)

PARTICIPATING = ListSnapshot.Kind.PARTICIPATING
PENDING = ListSnapshot.Kind.PENDING
CORRECTION_DAYS = 45
PENDING_LAG = dt.timedelta(days=30)
# Compared between consecutive listings; a blank new value is not a change
# (ICE's COUNTY cells flicker to #N/A).
TRACKED_FIELDS = ("county_name", "agency_type", "signed_on")
LINK_FIELDS = ("moa_url", "addendum_url")
LINK_COLUMNS = {"moa_url": "MOA", "addendum_url": "ADDENDUM"}
ROW_FIELDS = (
    "id",
    "snapshot_id",
    "row_number",
    "agency_id",
    "agency_name",
    "model",
    "signed_on",
    "signed_raw",
    "agency_type",
    "county_name",
    "county_fips",
    "moa_url",
    "addendum_url",
    "agreement_id",
    "is_duplicate",
)
CHUNK = 900


@dataclass(slots=True)
class NewRow:
    """A row of the file being imported, not yet saved: the ``SnapshotRow`` columns, plainly.

    Thousands of model instances per file cost more than the rest of the row's
    way to the database (``insert_plain`` reads these attributes).
    """

    snapshot_id: int
    row_number: int
    raw: dict
    state: str
    agency_name: str
    model: str
    signed_on: dt.date | None
    signed_raw: str
    agency_type: str
    county_name: str
    county_fips: str
    moa_url: str
    addendum_url: str
    agency_id: int | None
    is_duplicate: bool
    agreement_id: int | None = None
    moa_source_url: str = ""
    addendum_source_url: str = ""
    id: None = None


@dataclass
class Row:
    """A snapshot row as the rebuild sees it."""

    id: int | None
    snapshot_id: int
    row_number: int
    agency_id: int
    agency_name: str
    model: str
    signed_on: dt.date | None
    signed_raw: str
    agency_type: str
    county_name: str
    county_fips: str
    moa_url: str
    addendum_url: str
    agreement_id: int | None
    is_duplicate: bool
    obj: NewRow | None = None  # an unsaved row of the file being imported


def link_columns(header: list, warnings: list[dict]) -> frozenset[str]:
    """A list's columns, upper-cased, less the link columns it left without a single link."""
    blank = {
        str(w["column"]).strip().upper()
        for w in warnings
        if w.get("code") == ice_sheet.BLANK_LINK_COLUMN
    }
    return frozenset(str(h).strip().upper() for h in header) - blank


@dataclass
class Timeline:
    """Every snapshot, ordered by publication time then sha256, per kind."""

    kind: dict[int, str]
    time: dict[int, dt.datetime]
    order: dict[str, list[int]]
    position: dict[int, int]
    columns: dict[int, frozenset[str]] = field(default_factory=dict)
    # (state, old name key, model, signed date, snapshot) -> the new name, see PossibleRename
    possible: dict[tuple, str] = field(default_factory=dict)
    states: dict[int, str] = field(default_factory=dict)  # agency -> state

    @classmethod
    def load(cls) -> Timeline:
        snapshots = list(
            ListSnapshot.objects.applied()
            .chronological()
            .values_list("id", "kind", "published_at", "sha256")
        )
        order: dict[str, list[int]] = {PARTICIPATING: [], PENDING: []}
        position = {}
        for pk, kind, *_ in snapshots:
            position[pk] = len(order.setdefault(kind, []))
            order[kind].append(pk)
        return cls(
            kind={s[0]: s[1] for s in snapshots},
            time={s[0]: s[2] for s in snapshots},
            order=order,
            position=position,
        )

    def load_columns(self, snapshot_ids: set[int]) -> None:
        """The link columns of these lists: only those a rebuild reads, as every list's
        warnings would make each import slower and larger as the history grows."""
        missing = sorted(set(snapshot_ids) - set(self.columns))
        for chunk in _chunks(missing):
            self.columns.update(dict.fromkeys(chunk, frozenset()))  # a held list: none
            found = ListSnapshot.objects.applied().filter(pk__in=chunk)
            # Warnings are read only where one may be a blank link column (rare).
            if connection.features.supports_json_field_contains:
                # jsonb containment: no text made of every list's warnings on the server.
                blank = Q(warnings__contains=[{"code": ice_sheet.BLANK_LINK_COLUMN}])
            else:
                blank = Q(text__contains=ice_sheet.BLANK_LINK_COLUMN)
                found = found.annotate(text=Cast("warnings", models.TextField()))
            for pk, header, maybe in found.values_list(
                "id", "header", ExpressionWrapper(blank, output_field=models.BooleanField())
            ):
                self.columns[pk] = link_columns(header, [])
                if maybe:
                    warnings = ListSnapshot.objects.values_list("warnings", flat=True).get(pk=pk)
                    self.columns[pk] = link_columns(header, warnings)

    def load_identity(self, agency_ids: list[int]) -> None:
        """The states of these agencies and the possible renames of those states."""
        for chunk in _chunks(agency_ids):
            self.states.update(Agency.objects.filter(pk__in=chunk).values_list("pk", "state"))
        fields = ("state", "old_key", "model", "signed_on", "snapshot_id", "new_name")
        for *key, new_name in PossibleRename.objects.filter(
            state__in=set(self.states.values())
        ).values_list(*fields):
            self.possible[tuple(key)] = new_name

    def has_column(self, snapshot_id: int, name: str) -> bool:
        """Whether this list has the column of a link field, with links in it (lists before
        2025-07 have no ADDENDUM; the MOA column of 2025-03-01 has not one link)."""
        if snapshot_id not in self.columns:
            self.load_columns({snapshot_id})
        return LINK_COLUMNS[name] in self.columns.get(snapshot_id, ())

    def key(self, row: Row) -> tuple:
        return (self.time[row.snapshot_id], self.position[row.snapshot_id], row.row_number)

    def latest(self, kind: str) -> int | None:
        return self.order[kind][-1] if self.order.get(kind) else None


@dataclass
class Group:
    """One agreement of a lineage, as computed from its rows."""

    dates: list[dt.date] = field(default_factory=list)
    first: int = 0  # position of the first participating snapshot listing it
    last: int = 0
    rows: list[Row] = field(default_factory=list)
    agreement: Agreement | None = None
    switched_from: Group | None = None  # the other model's agreement this one replaced
    renews: Group | None = None  # the same model's agreement before it
    succeeded_at: int | None = None  # position of the list where a successor replaced it

    @property
    def signed_on(self) -> dt.date | None:
        return self.dates[-1] if self.dates else None


@dataclass
class RebuildResult:
    agreements_new: int = 0
    agreements_changed: int = 0
    events: int = 0


# --- Entry point ------------------------------------------------------------


def agreements_rebuild(
    *, agency_ids: Iterable[int], new_rows: list[NewRow] | None = None
) -> RebuildResult:
    """Recompute agreements, row assignments and events of these agencies.

    ``new_rows`` are unsaved rows of the snapshot being imported (already
    saved itself): they take part in the rebuild and are then bulk-created
    with their agreement set. Call inside the import's transaction.
    """
    agency_ids = sorted(set(agency_ids))
    new_rows = new_rows or []
    timeline = Timeline.load()
    timeline.load_identity(agency_ids)
    rows = _load_rows(agency_ids) + [_row_of(obj) for obj in new_rows if obj.agency_id]
    timeline.load_columns({row.snapshot_id for row in rows})
    lineages: dict[tuple[int, str], list[Row]] = defaultdict(list)
    for row in rows:
        if row.model:
            lineages[(row.agency_id, row.model)].append(row)
    existing: dict[tuple[int, str], list[Agreement]] = defaultdict(list)
    for chunk in _chunks(agency_ids):
        for agreement in Agreement.objects.filter(agency_id__in=chunk).order_by("pk"):
            existing[(agreement.agency_id, agreement.model)].append(agreement)

    result = RebuildResult()
    groups_by_lineage = {
        pair: _lineage_groups(sorted(pair_rows, key=timeline.key), timeline)
        for pair, pair_rows in lineages.items()
    }
    _link_model_switches(groups_by_lineage)
    reconciler = _Reconciler(timeline, result)
    for pair in sorted(groups_by_lineage):
        reconciler.claim(groups_by_lineage[pair], existing.get(pair, []))
    # Ids taken before saving: combining two records deletes one, which blanks its pk.
    existing_ids = [a.pk for agreements in existing.values() for a in agreements]
    reconciler.save()
    _assign_rows(groups_by_lineage, new_rows)
    _update_agencies(agency_ids, rows, timeline)
    result.events = _sync_events(agency_ids, groups_by_lineage, timeline)
    kept = [pk for pk in existing_ids if pk not in reconciler.dropped]
    _sync_last_seen(agency_ids, groups_by_lineage, timeline, kept)
    return result


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def _load_rows(agency_ids: list[int]) -> list[Row]:
    rows = []
    for chunk in _chunks(agency_ids):
        held = Q(snapshot__held=True)  # a held list is not part of the history yet
        rows_of = SnapshotRow.objects.filter(agency_id__in=chunk).exclude(held)
        for values in rows_of.values_list(*ROW_FIELDS):
            rows.append(Row(*values))
    return rows


def _row_of(obj: NewRow) -> Row:
    values = [getattr(obj, name) for name in ROW_FIELDS]
    return Row(*values, obj=obj)


# --- Lineages ---------------------------------------------------------------


def looks_like_correction(old: dt.date, new: dt.date) -> bool:
    """Whether ``new`` reads as a corrected ``old`` rather than a renewal."""
    if abs((new - old).days) <= CORRECTION_DAYS:
        return True
    if (old.month, old.day) == (new.month, new.day):
        return True  # a typo in the year
    return old.year == new.year and (old.month, old.day) == (new.day, new.month)


def _lineage_groups(rows: list[Row], timeline: Timeline) -> list[Group]:
    """Split one agency+model's rows (ordered) into agreements."""
    position = timeline.position
    seen: dict[dt.date, list[int]] = {}
    for row in rows:
        if row.signed_on and timeline.kind[row.snapshot_id] == PARTICIPATING:
            pos = position[row.snapshot_id]
            first_last = seen.setdefault(row.signed_on, [pos, pos])
            first_last[0], first_last[1] = min(first_last[0], pos), max(first_last[1], pos)
    groups: list[Group] = []
    by_date: dict[dt.date, Group] = {}
    for day in sorted(seen, key=lambda d: (seen[d][0], d)):
        first, last = seen[day]
        target = next(
            (
                g
                for g in reversed(groups)
                if g.last == first - 1 and looks_like_correction(g.signed_on, day)
            ),
            None,
        )
        if target is None:
            target = Group(first=first, last=last)
            groups.append(target)
        target.dates.append(day)
        target.last = max(target.last, last)
        by_date[day] = target
    unsigned: Group | None = None
    participating = timeline.order[PARTICIPATING]
    for row in rows:
        kind = timeline.kind[row.snapshot_id]
        if kind == PARTICIPATING and row.signed_on:
            group = by_date[row.signed_on]
        elif kind == PARTICIPATING:
            pos = position[row.snapshot_id]
            group = next((g for g in reversed(groups) if g.first <= pos), None)
            group = group or (groups[0] if groups else None)
        else:
            when = timeline.time[row.snapshot_id]
            group = next((g for g in groups if timeline.time[participating[g.first]] >= when), None)
            if group is None and groups:
                latest = groups[-1]
                if when - timeline.time[participating[latest.first]] <= PENDING_LAG:
                    group = latest
        if group is None:
            unsigned = unsigned or Group()
            group = unsigned
        group.rows.append(row)
    for before, after in zip(groups, groups[1:], strict=False):
        after.renews = before
        if before.last == after.first - 1:
            before.succeeded_at = after.first
    if unsigned is not None:
        groups.append(unsigned)
    return groups


def _link_model_switches(groups_by_lineage: dict[tuple[int, str], list[Group]]) -> None:
    """A lineage that starts just as another of the same agency ends switched model.

    Its first agreement then succeeds the other one (e.g. JEM replaced by WSO).
    """
    by_agency: dict[int, list[tuple[str, list[Group]]]] = defaultdict(list)
    for (agency_id, model), groups in groups_by_lineage.items():
        by_agency[agency_id].append((model, groups))
    for lineages in by_agency.values():
        if len(lineages) < 2:
            continue
        for model, groups in sorted(lineages):
            first = groups[0]
            if not first.dates:
                continue
            replaced = [
                next((g for g in reversed(other) if g.dates), None)
                for other_model, other in sorted(lineages)
                if other_model != model
            ]
            ended = [g for g in replaced if g is not None and g.last == first.first - 1]
            if ended:
                first.switched_from = ended[0]
                ended[0].succeeded_at = first.first


# --- Agreements -------------------------------------------------------------

_FIELDS = (
    "signed_on",
    "signed_raw",
    "moa_url",
    "addendum_url",
    "status",
    "ending_in_question",
    "first_listed_at",
    "last_listed_at",
)


def _values(agreement: Agreement, predecessor_id: int | None) -> dict:
    values = {name: getattr(agreement, name) for name in _FIELDS}
    values["predecessor_id"] = predecessor_id
    return values


def update_grouped(model, changes: list[tuple[int, dict]], *, stamp: bool = True) -> None:
    """Apply per-row changes with one UPDATE per distinct set of new values.

    Most rows of an import change the same way (e.g. ``last_listed_at`` moves
    to the new snapshot), so this is a handful of queries where Django's
    ``bulk_update`` would build one huge CASE expression per field.
    """
    groups: dict[tuple, list[int]] = defaultdict(list)
    for pk, diff in changes:
        groups[tuple(sorted(diff.items()))].append(pk)
    now = timezone.now()
    for items, pks in groups.items():
        values = dict(items)
        if stamp:
            values["updated_at"] = now
        for start in range(0, len(pks), CHUNK):
            model.objects.filter(pk__in=pks[start : start + CHUNK]).update(**values)


def insert_plain(model, objects: list) -> None:
    """INSERT ``objects`` (model instances or plain records with the same attributes) at once.

    For rows whose primary keys nobody reads back (snapshot rows): Django's
    ``bulk_create`` compiles every value through the ORM, which was a third of
    an import's time. Values of plain types (text, numbers, booleans, keys) are
    passed as they are, so they must already have their field's Python type;
    the others (dates, JSON) go through the field. PostgreSQL receives the rows
    with COPY, other databases with one prepared statement run many times.
    """
    if not objects:
        return
    fields = [f for f in model._meta.concrete_fields if f is not model._meta.auto_field]
    for model_field in fields:  # fill auto_now/auto_now_add as save() would
        if getattr(model_field, "auto_now", False) or getattr(model_field, "auto_now_add", False):
            for obj in objects:
                model_field.pre_save(obj, add=True)
    getters = [(f.attname, _db_value(f)) for f in fields]
    params = [
        tuple(
            getattr(obj, name) if convert is None else convert(getattr(obj, name))
            for name, convert in getters
        )
        for obj in objects
    ]
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(f.column) for f in fields)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Only model metadata is interpolated; the values are streamed.
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for values in params:
                    copy.write_row(values)
            return
        # Only model metadata is interpolated; every value is a parameter.
        sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"  # noqa: S608
        cursor.executemany(sql, params)


# Fields whose Python values the database drivers take as they are.
_PLAIN_FIELDS = (models.CharField, models.TextField, models.BooleanField, models.IntegerField)


def _db_value(model_field):
    """None when the field's value can be sent as it is, else its converter."""
    target = model_field.target_field if model_field.is_relation else model_field
    if isinstance(target, _PLAIN_FIELDS):  # also keys: their targets are integers
        return None
    return lambda value: model_field.get_db_prep_save(value, connection)


class _Reconciler:
    """Matches computed groups to agreements in the database, creating the missing."""

    def __init__(self, timeline: Timeline, result: RebuildResult) -> None:
        self.timeline = timeline
        self.result = result
        self.claimed: set[int] = set()
        self.to_create: list[tuple[Group, Agreement]] = []
        self.merges: list[tuple[Agreement, Agreement]] = []
        self.dropped: set[int] = set()
        self.lineages: list[list[Group]] = []

    def claim(self, groups: list[Group], existing: list[Agreement]) -> None:
        by_id = {a.pk: a for a in existing}
        for group in groups:
            referenced = {r.agreement_id for r in group.rows if r.agreement_id in by_id}
            referenced |= {a.pk for a in existing if a.signed_on and a.signed_on in group.dates}
            referenced -= self.claimed
            if referenced:
                survivor = by_id[min(referenced)]
                for pk in sorted(referenced - {survivor.pk}):
                    self.merges.append((survivor, by_id[pk]))
                    self.dropped.add(pk)
                self.claimed |= referenced
                group.agreement = survivor
            else:
                agency_id, model = group.rows[0].agency_id, group.rows[0].model
                group.agreement = Agreement(agency_id=agency_id, model=model)
                self.to_create.append((group, group.agreement))
        self.lineages.append(groups)

    def save(self) -> None:
        from agreements.services.agencies import _combine_agreements

        for keep, drop in self.merges:
            # Rare: two records turned out to be one agreement (a date correction
            # seen only once the snapshot between them was imported).
            _combine_agreements(keep=keep, drop=drop)
        existing = [g.agreement for groups in self.lineages for g in groups if g.agreement.pk]
        before = {a.pk: _values(a, a.predecessor_id) for a in existing}
        predecessor: dict[int, Agreement | None] = {}
        for groups in self.lineages:
            previous = None
            for group in groups:
                if previous is None and group.switched_from is not None:
                    previous = group.switched_from.agreement
                self._fill(group)
                predecessor[id(group.agreement)] = previous
                previous = group.agreement
        # Dates move between agreements when a correction is found: clear the
        # moving ones first so the (agency, model, signed) constraint never clashes.
        moving = [a.pk for a in existing if before[a.pk]["signed_on"] != a.signed_on]
        if moving:
            Agreement.objects.filter(pk__in=moving).update(signed_on=None)
        created = [a for _, a in self.to_create]
        Agreement.objects.bulk_create(created, batch_size=500)
        self.result.agreements_new += len(created)
        changes = []
        for agreement in created:
            if predecessor[id(agreement)] is not None:
                changes.append((agreement.pk, {"predecessor_id": predecessor[id(agreement)].pk}))
        for agreement in existing:
            previous = predecessor[id(agreement)]
            after = _values(agreement, previous.pk if previous else None)
            diff = {k: v for k, v in after.items() if before[agreement.pk][k] != v}
            if set(diff) - {"first_listed_at", "last_listed_at"}:
                self.result.agreements_changed += 1
            if diff:
                changes.append((agreement.pk, diff))
        update_grouped(Agreement, changes)

    def _fill(self, group: Group) -> None:
        timeline = self.timeline
        agreement = group.agreement
        agreement.signed_on = group.signed_on
        ordered = group.rows  # already in timeline order
        participating = [r for r in ordered if timeline.kind[r.snapshot_id] == PARTICIPATING]
        undated = [r.signed_raw for r in participating if not r.signed_on and r.signed_raw]
        agreement.signed_raw = "" if group.signed_on else (undated[-1] if undated else "")
        for name in LINK_FIELDS:
            values = [getattr(r, name) for r in participating if getattr(r, name)]
            setattr(agreement, name, values[-1] if values else getattr(agreement, name) or "")
        times = [timeline.time[r.snapshot_id] for r in ordered]
        agreement.first_listed_at, agreement.last_listed_at = min(times), max(times)
        agreement.status = _status(group, timeline, participating)
        agreement.ending_in_question = (
            agreement.status == Agreement.Status.ENDED and _renamed_to(group, timeline) is not None
        )


def _status(group: Group, timeline: Timeline, participating: list[Row]) -> str:
    snapshots = {r.snapshot_id for r in group.rows}
    if participating:
        listed = timeline.latest(PARTICIPATING) in snapshots
        return Agreement.Status.ACTIVE if listed else Agreement.Status.ENDED
    listed = timeline.latest(PENDING) in snapshots
    return Agreement.Status.PENDING if listed else Agreement.Status.ENDED


def _assign_rows(groups_by_lineage: dict, new_rows: Iterable[NewRow]) -> None:
    """Point each row at its agreement: saved rows by bulk update, new ones at creation."""
    changed = []
    for groups in groups_by_lineage.values():
        for group in groups:
            agreement_id = group.agreement.pk
            for row in group.rows:
                if row.obj is not None:
                    row.obj.agreement_id = agreement_id
                elif row.agreement_id != agreement_id:
                    changed.append((row.id, {"agreement_id": agreement_id}))
                row.agreement_id = agreement_id
    update_grouped(SnapshotRow, changed, stamp=False)
    insert_plain(SnapshotRow, list(new_rows))


def _update_agencies(agency_ids: list[int], rows: list[Row], timeline: Timeline) -> None:
    """Keep each agency's type and county as ICE wrote them most recently."""
    latest: dict[int, dict[str, str]] = {}
    for row in sorted(rows, key=timeline.key):
        agency_values(latest.setdefault(row.agency_id, {}), row)
    changed = []
    fields = ("id", "agency_type", "county_name", "county_fips")
    for chunk in _chunks(agency_ids):
        for pk, *current in Agency.objects.filter(pk__in=chunk).values_list(*fields):
            values = latest.get(pk, {})
            diff = {
                k: v
                for k, v in values.items()
                if dict(zip(fields[1:], current, strict=True))[k] != v
            }
            if diff:
                changed.append((pk, diff))
    update_grouped(Agency, changed)


def agency_values(values: dict[str, str], row: Row | NewRow) -> None:
    """Fold one row (in time order) into an agency's latest type and county."""
    if row.agency_type:
        values["agency_type"] = row.agency_type
    if row.county_name:
        values["county_name"], values["county_fips"] = row.county_name, row.county_fips


# --- Events -----------------------------------------------------------------

EventKey = tuple[int, str, int, str]  # agreement, kind, snapshot, field


def _sync_events(agency_ids: list[int], groups_by_lineage: dict, timeline: Timeline) -> int:
    """Make the stored events of these agencies equal to the derived ones."""
    wanted: dict[EventKey, tuple] = {}
    for groups in groups_by_lineage.values():
        for group in groups:
            for event in derive_events(group, timeline):
                wanted[event[:4]] = event[4:]
    have: dict[EventKey, tuple] = {}
    stale: list[int] = []
    for chunk in _chunks(agency_ids):
        events = AgreementEvent.objects.filter(
            Q(agency_id__in=chunk) | Q(agreement__agency_id__in=chunk)
        ).values_list(
            "id",
            "agreement_id",
            "kind",
            "snapshot_id",
            "field",
            "previous_snapshot_id",
            "old_value",
            "new_value",
        )
        for pk, agreement_id, kind, snapshot_id, name, previous, old, new in events:
            key = (agreement_id, kind, snapshot_id, name)
            if key in have or wanted.get(key) != (previous, old, new):
                stale.append(pk)
            else:
                have[key] = (previous, old, new)
    for start in range(0, len(stale), CHUNK):
        AgreementEvent.objects.filter(pk__in=stale[start : start + CHUNK]).delete()
    agency_of = {
        g.agreement.pk: g.agreement.agency_id
        for groups in groups_by_lineage.values()
        for g in groups
    }
    new = [
        event_record(
            agreement_id=key[0],
            agency_id=agency_of[key[0]],
            kind=key[1],
            snapshot_id=key[2],
            field=key[3],
            previous_snapshot_id=value[0],
            old_value=value[1],
            new_value=value[2],
            occurred_at=timeline.time[key[2]],
        )
        for key, value in wanted.items()
        if key not in have
    ]
    insert_plain(AgreementEvent, new)
    return len(wanted)


def event_record(**values) -> SimpleNamespace:
    """An ``AgreementEvent`` to insert with ``insert_plain`` (plain: no model instance)."""
    return SimpleNamespace(
        **{"field": "", "old_value": "", "new_value": "", "previous_snapshot_id": None, **values}
    )


def _text(value: object) -> str:
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def listings(group: Group, timeline: Timeline) -> dict[str, dict[int, Row]]:
    """Kind -> snapshot -> the row that lists the agreement there (a duplicate only if alone)."""
    by_kind: dict[str, dict[int, Row]] = {PARTICIPATING: {}, PENDING: {}}
    for row in group.rows:
        listed = by_kind[timeline.kind[row.snapshot_id]]
        if row.snapshot_id not in listed or listed[row.snapshot_id].is_duplicate:
            listed[row.snapshot_id] = row
    return by_kind


def derive_events(group: Group, timeline: Timeline) -> list[tuple]:
    """(agreement, kind, snapshot, field, previous snapshot, old, new) of one agreement."""
    pk = group.agreement.pk
    by_kind = listings(group, timeline)
    events: list[tuple] = []
    ever_signed = bool(by_kind[PARTICIPATING])
    for kind, listed in by_kind.items():
        if not listed:
            continue
        order = timeline.order[kind]
        start = min(timeline.position[s] for s in listed)
        last: Row | None = None
        known: dict[str, tuple[object, int]] = {}  # field -> (last value, snapshot)
        present = False
        for snapshot_id in order[start:]:
            row = listed.get(snapshot_id)
            if row is None:
                if present and (kind == PARTICIPATING or not ever_signed):
                    events.extend(_ending(group, timeline, kind, snapshot_id, last))
                present = False
                continue
            if last is None:
                events.append(_beginning(group, timeline, kind, snapshot_id))
            elif not present and (kind == PARTICIPATING or not ever_signed):
                events.append((pk, "relisted", snapshot_id, "", last.snapshot_id, "", ""))
            elif kind == PARTICIPATING and _key(last.agency_name) != _key(row.agency_name):
                events.append(
                    (pk, "renamed", snapshot_id, "name", last.snapshot_id, last.agency_name,
                     row.agency_name)
                )  # fmt: skip
            if kind == PARTICIPATING:
                events.extend(_changes(pk, known, row, timeline, first=last is None))
            last, present = row, True
    return events


def _key(name: str) -> str:
    return normalize.name_key(name)


def _beginning(group: Group, timeline: Timeline, kind: str, snapshot_id: int) -> tuple:
    """The first event on a list: signed, or re-signed / model switched when it succeeds another."""
    pk = group.agreement.pk
    if kind != PARTICIPATING:
        return (pk, "pending_listed", snapshot_id, "", None, "", "")
    previous = group.switched_from or group.renews
    if previous is None or not previous.rows:
        return (pk, "signed", snapshot_id, "", None, "", "")
    listed = listings(previous, timeline)[PARTICIPATING]
    before = max(listed, key=timeline.position.__getitem__) if listed else None
    if group.switched_from is not None:
        old_model, new_model = previous.rows[0].model, group.rows[0].model
        return (pk, "model_switched", snapshot_id, "model", before, old_model, new_model)
    old, new = _text(previous.signed_on), _text(group.signed_on)
    return (pk, "resigned", snapshot_id, "signed_on", before, old, new)


def _ending(
    group: Group, timeline: Timeline, kind: str, snapshot_id: int, last: Row
) -> list[tuple]:
    """Dropped from a list: nothing when a successor replaced it, "Name changed?" or ended."""
    pk = group.agreement.pk
    if kind == PARTICIPATING and group.succeeded_at == timeline.position[snapshot_id]:
        return []  # the successor's re-signed / model switched event tells it
    renamed_to = _possible_rename(timeline, last, snapshot_id)
    if kind == PARTICIPATING and renamed_to is not None:
        return [
            (pk, "possible_rename", snapshot_id, "name", last.snapshot_id, last.agency_name,
             renamed_to)
        ]  # fmt: skip
    return [(pk, "delisted", snapshot_id, "", last.snapshot_id, "", "")]


def _possible_rename(timeline: Timeline, last: Row, snapshot_id: int) -> str | None:
    """The name a possible rename gives ``last``'s agency on ``snapshot_id``, the list that dropped it."""
    state = timeline.states.get(last.agency_id, "")
    return timeline.possible.get(
        (state, _key(last.agency_name), last.model, last.signed_on, snapshot_id)
    )


def _renamed_to(group: Group, timeline: Timeline) -> str | None:
    """The possible new name given by the list that last dropped the agreement, if any.

    The same test as ``_ending``'s "Name changed?" event, on the list after the last listing it.
    """
    listed = listings(group, timeline)[PARTICIPATING]
    if not listed:
        return None
    last = listed[max(listed, key=timeline.position.__getitem__)]
    after = timeline.position[last.snapshot_id] + 1
    order = timeline.order[PARTICIPATING]
    if after >= len(order) or group.succeeded_at == after:
        return None
    return _possible_rename(timeline, last, order[after])


def _changes(pk: int, known: dict, row: Row, timeline: Timeline, *, first: bool) -> list[tuple]:
    """Changes of ``row`` against the last values seen; updates ``known``.

    A blank cell is not a change (ICE's COUNTY cells flicker to #N/A), except
    a link left blank in a list that has its column: the link was removed.
    """
    events = []
    for name in (*TRACKED_FIELDS, *LINK_FIELDS):
        after = getattr(row, name)
        link = name in LINK_FIELDS
        if not after and not (link and timeline.has_column(row.snapshot_id, name)):
            continue
        before, previous = known.get(name, ("", None))
        known[name] = (after, row.snapshot_id)
        if first or before == after:
            continue
        events.extend(field_events(pk, name, before, after, row.snapshot_id, previous))
    return events


def field_events(pk, name: str, before, after, snapshot_id: int, previous) -> list[tuple]:
    """The event of one field's change (``before`` is never equal to ``after``)."""
    if name in LINK_FIELDS:
        if not before:
            return [(pk, "moa_posted", snapshot_id, name, previous, "", after)]
        kind = "moa_changed" if after else "moa_removed"
        return [(pk, kind, snapshot_id, name, previous, before, after)]
    if not before:
        return []
    if name == "signed_on":
        return [(pk, "redated", snapshot_id, name, previous, _text(before), _text(after))]
    label = "county" if name == "county_name" else name
    return [(pk, "field_changed", snapshot_id, label, previous, _text(before), _text(after))]


# --- Last seen ----------------------------------------------------------------

LAST_SEEN_FIELDS = (*TRACKED_FIELDS, *LINK_FIELDS)


def _blank(name: str) -> str | None:
    return None if name == "signed_on" else ""


# The columns of AgreementLastSeen, in the order of ``last_seen_values``.
LAST_SEEN_COLUMNS = (
    "snapshot_id",
    *(column for name in LAST_SEEN_FIELDS for column in (name, f"{name}_snapshot_id")),
)
NEVER_SEEN = (None, *(value for name in LAST_SEEN_FIELDS for value in (_blank(name), None)))


def last_seen_values(group: Group, timeline: Timeline) -> tuple:
    """An agreement's ``AgreementLastSeen`` columns, from its rows (``LAST_SEEN_COLUMNS`` order).

    The same reading of the rows as ``derive_events``: the last participating
    snapshot listing it, and each field's last non-blank value and its snapshot.
    """
    listed = listings(group, timeline)[PARTICIPATING]
    if not listed:
        return NEVER_SEEN
    ordered = sorted(listed.values(), key=lambda row: timeline.position[row.snapshot_id])
    values = [ordered[-1].snapshot_id]
    for name in LAST_SEEN_FIELDS:
        seen = [
            row
            for row in ordered
            if getattr(row, name)
            or (name in LINK_FIELDS and timeline.has_column(row.snapshot_id, name))
        ]
        if seen:
            values += [getattr(seen[-1], name), seen[-1].snapshot_id]
        else:
            values += [_blank(name), None]
    return tuple(values)


def _sync_last_seen(
    agency_ids: list[int], groups_by_lineage: dict, timeline: Timeline, kept: list[int]
) -> None:
    """Make the ``AgreementLastSeen`` records of these agencies' agreements equal to their rows.

    Every agreement gets one, also those no row belongs to (never seen), so
    that a missing record always means "not known".
    """
    wanted = dict.fromkeys(kept, NEVER_SEEN)
    for groups in groups_by_lineage.values():
        for group in groups:
            wanted[group.agreement.pk] = last_seen_values(group, timeline)
    stale = []
    for chunk in _chunks(agency_ids):
        found = AgreementLastSeen.objects.filter(agreement__agency_id__in=chunk).values_list(
            "agreement_id", *LAST_SEEN_COLUMNS
        )
        for pk, *values in found:
            if wanted.get(pk) == tuple(values):
                del wanted[pk]
            else:
                stale.append(pk)
    for start in range(0, len(stale), CHUNK):
        AgreementLastSeen.objects.filter(pk__in=stale[start : start + CHUNK]).delete()
    insert_plain(
        AgreementLastSeen,
        [
            SimpleNamespace(agreement_id=pk, **dict(zip(LAST_SEEN_COLUMNS, values, strict=True)))
            for pk, values in wanted.items()
        ],
    )
