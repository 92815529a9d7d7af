"""When an ICE list was published, what it is, and where it came from.

Every clue is weighed against the others and against the list's content, and
each is recorded as evidence on the snapshot with its verdict and reason:

- the ``published_at`` argument (a person's word: it wins, but is still checked);
- a capture timestamp in the name (``-YYYYMMDDHHMMSS``, UTC): the time the file
  was downloaded or the page captured, when ICE's list was certainly online;
- the workbook's own modified and created times (docProps/core.xml);
- ICE's ``MMDDYYYY`` + ``am``/``pm`` in the name (00:00 or 12:00 US Eastern),
  which ICE sometimes gets wrong;
- the content: a list cannot be published before its latest signing, nor
  before the workbook was created; the columns present (COUNTY from spring
  2025) settle a disagreement between the name and the metadata.

The most trusted clue that the content allows wins. When the clues left
standing disagree beyond a tolerance, or none is left standing, the list is
dated by the best clue and held for a curator (``Dating.doubt``) rather than
placed where it would rewrite the history.

``weigh`` is pure; ``later_signings_doubt`` asks the database about the lists
already imported.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

from agreements import choices
from agreements.ice_sheet import IceSheet

EASTERN = zoneinfo.ZoneInfo("America/New_York")
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
# Two clues this close describe the same publication (a name's half-day
# against the time the workbook was saved, a download hours after saving).
AGREE = dt.timedelta(days=3)
# A list may be dated the day of its latest signing in any time zone.
SIGNING_SLACK = dt.timedelta(days=1)
# A list dated this long after its latest signing, while a list published
# before it already holds later signings, is probably older than its date.
STALE_AFTER = dt.timedelta(days=14)
STALE_MIN_LATER_SIGNINGS = 3
# ICE's lists gained COUNTY between these two lists of the archive (the list
# of 2025-03-01 has none, the list of 2025-04-03 has it).
COUNTY_ADDED = (dt.date(2025, 3, 1), dt.date(2025, 4, 3))
CAPTURE_SHEET_NAME = "287(g) Agreements"
GIVEN = "Given at import."

_CAPTURE_NAME = re.compile(r"(?<!\d)(\d{14})(?!\d)")
_ICE_NAME = re.compile(r"(?<!\d)(\d{2})(\d{2})(\d{4})(?!\d)\s*(am|pm)?", re.IGNORECASE)
_DIGITS = re.compile(r"\d{8,}")

# Clues in order of trust.
TRUST = (
    choices.FROM_ARGUMENT,
    choices.FROM_CAPTURE,
    choices.FROM_METADATA,
    choices.FROM_FILENAME,
    choices.FROM_FETCHED,
)
LABELS = {
    choices.FROM_ARGUMENT: "the time given at import",
    choices.FROM_CAPTURE: "the capture time in the file name",
    choices.FROM_METADATA: "the workbook's modified time",
    choices.FROM_FILENAME: "ICE's date in the file name",
    choices.FROM_FETCHED: "the time of import",
}


@dataclass
class Evidence:
    """One clue to the publication time, and what was made of it."""

    source: str  # one of TRUST, or "created", "signed", "columns", "name"
    time: dt.datetime | None
    verdict: str = ""  # chosen, agrees, rejected, ignored, noted
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "time": self.time.isoformat() if self.time else None,
            "verdict": self.verdict,
            "reason": self.reason,
        }


@dataclass
class Dating:
    """The publication time chosen for a list, and why."""

    published_at: dt.datetime
    source: str
    provenance: str
    latest_signed: dt.date | None
    evidence: list[Evidence] = field(default_factory=list)
    doubt: str = ""  # a sentence, when the evidence contradicts itself: hold the list

    @property
    def reason(self) -> str:
        """Why the chosen clue won, in a sentence."""
        chosen = next((e for e in self.evidence if e.verdict == "chosen"), None)
        return chosen.reason if chosen else ""

    def as_list(self) -> list[dict[str, Any]]:
        return [e.as_dict() for e in self.evidence]


# --- What the name says -----------------------------------------------------


def kind_from_filename(filename: str) -> str | None:
    """What the file name claims: "participating", "pending" or None."""
    name = filename.lower()
    if "pending" in name:
        return choices.PENDING
    if "participat" in name:
        return choices.PARTICIPATING
    return None


def capture_time(filename: str) -> dt.datetime | None:
    """The capture timestamp ``YYYYMMDDHHMMSS`` (UTC) in a file name, or None."""
    for match in _CAPTURE_NAME.finditer(filename):
        try:
            return dt.datetime.strptime(match.group(1), "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)
        except ValueError:
            continue
    return None


def time_from_filename(filename: str) -> dt.datetime | None:
    """ICE's MMDDYYYY[am|pm] as 00:00 / 12:00 US Eastern, or None."""
    for match in _ICE_NAME.finditer(filename):
        month, day, year, half = match.groups()
        try:
            when = dt.datetime(
                int(year), int(month), int(day), 12 if (half or "").lower() == "pm" else 0
            )
        except ValueError:
            continue
        return when.replace(tzinfo=EASTERN)
    return None


