"""Reading and normalizing the data rows of an ICE list, with warnings."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import from_excel

from agreements import normalize
from agreements.choices import PARTICIPATING
from agreements.ice_sheet import links
from agreements.ice_sheet.base import (
    FIRST_POSSIBLE_YEAR,
    MAX_BLANK_RUN,
    MAX_ROWS,
    IceSheetError,
    SheetLayout,
    SheetRow,
    SheetWarning,
)


def raw_labels(header: list[str], width: int) -> list[str]:
    labels, seen = [], set()
    for index in range(width):
        label = header[index] if index < len(header) and header[index] else ""
        label = label or f"column {get_column_letter(index + 1)}"
        base, n = label, 2
        while label in seen:
            label, n = f"{base} ({n})", n + 1
        seen.add(label)
        labels.append(label)
    return labels


def _json_value(value: object) -> Any:
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time.min else value.isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class RowReader:
    """Reads and normalizes the data rows of the chosen worksheet."""

    def __init__(self, sheet: SheetLayout, labels, links, kind: str, warnings: list) -> None:
        self.sheet = sheet
        self.labels = labels
        self.links = links
        self.kind = kind
        self.warnings = warnings
        self.county_rows = 0
        self.county_matched = 0
        self.this_year = dt.date.today().year

    def warn(self, row: int, column: str, value: object, message: str, code: str) -> None:
        label = (
            self.sheet.header[self.sheet.positions[column]]
            if column in self.sheet.positions
            else column
        )
        text = "" if value is None else str(_json_value(value))
        self.warnings.append(SheetWarning(row, label, text[:200], message, code))

    def read(self, cells: Iterator[tuple[int, list, list]]) -> list[SheetRow]:
        """Parse the data rows; ``cells`` yields (row number, values, cell types)."""
        rows: list[SheetRow] = []
        seen: dict[tuple, SheetRow] = {}
        last_filled = self.sheet.header_row
        for number, values, types in cells:
            if all(_is_blank(v) for v in values):
                if number - last_filled >= MAX_BLANK_RUN:
                    break
                continue
            if number - last_filled > MAX_BLANK_RUN:
                break  # a lone cell far below the data, past a long blank gap
            last_filled = number
            if len(rows) >= MAX_ROWS:
                raise IceSheetError(
                    f"The worksheet has more than {MAX_ROWS:,} data rows, far more than an "
                    "ICE list; check that it is the right file."
                )
            parsed = self.row(number, values, types)
            previous = seen.get(parsed.identity)
            if previous is not None and parsed.state and parsed.name_key:
                parsed.duplicate_of = previous.number
                self.warn_duplicate(parsed, previous)
            else:
                seen[parsed.identity] = parsed
            rows.append(parsed)
        return rows

    def warn_duplicate(self, row: SheetRow, previous: SheetRow) -> None:
        differs = [
            label
            for label in self.labels
            if row.raw.get(label) != previous.raw.get(label) and label in row.raw
        ]
        detail = f"; it differs in {', '.join(differs)}" if differs else ""
        self.warnings.append(
            SheetWarning(
                row.number,
                "",
                row.agency_name,
                f"Row {row.number} repeats row {previous.number}{detail}; it is kept once.",
                "duplicate_row",
            )
        )

    def cell(self, values: list, column: str) -> object:
        index = self.sheet.positions.get(column)
        return values[index] if index is not None and index < len(values) else None

    def row(self, number: int, values: list, types: list) -> SheetRow:
        raw = {label: _json_value(value) for label, value in zip(self.labels, values, strict=False)}
        for label, value in zip(self.labels, values, strict=False):
            if label.startswith("column ") and not _is_blank(value):
                self.warn(
                    number,
                    label,
                    value,
                    "A value under a blank header is kept as written.",
                    "cell_outside_header",
                )
        result = SheetRow(number=number, raw=raw)
        self.read_state(result, self.cell(values, "state"))
        self.read_agency(result, self.cell(values, "agency"))
        self.read_type(result, self.cell(values, "type"))
        county_index = self.sheet.positions.get("county")
        county_type = types[county_index] if county_index is not None else None
        self.read_county(result, self.cell(values, "county"), county_type)
        self.read_model(result, self.cell(values, "support_type"))
        if "signed" in self.sheet.positions:
            self.read_signed(result, self.cell(values, "signed"))
        for column in ("moa", "addendum"):
            if column in self.sheet.positions:
                self.read_link(result, column, self.cell(values, column))
        return result

    def read_state(self, row: SheetRow, value: object) -> None:
        if _is_blank(value):
            self.warn(
                row.number,
                "state",
                value,
                "STATE is blank; the row is kept but not resolved to an agency.",
                "state_blank",
            )
            return
        match = normalize.state_code(value)
        if match is None:
            self.warn(
                row.number,
                "state",
                value,
                f"{value!r} is not a US state; the row is kept but not resolved.",
                "state_unknown",
            )
            return
        row.state = match.value
        text = normalize.clean_text(value)
        expected = normalize.state_name(match.value)
        if not match.exact:
            self.warn(
                row.number,
                "state",
                value,
                f"State {text!r} was read as {expected} ({match.value}).",
                "state_misspelled",
            )
        elif text not in (expected.upper(), expected, match.value):
            self.warn(
                row.number,
                "state",
                value,
                f"State {text!r} was read as {expected} ({match.value}).",
                "state_case",
            )

    def read_agency(self, row: SheetRow, value: object) -> None:
        if _is_blank(value):
            self.warn(
                row.number,
                "agency",
                value,
                "The agency name is blank; the row is kept but not resolved.",
                "agency_blank",
            )
            return
        row.agency_name = normalize.display_name(value)
        row.name_key = normalize.name_key(value)
        if isinstance(value, str) and value != row.agency_name and value.strip() != row.agency_name:
            self.warn(
                row.number,
                "agency",
                value,
                f"Agency name tidied to {row.agency_name!r}.",
                "agency_tidied",
            )

    def read_type(self, row: SheetRow, value: object) -> None:
        if "type" not in self.sheet.positions or _is_blank(value):
            return
        result = normalize.agency_type(value)
        if result is None:
            return
        row.agency_type, row.agency_kind = result.label, result.kind
        if result.kind == "other":
            self.warn(
                row.number,
                "type",
                value,
                f"Agency type {value!r} is not a known type; kept as written.",
                "type_unknown",
            )
        elif not result.exact and normalize.clean_text(value) != result.label:
            self.warn(
                row.number,
                "type",
                value,
                f"Agency type {value!r} was read as {result.label!r}.",
                "type_variant",
            )

    def read_county(self, row: SheetRow, value: object, data_type: str | None) -> None:
        if "county" not in self.sheet.positions or _is_blank(value):
            return
        if data_type == "e" or normalize.is_error_value(value):
            what = (
                "an Excel error"
                if data_type == "e" or str(value).startswith("#")
                else "not available"
            )
            self.warn(
                row.number,
                "county",
                value,
                f"COUNTY is {what} ({value}); left blank.",
                "county_error",
            )
            return
        self.county_rows += 1
        county = normalize.county(value, row.state)
        if county is None:
            return
        row.county, row.county_fips = county.name, county.fips
        if county.fips:
            self.county_matched += 1
        if county.suffix_added:
            self.warn(
                row.number,
                "county",
                value,
                f"County {value!r} read as {county.name!r}.",
                "county_suffix",
            )
        if county.fuzzy:
            self.warn(
                row.number,
                "county",
                value,
                f"County {value!r} is not a county of {row.state}; matched to FIPS {county.fips} by its spelling.",
                "county_misspelled",
            )
        elif not county.fips:
            self.warn(
                row.number,
                "county",
                value,
                f"County {county.name!r} has no FIPS code in {row.state or 'an unknown state'}.",
                "county_unmatched",
            )

    def read_model(self, row: SheetRow, value: object) -> None:
        if _is_blank(value):
            self.warn(
                row.number,
                "support_type",
                value,
                "SUPPORT TYPE is blank; the row is not resolved to an agreement.",
                "model_blank",
            )
            return
        match = normalize.support_model(value)
        if match is None:
            self.warn(
                row.number,
                "support_type",
                value,
                f"Support type {value!r} is not a 287(g) model; the row is not resolved to an agreement.",
                "model_unknown",
            )
            return
        row.model = match.value
        if not match.exact:
            self.warn(
                row.number,
                "support_type",
                value,
                f"Support type {value!r} was read as {match.value}.",
                "model_misspelled",
            )

    def read_signed(self, row: SheetRow, value: object) -> None:
        if _is_blank(value):
            if self.kind == PARTICIPATING:
                self.warn(row.number, "signed", value, "SIGNED is blank.", "signed_blank")
            return
        row.signed_raw = str(_json_value(value))[:100]
        day, how = _read_date(value)
        if day is None:
            self.warn(
                row.number,
                "signed",
                value,
                f"SIGNED {row.signed_raw!r} is not a date; kept as written.",
                "signed_malformed",
            )
            return
        if not FIRST_POSSIBLE_YEAR <= day.year <= self.this_year + 1:
            self.warn(
                row.number,
                "signed",
                value,
                f"SIGNED {day.isoformat()} has an impossible year; kept as written.",
                "signed_impossible",
            )
            return
        row.signed_on = day
        if how:
            self.warn(
                row.number,
                "signed",
                value,
                f"SIGNED {row.signed_raw!r} {how} {day.isoformat()}.",
                "signed_text",
            )
        else:
            row.signed_raw = ""

    def read_link(self, row: SheetRow, column: str, value: object) -> None:
        index = self.sheet.positions[column] + 1
        target = self.links.get((row.number, index), "")
        text = normalize.clean_text(value)
        if not target and text.lower().startswith(("http://", "https://")):
            target = text
        if not target:
            if text and "pending" not in text.lower() and text.lower() not in ("n/a", "none"):
                self.warn(
                    row.number,
                    column,
                    value,
                    f"{column.upper()} says {text!r} but has no link.",
                    "link_missing",
                )
            return
        url, removed = links.unwrap(target)
        if "safelinks" in removed:
            self.warn(
                row.number,
                column,
                target,
                f"Outlook safelinks wrapper removed: {url}",
                "link_safelinks",
            )
        if urlsplit(url).scheme not in ("http", "https") or len(url) > 2000:
            self.warn(
                row.number,
                column,
                target,
                "The link is not a web address; ignored.",
                "link_invalid",
            )
            return
        setattr(row, f"{column}_url", url)
        if removed and len(target) <= 2000:
            setattr(row, f"{column}_source_url", target)


_DATE_FORMATS = (
    "%m/%d/%Y",
    "%m/%d/%y",
    "%Y-%m-%d",
    "%m-%d-%Y",
    "%m.%d.%Y",
    "%B %d, %Y",
    "%b %d, %Y",
    "%d %B %Y",
)


def _read_date(value: object) -> tuple[dt.date | None, str]:
    """A date from a SIGNED cell and how it was read ("" when it was a real date)."""
    if isinstance(value, dt.datetime):
        return value.date(), ""
    if isinstance(value, dt.date):
        return value, ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if 20_000 < value < 80_000:
            try:
                return from_excel(value).date(), "was a number, read as"
            except (ValueError, OverflowError, TypeError):
                return None, ""
        return None, ""
    text = normalize.clean_text(value)
    for pattern in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, pattern).date(), "was text, read as"
        except ValueError:
            continue
    # "05/082025", "7/72025": a slash left out before the year.
    match = re.fullmatch(r"(\d{1,2})[/-](\d{1,2})[/-]?(\d{4})", text)
    if match:
        try:
            day = dt.date(int(match[3]), int(match[1]), int(match[2]))
        except ValueError:
            return None, ""
        return day, "lacks a separator, read as"
    return None, ""
