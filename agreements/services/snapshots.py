"""Importing one ICE spreadsheet as a ``ListSnapshot``.

``snapshot_import`` is the one way a file enters the database (the command,
the admin upload form and the fetch task all call it). A file is imported in
one transaction: its rows are resolved to agencies (exact key, aliases, then a
conservative fuzzy match within the state), and the agreements and events of
every agency it touches are rebuilt from the full ordered history
(``agreements.services.events``), or, when the file is the newest participating
list, extended from the previous list with the same result
(``agreements.services.appended``). A file already imported (same sha256)
changes nothing.

Publication time, in order of trust: the ``published_at`` argument; the
workbook's own "modified" time (docProps/core.xml, UTC); the date in ICE's file
name (``MMDDYYYY`` + ``am``/``pm``, read as 00:00 or 12:00 US Eastern: the
earliest moment the name allows); the time of import.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from agreements import ice_sheet
from agreements.models import ListSnapshot, SnapshotRow
from agreements.services.appended import snapshot_history_update
from agreements.services.events import NewRow, RebuildResult, agreements_rebuild, insert_plain
from agreements.services.identity import AgencyResolver, identity_recompute, leftovers_delete

EASTERN = zoneinfo.ZoneInfo("America/New_York")
# Metadata further than this from the file name's date is doubted (warning).
DATE_TOLERANCE = dt.timedelta(days=2)
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

    def summary(self) -> str:
        """One line for the command and the admin."""
        snapshot = self.snapshot
        name = snapshot.original_filename or f"snapshot {snapshot.pk}"
        when = timezone.localtime(snapshot.published_at).strftime("%Y-%m-%d %H:%M %Z")
        if not self.created:
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
        held = (
            " HELD: far shorter than the list before, not applied until a curator confirms it."
            if self.held
            else ""
        )
        return (
            f"{name}: {snapshot.kind} list published {when} (from {snapshot.published_at_source}), "
            f"{_count(self.rows, 'row')}, {self.agencies_new} new "
            f"{'agency' if self.agencies_new == 1 else 'agencies'}, "
            f"{self.agreements_new} new and {self.agreements_changed} changed agreements, "
            f"{_count(self.warnings, 'warning')}{review}{share}.{held}"
        )


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

    A participating list with fewer than half the rows of the one before it is
    held (``ListSnapshot.held``): saved with a warning but not applied, so a
    truncated list cannot end every agreement, until a curator applies it
    (``snapshot_release``) or ``accept_shrink`` says it is right. Importing a
    held file again with ``accept_shrink`` applies it.
    """
    if kind and kind not in ListSnapshot.Kind.values:
        raise SnapshotImportError(
            f"Kind {kind!r} is not one of {', '.join(ListSnapshot.Kind.values)}."
        )
    if published_at is not None:
        _check_published_at(published_at)
    filename = Path(filename or getattr(file, "name", "") or "ice-list.xlsx").name
    try:
        data = ice_sheet.read_bytes(file)
    except ice_sheet.IceSheetError as exc:
        raise SnapshotImportError(str(exc)) from exc
    sha256 = ice_sheet.sha256_of(data)
    existing = ListSnapshot.objects.filter(sha256=sha256).first()
    if existing is not None:
        if existing.held and accept_shrink:
            snapshot_release(existing, user=imported_by)
            existing.refresh_from_db()
        return _already(existing)
    try:
        sheet = ice_sheet.read_ice_sheet(data, filename=filename)
    except ice_sheet.IceSheetError as exc:
        raise SnapshotImportError(str(exc)) from exc
    warnings = [w.as_dict() for w in sheet.warnings]
    snapshot = ListSnapshot(
        kind=_kind(sheet, kind, filename, warnings),
        sha256=sha256,
        original_filename=filename[:255],
        source_url=source_url,
        sheet_name=sheet.sheet_name[:100],
        header=sheet.header,
        row_count=len(sheet.rows),
        imported_by=imported_by,
    )
    snapshot.published_at, snapshot.published_at_source = _published_at(
        published_at, sheet, filename, warnings
    )
    _county_share_warning(sheet, warnings)
    try:
        with transaction.atomic():
            snapshot.file.save(filename, ContentFile(data), save=False)
            result = _import(snapshot, sheet, warnings, accept_shrink=accept_shrink)
    except IntegrityError:
        if snapshot.file:
            snapshot.file.delete(save=False)
        existing = ListSnapshot.objects.filter(sha256=sha256).first()
        if existing is not None:  # imported meanwhile by another process
            return _already(existing)
        raise
    except BaseException:
        if snapshot.file:
            snapshot.file.delete(save=False)
        raise
    result.county_fips_share = sheet.county_match_share
    return result