def provenance(sheet: IceSheet, filename: str) -> str:
    """ICE's own workbook, or a table parsed from a capture of ICE's page.

    The captures carry MOA links into the Wayback Machine, or come under the
    HTML table's caption as sheet name and without ICE's TYPE column.
    """
    linked = sum(1 for row in sheet.rows if row.moa_url)
    wayback = sum(1 for row in sheet.rows if "web.archive.org" in row.moa_source_url.lower())
    if linked and wayback * 2 > linked:
        return choices.CAPTURED_TABLE
    if "type" not in sheet.columns and (
        sheet.sheet_name == CAPTURE_SHEET_NAME or capture_time(filename)
    ):
        return choices.CAPTURED_TABLE
    return choices.WORKBOOK


def file_warning(code: str, message: str, value: str = "") -> dict:
    """A warning about the whole file (no row or column)."""
    return {"row": None, "column": "", "value": value, "message": message, "code": code}


def list_kind(sheet: IceSheet, kind: str | None, filename: str, warnings: list) -> str:
    """The kind asked for, else the header's; a warning where the name or the header disagrees."""
    named = kind_from_filename(filename)
    if named and named != sheet.kind:
        warnings.append(
            file_warning(
                "filename_kind",
                f"The file name says {named} but the header is the {sheet.kind} list "
                f"({'with' if sheet.kind == 'participating' else 'without'} SIGNED); "
                f"imported as {kind or sheet.kind}.",
                filename,
            )
        )
    if kind and kind != sheet.kind:
        warnings.append(
            file_warning(
                "kind_overridden",
                f"Imported as {kind} as asked, although the header looks like the {sheet.kind} list.",
            )
        )
    return kind or sheet.kind


# --- Weighing ----------------------------------------------------------------


