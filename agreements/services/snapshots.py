"""Importing one ICE spreadsheet as a ``ListSnapshot``.

``snapshot_import`` is the one way a file enters the database (the command,
the admin upload form and the fetch task all call it). A file is imported in
one transaction: its rows are resolved to agencies by exact name key or alias,
the spellings of the states it touches are regrouped from all the evidence
(``agreements.services.identity``: curators' rules, renames, typos), and the
agreements and events of every agency it touches are rebuilt from the full ordered history
(``agreements.services.events``), or, when the file is the newest participating
list, extended from the previous list with the same result
(``agreements.services.appended``). A file already imported (same sha256)
changes nothing.

The publication time is weighed from every clue in the file and its content
(``agreements.services.dating``). ``snapshots_import`` imports many files:
it reads and dates them all first, then imports them oldest first, each in
its own transaction.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from agreements import ice_sheet
from agreements.models import HELD, ListSnapshot, SnapshotRow
from agreements.services import dating
from agreements.services.appended import snapshot_history_update
from agreements.services.dating import file_warning as _warning
from agreements.services.events import NewRow, RebuildResult, agreements_rebuild, insert_plain
from agreements.services.identity import AgencyResolver, identity_recompute, leftovers_delete
from agreements.signals import announce_snapshot_applied

WARNINGS_PER_CODE = 1000


class SnapshotImportError(Exception):
    """A file was refused; the message says what is wrong, and nothing was saved."""


@dataclass
class ImportResult:
    """What one import did."""

    snapshot: ListSnapshot
    created: bool
    rows: int = 0
    agencies_new: int = 0
    agreements_new: int = 0
    agreements_changed: int = 0
    warnings: int = 0
    needs_review: int = 0
    county_fips_share: float | None = None
    held: bool = False
    dating_reason: str = ""
    name_added: str = ""  # a new name for a file already imported

    def summary(self) -> str:
        """One line for the command and the admin."""
        snapshot = self.snapshot
        name = snapshot.original_filename or f"snapshot {snapshot.pk}"
        when = timezone.localtime(snapshot.published_at).strftime("%Y-%m-%d %H:%M %Z")
        if not self.created:
            if self.name_added:
                return (
                    f"{self.name_added}: the same bytes as {name}, already imported as snapshot "
                    f"{snapshot.pk} ({snapshot.kind}, {when}); the name {self.name_added} is "
                    "recorded on it, nothing else changed."
                )
            return f"{name}: already imported as snapshot {snapshot.pk} ({snapshot.kind}, {when}); nothing changed."
        share = (
            f", county FIPS matched {_percent(self.county_fips_share)}"
            if self.county_fips_share is not None
            else ""
        )
        review = (
            f", {_count(self.needs_review, 'agency', 'agencies')} to review"
            if self.needs_review
            else ""
        )
        held = f" HELD: {_hold_reasons(snapshot)}" if self.held else ""
        origin = (
            " parsed from a capture of ICE's page"
            if snapshot.provenance == ListSnapshot.Provenance.CAPTURE
            else ""
        )
        why = f" {self.dating_reason}" if self.dating_reason not in ("", dating.GIVEN) else ""
        return (
            f"{name}: {snapshot.kind} list{origin} published {when} "
            f"(from {snapshot.get_published_at_source_display().lower()}).{why} "
            f"{_count(self.rows, 'row')}, {self.agencies_new} new "
            f"{'agency' if self.agencies_new == 1 else 'agencies'}, "
            f"{self.agreements_new} new and {self.agreements_changed} changed agreements, "
            f"{_count(self.warnings, 'warning')}{review}{share}.{held}"
        )


@dataclass
class BatchEntry:
    """One file of a batch: its result, or the sentence that refused it."""

    filename: str
    result: ImportResult | None = None
    error: str = ""

    def summary(self) -> str:
        return self.result.summary() if self.result else f"{self.filename}: refused. {self.error}"


@dataclass
class _Prepared:
    """A file read and dated, not yet saved."""

    filename: str
    data: bytes
    sha256: str
    sheet: ice_sheet.IceSheet | None = None  # None when these bytes were already imported
    dated: dating.Dating | None = None
    warnings: list = field(default_factory=list)

    def order(self, existing: dict[str, ListSnapshot]) -> tuple:
        """Publication order: the time chosen, or the one already recorded, then sha256."""
        if self.dated is not None:
            return (self.dated.published_at, self.sha256)
        known = existing.get(self.sha256)  # gone only if deleted since it was read
        return (known.published_at if known else timezone.now(), self.sha256)


def _hold_reasons(snapshot: ListSnapshot) -> str:
    """Every reason a list is held, then once what holding means."""
    return " ".join([*snapshot.held_reasons, HELD])


def _count(n: int, word: str, plural: str = "") -> str:
    """``1 row``, ``2 rows``."""
    return f"{n:,} {word if n == 1 else plural or word + 's'}"


def _percent(share: float) -> str:
    """A share in percent that never rounds a partial match up to 100% or down to 0%."""
    if 0.99 < share < 1:
        return f"{share:.1%}" if share < 0.9995 else "99.9%"
    if 0 < share < 0.01:
        return "under 1%"
    return f"{share:.0%}"


def snapshot_import(
    *,
    file: Path | BinaryIO,
    filename: str,
    published_at: dt.datetime | None = None,
    kind: str | None = None,
    source_url: str = "",
    imported_by=None,
    accept_shrink: bool = False,
) -> ImportResult:
    """Import one ICE list file; refuse it with SnapshotImportError if it is not one.

    A participating list is held (``ListSnapshot.held``: saved with a warning
    but not applied, so it cannot end agreements) when it has fewer than half
    the rows of the one before, when no row matches a known agency, or when
    the clues to its publication time contradict each other; a curator
    applies it (``snapshot_release``). ``accept_shrink`` applies a short or
    all-new list at once, and applies a held file imported again.
    """
    _check_arguments(kind, published_at)
    prepared = _prepare(file=file, filename=filename, published_at=published_at)
    return _save(
        prepared,
        kind=kind,
        source_url=source_url,
        imported_by=imported_by,
        accept_shrink=accept_shrink,
        given=published_at is not None,
    )


def snapshots_import(
    *,
    files: Iterable[Path | tuple[str, bytes]],
    published_at: dt.datetime | None = None,
    kind: str | None = None,
    imported_by=None,
    accept_shrink: bool = False,
) -> list[BatchEntry]:
    """Import many files, in any order given: all are read and dated, then imported oldest first.

    Each file is imported in its own transaction, so a file refused (its
    sentence in ``BatchEntry.error``) neither stops nor undoes the others.
    Entries come in the order the files were imported, refusals while
    reading first.
    """
    _check_arguments(kind, published_at)
    entries: list[BatchEntry] = []
    prepared: list[_Prepared] = []
    for item in files:
        name, source = (item.name, item) if isinstance(item, Path) else item
        try:
            prepared.append(_prepare(file=source, filename=name, published_at=published_at))
        except OSError as exc:
            entries.append(
                BatchEntry(name, error=f"It could not be opened ({exc.strerror or exc}).")
            )
        except SnapshotImportError as exc:
            entries.append(BatchEntry(name, error=str(exc)))
    existing = {
        s.sha256: s for s in ListSnapshot.objects.filter(sha256__in={p.sha256 for p in prepared})
    }
    for item in sorted(prepared, key=lambda p: p.order(existing)):
        try:
            result = _save(
                item,
                kind=kind,
                source_url="",
                imported_by=imported_by,
                accept_shrink=accept_shrink,
                given=published_at is not None,
            )
        except SnapshotImportError as exc:
            entries.append(BatchEntry(item.filename, error=str(exc)))
        else:
            entries.append(BatchEntry(item.filename, result=result))
    return entries


def _check_arguments(kind: str | None, published_at: dt.datetime | None) -> None:
    if kind and kind not in ListSnapshot.Kind.values:
        raise SnapshotImportError(
            f"Kind {kind!r} is not one of {', '.join(ListSnapshot.Kind.values)}."
        )
    if published_at is not None:
        _check_published_at(published_at)


def _prepare(
    *, file: Path | BinaryIO | bytes, filename: str, published_at: dt.datetime | None
) -> _Prepared:
    """Read, parse and date a file, touching no data (nothing parsed if already imported)."""
    filename = Path(filename or getattr(file, "name", "") or "ice-list.xlsx").name
    try:
        data = ice_sheet.read_bytes(file)
    except ice_sheet.IceSheetError as exc:
        raise SnapshotImportError(str(exc)) from exc
    prepared = _Prepared(filename=filename, data=data, sha256=ice_sheet.sha256_of(data))
    if ListSnapshot.objects.filter(sha256=prepared.sha256).exists():
        return prepared
    try:
        prepared.sheet = ice_sheet.read_ice_sheet(data, filename=filename)
    except ice_sheet.IceSheetError as exc:
        raise SnapshotImportError(str(exc)) from exc
    if published_at is not None and timezone.is_naive(published_at):
        published_at = timezone.make_aware(published_at)
    prepared.warnings = [w.as_dict() for w in prepared.sheet.warnings]
    prepared.dated = dating.weigh(
        sheet=prepared.sheet, filename=filename, given=published_at, now=timezone.now()
    )
    return prepared


def _save(
    prepared: _Prepared,
    *,
    kind: str | None,
    source_url: str,
    imported_by,
    accept_shrink: bool,
    given: bool,
) -> ImportResult:
    existing = ListSnapshot.objects.filter(sha256=prepared.sha256).first()
    if existing is not None:
        if existing.held and accept_shrink:
            snapshot_release(existing, user=imported_by)
            existing.refresh_from_db()
        return _already(existing, prepared.filename)
    if prepared.sheet is None:  # imported when read, then deleted meanwhile
        prepared = _prepare(file=prepared.data, filename=prepared.filename, published_at=None)
    sheet, dated, filename = prepared.sheet, prepared.dated, prepared.filename
    warnings = list(prepared.warnings)
    snapshot = ListSnapshot(
        kind=dating.list_kind(sheet, kind, filename, warnings),
        sha256=prepared.sha256,
        original_filename=filename[:255],
        filenames=[filename],
        source_url=source_url,
        sheet_name=sheet.sheet_name[:100],
        header=sheet.header,
        row_count=len(sheet.rows),
        imported_by=imported_by,
        published_at=dated.published_at,
        published_at_source=dated.source,
        published_at_evidence=dated.as_list(),
        provenance=dated.provenance,
    )
    _county_share_warning(sheet, warnings)
    try:
        with transaction.atomic():
            snapshot.file.save(filename, ContentFile(prepared.data), save=False)
            result = _import(
                snapshot, sheet, warnings, dated, accept_shrink=accept_shrink, given=given
            )
            if not result.held:
                announce_snapshot_applied(snapshot.pk)
    except IntegrityError:
        if snapshot.file:
            snapshot.file.delete(save=False)
        existing = ListSnapshot.objects.filter(sha256=prepared.sha256).first()
        if existing is not None:  # imported meanwhile by another process
            return _already(existing, filename)
        raise
    except BaseException:
        if snapshot.file:
            snapshot.file.delete(save=False)
        raise
    result.county_fips_share = sheet.county_match_share
    result.dating_reason = dated.reason
    return result


def _already(snapshot: ListSnapshot, filename: str) -> ImportResult:
    """The result for bytes already imported; a new name for them is recorded."""
    names = snapshot.filenames or [snapshot.original_filename]
    added = ""
    if filename and filename not in names:
        snapshot.filenames = [*names, filename[:255]]
        snapshot.save(update_fields=["filenames"])
        added = filename
    return ImportResult(
        snapshot=snapshot,
        created=False,
        rows=snapshot.row_count,
        warnings=len(snapshot.warnings),
        held=snapshot.held,
        name_added=added,
    )


def snapshot_release(snapshot: ListSnapshot, user=None) -> RebuildResult:
    """Apply a held list to the history, as a curator confirmed it is right.

    Its agreements and events (and those of the lists around it) are rebuilt
    exactly as if it had been imported unheld.
    """
    with transaction.atomic():
        snapshot = ListSnapshot.objects.select_for_update().get(pk=snapshot.pk)
        if not snapshot.held:
            return RebuildResult()
        snapshot.held = False
        snapshot.warnings = [
            *snapshot.warnings,
            _warning("shrink_accepted", f"Applied to the history by {user or 'a curator'}."),
        ]
        snapshot.save(update_fields=["held", "warnings"])
        _agencies_resolve(snapshot)
        rows = SnapshotRow.objects.filter(snapshot=snapshot, agency__isnull=False)
        identity = identity_recompute(states=set(rows.values_list("state", flat=True)))
        agencies = set(rows.values_list("agency_id", flat=True)) | identity.agencies
        rebuilt = agreements_rebuild(agency_ids=agencies | _neighbour_agencies(snapshot))
        leftovers_delete(agency_ids=identity.agencies)
        announce_snapshot_applied(snapshot.pk)
        return rebuilt


def _agencies_resolve(snapshot: ListSnapshot) -> None:
    """Give the rows of a list just applied the agencies that a held list does not create."""
    if not SnapshotRow.objects.filter(snapshot=snapshot, agency__isnull=True).exists():
        return
    with snapshot.file.open("rb") as handle:
        sheet = ice_sheet.read_ice_sheet(handle.read(), filename=snapshot.original_filename)
    resolver = AgencyResolver(states={row.state for row in sheet.rows if row.state})
    agency_ids = resolver.resolve(sheet.rows, [])
    numbers: dict[int, list[int]] = defaultdict(list)
    for number, agency_id in agency_ids.items():
        numbers[agency_id].append(number)
    unresolved = SnapshotRow.objects.filter(snapshot=snapshot, agency__isnull=True)
    for agency_id, rows in numbers.items():
        unresolved.filter(row_number__in=rows).update(agency_id=agency_id)


def _shrink_warning(snapshot: ListSnapshot) -> dict | None:
    """A warning if ``snapshot`` is a participating list under half as long as the one before."""
    if snapshot.kind != ListSnapshot.Kind.PARTICIPATING:
        return None
    before = (
        ListSnapshot.objects.applied()
        .filter(kind=snapshot.kind, published_at__lt=snapshot.published_at)
        .newest_first()
        .only("row_count", "published_at")
        .first()
    )
    if before is None or snapshot.row_count * 2 >= before.row_count:
        return None
    return _warning(
        "list_shrank",
        f"This list has {snapshot.row_count:,} rows, fewer than half the {before.row_count:,} of "
        f"the list published {before.published_at:%Y-%m-%d %H:%M} UTC: it may be truncated. {HELD}",
    )


def _hold_warnings(
    snapshot: ListSnapshot, dated: dating.Dating, *, accept_shrink: bool, given: bool
) -> list[dict]:
    """Why the list must wait for a curator: a doubtful date, a stale or a short list."""
    holds = []
    if dated.doubt:
        holds.append(_warning("publication_doubt", f"{dated.doubt} {HELD}"))
    if not given:
        holds.extend(_present(_stale_warning(snapshot, dated.latest_signed)))
    if not accept_shrink:
        holds.extend(_present(_shrink_warning(snapshot)))
    return holds


def _stale_warning(snapshot: ListSnapshot, latest: dt.date | None) -> dict | None:
    """A warning if a participating list is dated long after its latest signing while the
    list before it already holds later signings: it is probably older than its date."""
    if snapshot.kind != ListSnapshot.Kind.PARTICIPATING or latest is None:
        return None
    if snapshot.published_at - dating.day_start(latest) <= dating.STALE_AFTER:
        return None
    before = (
        ListSnapshot.objects.applied()
        .filter(kind=snapshot.kind, published_at__lt=snapshot.published_at)
        .newest_first()
        .first()
    )
    if before is None:
        return None
    later = SnapshotRow.objects.filter(snapshot=before, signed_on__gt=latest).count()
    if later < dating.STALE_MIN_LATER_SIGNINGS:
        return None
    return _warning(
        "list_stale",
        f"This list is dated {snapshot.published_at:%Y-%m-%d} but nothing in it was signed after "
        f"{latest.isoformat()}, while the list published {before.published_at:%Y-%m-%d} already "
        f"holds {later:,} agreements signed after that: it is probably older than its date. {HELD}",
    )


def _all_new_warning(snapshot: ListSnapshot, all_unknown: bool) -> dict | None:
    """A warning if no row of a participating list matched an agency of the lists already kept."""
    if snapshot.kind != ListSnapshot.Kind.PARTICIPATING or not all_unknown:
        return None
    if not ListSnapshot.objects.applied().filter(kind=snapshot.kind).exists():
        return None
    return _warning(
        "list_all_new",
        "No row of this list matches an agency of the lists already imported: ICE may have "
        f"changed its format or its names wholesale. {HELD}",
    )


def _present(warning: dict | None) -> list[dict]:
    return [warning] if warning is not None else []


def _import(
    snapshot: ListSnapshot,
    sheet: ice_sheet.IceSheet,
    warnings: list,
    dated: dating.Dating,
    *,
    accept_shrink: bool,
    given: bool,
) -> ImportResult:
    holds = _hold_warnings(snapshot, dated, accept_shrink=accept_shrink, given=given)
    resolver = AgencyResolver(states={row.state for row in sheet.rows if row.state})
    if not accept_shrink:
        holds.extend(_present(_all_new_warning(snapshot, resolver.all_unknown(sheet.rows))))
    snapshot.held = bool(holds)
    agency_ids = resolver.resolve(sheet.rows, warnings, create=not snapshot.held)
    snapshot.warnings = cap_warnings([*holds, *warnings])
    snapshot.save()
    rows = [
        NewRow(
            snapshot_id=snapshot.pk,
            row_number=row.number,
            raw=row.raw,
            state=row.state,
            agency_name=row.agency_name,
            model=row.model,
            signed_on=row.signed_on,
            signed_raw=row.signed_raw,
            agency_type=row.agency_type,
            county_name=row.county,
            county_fips=row.county_fips,
            moa_url=row.moa_url,
            addendum_url=row.addendum_url,
            moa_source_url=row.moa_source_url,
            addendum_source_url=row.addendum_source_url,
            agency_id=agency_ids.get(row.number),
            is_duplicate=row.duplicate_of is not None,
        )
        for row in sheet.rows
    ]
    if snapshot.held:
        insert_plain(SnapshotRow, rows)  # kept, but assigned to agreements only once applied
        return ImportResult(
            snapshot=snapshot,
            created=True,
            rows=len(rows),
            agencies_new=len(resolver.created_ids),
            warnings=len(snapshot.warnings),
            held=True,
        )
    identity = identity_recompute(
        states={row.state for row in rows if row.state}, new_rows=rows, snapshot=snapshot
    )
    affected = {r.agency_id for r in rows if r.agency_id} | _neighbour_agencies(snapshot)
    rebuilt = snapshot_history_update(
        snapshot=snapshot, new_rows=rows, agency_ids=affected | identity.agencies,
        structural=identity.agencies,
    )  # fmt: skip
    leftovers_delete(agency_ids=identity.agencies)
    return ImportResult(
        snapshot=snapshot,
        created=True,
        rows=len(rows),
        agencies_new=len(resolver.created_ids - set(identity.moved)),
        agreements_new=rebuilt.agreements_new,
        agreements_changed=rebuilt.agreements_changed,
        warnings=len(warnings),
        needs_review=identity.needs_review,
    )


def _neighbour_agencies(snapshot: ListSnapshot) -> set[int]:
    """Agencies on the snapshots just before and after this one (same kind).

    Their agreements may now be delisted or relisted by the new file.
    """
    same = ListSnapshot.objects.applied().filter(kind=snapshot.kind).exclude(pk=snapshot.pk)
    key = (snapshot.published_at, snapshot.sha256)
    before = (
        same.filter(published_at__lte=key[0])
        .exclude(published_at=key[0], sha256__gt=key[1])
        .newest_first()
        .first()
    )
    after = (
        same.filter(published_at__gte=key[0])
        .exclude(published_at=key[0], sha256__lt=key[1])
        .chronological()
        .first()
    )
    neighbours = [s.pk for s in (before, after) if s is not None]
    return set(
        SnapshotRow.objects.filter(snapshot_id__in=neighbours, agency__isnull=False)
        .values_list("agency_id", flat=True)
        .distinct()
    )


def cap_warnings(warnings: list[dict], per_code: int = WARNINGS_PER_CODE) -> list[dict]:
    """The warnings to store: the first ``per_code`` of each kind, then one line saying how many more.

    A hostile or broken file could otherwise store a warning for every cell.
    """
    kept, extra = [], Counter()
    seen: Counter[str] = Counter()
    for warning in warnings:
        seen[warning["code"]] += 1
        if seen[warning["code"]] <= per_code:
            kept.append(warning)
        else:
            extra[warning["code"]] += 1
    for code, count in sorted(extra.items()):
        kept.append(
            _warning("warnings_omitted", f"{count} more {code} warnings like the ones above.", code)
        )
    return kept


# --- Publication time ----------------------------------------------------


def _check_published_at(given: dt.datetime) -> None:
    """Refuse a publication time no ICE list can have: before 2000 or in the future."""
    if timezone.is_naive(given):
        given = timezone.make_aware(given)
    if given > timezone.now() + dt.timedelta(days=1):
        raise SnapshotImportError(
            f"The publication time {given:%Y-%m-%d %H:%M} is in the future; "
            "give the time ICE published the list, or leave it out to read it from the file."
        )
    if given < dt.datetime(2000, 1, 1, tzinfo=dt.UTC):
        raise SnapshotImportError(
            f"The publication time {given:%Y-%m-%d} is before 2000, earlier than any ICE 287(g) "
            "list; check the date."
        )


def _county_share_warning(sheet: ice_sheet.IceSheet, warnings: list) -> None:
    share = sheet.county_match_share
    if share is not None and share < 1:
        warnings.append(
            _warning(
                "county_fips_share",
                f"{sheet.county_matched} of {sheet.county_rows} counties ({share:.1%}) "
                "were matched to a FIPS code.",
            )
        )