def _already(snapshot: ListSnapshot) -> ImportResult:
    return ImportResult(
        snapshot=snapshot,
        created=False,
        rows=snapshot.row_count,
        warnings=len(snapshot.warnings),
        held=snapshot.held,
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
        rows = SnapshotRow.objects.filter(snapshot=snapshot, agency__isnull=False)
        identity = identity_recompute(states=set(rows.values_list("state", flat=True)))
        agencies = set(rows.values_list("agency_id", flat=True)) | identity.agencies
        rebuilt = agreements_rebuild(agency_ids=agencies | _neighbour_agencies(snapshot))
        leftovers_delete(agency_ids=identity.agencies)
        return rebuilt


def _shrink_warning(snapshot: ListSnapshot) -> dict | None:
    """A warning if ``snapshot`` is a participating list under half as long as the one before."""
    if snapshot.kind != ListSnapshot.Kind.PARTICIPATING:
        return None
    before = (
        ListSnapshot.objects.filter(
            kind=snapshot.kind, held=False, published_at__lt=snapshot.published_at
        )
        .order_by("-published_at")
        .only("row_count", "published_at")
        .first()
    )
    if before is None or snapshot.row_count * 2 >= before.row_count:
        return None
    return _warning(
        "list_shrank",
        f"This list has {snapshot.row_count:,} rows, fewer than half the {before.row_count:,} of "
        f"the list published {before.published_at:%Y-%m-%d %H:%M} UTC: it may be truncated. It is "
        "kept but held: no agreement is ended and no event recorded until a curator applies it "
        "(admin action, or import it again with --accept-shrink).",
    )


def _import(
    snapshot: ListSnapshot, sheet: ice_sheet.IceSheet, warnings: list, *, accept_shrink: bool
) -> ImportResult:
    resolver = AgencyResolver(states={row.state for row in sheet.rows if row.state})
    agency_ids = resolver.resolve(sheet.rows, warnings)
    shrank = None if accept_shrink else _shrink_warning(snapshot)
    if shrank is not None:
        warnings.insert(0, shrank)
        snapshot.held = True
    snapshot.warnings = cap_warnings(warnings)
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
            warnings=len(warnings),
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
    same = ListSnapshot.objects.filter(kind=snapshot.kind, held=False).exclude(pk=snapshot.pk)
    key = (snapshot.published_at, snapshot.sha256)
    before = (
        same.filter(published_at__lte=key[0])
        .exclude(published_at=key[0], sha256__gt=key[1])
        .order_by("-published_at", "-sha256")
        .first()
    )
    after = (
        same.filter(published_at__gte=key[0])
        .exclude(published_at=key[0], sha256__lt=key[1])
        .order_by("published_at", "sha256")
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


# --- Kind and publication time ----------------------------------------------

_NAME_DATE = re.compile(r"(?<!\d)(\d{2})(\d{2})(\d{4})\s*(am|pm)?", re.IGNORECASE)


def kind_from_filename(filename: str) -> str | None:
    """What the file name claims: "participating", "pending" or None."""
    name = filename.lower()
    if "pending" in name:
        return ListSnapshot.Kind.PENDING
    if "participat" in name:
        return ListSnapshot.Kind.PARTICIPATING
    return None


def time_from_filename(filename: str) -> dt.datetime | None:
    """ICE's MMDDYYYY[am|pm] as 00:00 / 12:00 US Eastern, or None."""
    for match in _NAME_DATE.finditer(filename):
        month, day, year, half = match.groups()
        try:
            when = dt.datetime(
                int(year), int(month), int(day), 12 if (half or "").lower() == "pm" else 0
            )
        except ValueError:
            continue
        return when.replace(tzinfo=EASTERN)
    return None


def _warning(code: str, message: str, value: str = "") -> dict:
    return {"row": None, "column": "", "value": value, "message": message, "code": code}


def _kind(sheet: ice_sheet.IceSheet, kind: str | None, filename: str, warnings: list) -> str:
    named = kind_from_filename(filename)
    if named and named != sheet.kind:
        warnings.append(
            _warning(
                "filename_kind",
                f"The file name says {named} but the header is the {sheet.kind} list "
                f"({'with' if sheet.kind == 'participating' else 'without'} SIGNED); "
                f"imported as {kind or sheet.kind}.",
                filename,
            )
        )
    if kind and kind != sheet.kind:
        warnings.append(
            _warning(
                "kind_overridden",
                f"Imported as {kind} as asked, although the header looks like the {sheet.kind} list.",
            )
        )
    return kind or sheet.kind


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


def _published_at(
    given: dt.datetime | None, sheet: ice_sheet.IceSheet, filename: str, warnings: list
) -> tuple[dt.datetime, str]:
    sources = ListSnapshot.PublishedAtSource
    named = time_from_filename(filename)
    metadata = sheet.modified_at
    now = timezone.now()
    if metadata and not (
        dt.datetime(2000, 1, 1, tzinfo=dt.UTC) < metadata <= now + dt.timedelta(days=1)
    ):
        warnings.append(
            _warning(
                "metadata_time",
                f"The workbook's modified time {metadata:%Y-%m-%d} is impossible; ignored.",
            )
        )
        metadata = None
    if named and metadata and abs(named - metadata) > DATE_TOLERANCE + dt.timedelta(hours=12):
        warnings.append(
            _warning(
                "filename_date",
                f"The file name says {named:%Y-%m-%d} but the workbook was last saved "
                f"{metadata:%Y-%m-%d %H:%M} UTC; the workbook's time is used.",
                filename,
            )
        )
    if given is not None:
        if timezone.is_naive(given):
            given = timezone.make_aware(given)
        return given, sources.ARGUMENT
    if metadata:
        return metadata, sources.METADATA
    if named:
        return named, sources.FILENAME
    return now, sources.FETCHED


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