def weigh(*, sheet: IceSheet, filename: str, given: dt.datetime | None, now: dt.datetime) -> Dating:
    """Choose the publication time of ``sheet`` from every clue; see the module docstring."""
    origin = provenance(sheet, filename)
    latest = max(
        (r.signed_on for r in sheet.rows if r.signed_on and r.duplicate_of is None), default=None
    )
    clues = _clues(sheet, filename, given, origin)
    notes = _content_notes(sheet, latest, filename)
    standing = [c for c in clues if not c.verdict]
    for clue in standing:
        _check(clue, sheet, latest, origin, clues, now)
    standing = [c for c in clues if not c.verdict]
    doubt = ""
    if given is not None:
        chosen = next(c for c in clues if c.source == choices.FROM_ARGUMENT)
        if chosen.verdict == "rejected":
            chosen.reason = (
                f"Given at import, so used, although {chosen.reason[0].lower()}{chosen.reason[1:]}"
            )
        else:
            chosen.reason = GIVEN
        chosen.verdict = "chosen"
        standing = [c for c in standing if c is not chosen]
    elif standing:
        chosen, doubt = _settle(standing[0], standing[1:], sheet)
        standing = [c for c in standing if c is not chosen and not c.verdict]
        chosen.verdict = "chosen"
        chosen.reason = _why(chosen, clues)
    elif not clues:
        chosen = Evidence(choices.FROM_FETCHED, now, "chosen", "The file says nothing of when.")
        clues.append(chosen)
    else:
        reasons = "; ".join(c.reason.rstrip(".") for c in clues)
        chosen = _fallback(clues, now)
        doubt = (
            f"No clue to this list's publication time can be trusted ({reasons}); it is dated by "
            f"{LABELS[chosen.source]} and held until a curator gives the date."
        )
    for clue in standing:
        clue.verdict = "agrees" if abs(clue.time - chosen.time) <= AGREE else "rejected"
        if not clue.reason:
            clue.reason = (
                f"Within {AGREE.days} days of the chosen time."
                if clue.verdict == "agrees"
                else f"{_days(clue.time - chosen.time)} from the chosen time."
            )
    return Dating(
        published_at=chosen.time,
        source=chosen.source,
        provenance=origin,
        latest_signed=latest,
        evidence=[*clues, *notes],
        doubt=doubt,
    )


def _clues(
    sheet: IceSheet, filename: str, given: dt.datetime | None, origin: str
) -> list[Evidence]:
    clues = []
    if given is not None:
        clues.append(Evidence(choices.FROM_ARGUMENT, given))
    captured = capture_time(filename)
    if captured:
        clues.append(Evidence(choices.FROM_CAPTURE, captured))
    if sheet.modified_at:
        metadata = Evidence(choices.FROM_METADATA, sheet.modified_at)
        if origin == choices.CAPTURED_TABLE:
            metadata.verdict = "ignored"
            metadata.reason = (
                "The workbook was written from a capture of ICE's page: its times are when the "
                "table was converted, not when ICE published it."
            )
        clues.append(metadata)
    named = None if captured else time_from_filename(filename)
    if named:
        clues.append(Evidence(choices.FROM_FILENAME, named))
    return clues


def _check(
    clue: Evidence,
    sheet: IceSheet,
    latest: dt.date | None,
    origin: str,
    clues: list[Evidence],
    now: dt.datetime,
) -> None:
    """Mark ``clue`` rejected, with the reason, if the content or a firmer clue rules it out."""
    when = clue.time
    reason = ""
    if when < EARLIEST or when > now + dt.timedelta(days=1):
        reason = f"{when:%Y-%m-%d} is impossible for an ICE list."
    elif latest and when < day_start(latest) - SIGNING_SLACK:
        reason = f"{when:%Y-%m-%d} is before the list's latest signing, {latest.isoformat()}."
    elif clue.source == choices.FROM_METADATA:
        captured = next((c for c in clues if c.source == choices.FROM_CAPTURE), None)
        if captured and when > captured.time + AGREE:
            reason = (
                f"Saved {when:%Y-%m-%d}, after the file was captured ({captured.time:%Y-%m-%d}): "
                "the metadata records a later copy, not the publication."
            )
    elif clue.source == choices.FROM_FILENAME and origin == choices.WORKBOOK:
        created = _created(sheet)
        if created and when < created - AGREE:
            reason = (
                f"{when:%Y-%m-%d} is before the workbook was created ({created:%Y-%m-%d}): "
                "the name's date is wrong."
            )
    if reason:
        clue.verdict, clue.reason = "rejected", reason


def _why(chosen: Evidence, clues: list[Evidence]) -> str:
    """Why ``chosen`` won, with the clues set aside and why."""
    reason = {
        choices.FROM_CAPTURE: "ICE's list was online at the capture time in the file name.",
        choices.FROM_METADATA: "ICE saved the workbook then, and the content allows it.",
        choices.FROM_FILENAME: "ICE's date in the file name, which the content allows.",
    }[chosen.source]
    for clue in clues:
        if clue is not chosen and clue.verdict in ("rejected", "ignored"):
            label = LABELS[clue.source]
            reason += f" {label[0].upper()}{label[1:]} was set aside: {clue.reason}"
    return reason


def _settle(best: Evidence, others: list[Evidence], sheet: IceSheet) -> tuple[Evidence, str]:
    """The clue to choose, and a sentence of doubt when the workbook and the name, both
    possible, are far apart and the columns present cannot tell which is right."""
    named = next((c for c in others if c.source == choices.FROM_FILENAME), None)
    if best.source != choices.FROM_METADATA or named is None:
        return best, ""
    if abs(named.time - best.time) <= AGREE:
        return best, ""
    fits = _columns_fit(sheet, best.time), _columns_fit(sheet, named.time)
    if fits[0] != fits[1]:
        loser, winner = (named, best) if fits[0] else (best, named)
        loser.verdict = "rejected"
        loser.reason = (
            f"{loser.time:%Y-%m-%d} does not fit the columns present "
            f"({'with' if 'county' in sheet.columns else 'without'} COUNTY)."
        )
        return winner, ""
    return best, (
        f"The file name says {named.time:%Y-%m-%d} but the workbook was saved "
        f"{best.time:%Y-%m-%d %H:%M} UTC, and the content cannot tell which is right; "
        "it is dated by the workbook and held until a curator confirms the date."
    )


def _columns_fit(sheet: IceSheet, when: dt.datetime) -> bool:
    """Whether a list with these columns could be published at ``when``."""
    first_without, first_with = COUNTY_ADDED
    day = when.date()
    if "county" in sheet.columns:
        return day >= first_without - AGREE
    return day <= first_with + AGREE


def _content_notes(sheet: IceSheet, latest: dt.date | None, filename: str) -> list[Evidence]:
    notes = []
    if latest:
        notes.append(
            Evidence(
                "signed",
                day_start(latest),
                "noted",
                "The latest signing in the list: it cannot be published before.",
            )
        )
    if sheet.created_at:
        trusted = _created(sheet) is not None
        notes.append(
            Evidence(
                "created",
                sheet.created_at,
                "noted" if trusted else "ignored",
                "The workbook's created time: it cannot be published before."
                if trusted
                else "The workbook's created time is after its modified time, so it is not used.",
            )
        )
    notes.append(
        Evidence(
            "columns",
            None,
            "noted",
            f"Columns: {', '.join(sheet.columns)}"
            f" ({'COUNTY, as ICE lists from spring 2025' if 'county' in sheet.columns else 'no COUNTY, as ICE lists before April 2025'}).",
        )
    )
    if not capture_time(filename) and not time_from_filename(filename):
        unread = _DIGITS.search(filename)
        if unread:
            notes.append(
                Evidence(
                    "name", None, "ignored", f"The name's digits {unread.group()} are not a date."
                )
            )
    return notes


def _created(sheet: IceSheet) -> dt.datetime | None:
    """The workbook's created time, unless it is after its modified time (then one is wrong)."""
    created, modified = sheet.created_at, sheet.modified_at
    if created is None or (modified is not None and created > modified + AGREE):
        return None
    return created


def _fallback(clues: list[Evidence], now: dt.datetime) -> Evidence:
    """The best clue when none can be trusted: metadata, then the name, then now."""
    for source in (choices.FROM_METADATA, choices.FROM_FILENAME, choices.FROM_CAPTURE):
        for clue in clues:
            if clue.source == source and EARLIEST <= clue.time <= now + dt.timedelta(days=1):
                clue.verdict, clue.reason = (
                    "chosen",
                    f"For want of a better clue, although: {clue.reason}",
                )
                return clue
    fetched = Evidence(choices.FROM_FETCHED, now, "chosen", "No clue in the file is possible.")
    clues.append(fetched)
    return fetched


def day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=EASTERN)


def _days(delta: dt.timedelta) -> str:
    days = abs(delta).days
    return f"{days} day{'s' if days != 1 else ''} {'after' if delta > dt.timedelta() else 'before'}"
