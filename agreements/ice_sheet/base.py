"""Limits, known columns, and the types the reader returns."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

MAX_SHEETS = 50
MAX_COLUMNS = 64
MAX_ROWS = 100_000
HEADER_SCAN_ROWS = 30
# A run of this many blank rows ends the data: ICE's stored ranges run far
# past the last row, and a hostile file may claim a million rows.
MAX_BLANK_RUN = 1_000
FIRST_POSSIBLE_YEAR = 1996  # section 287(g) was enacted in September 1996

# Canonical column -> names ICE used or might use for it.
COLUMNS: dict[str, tuple[str, ...]] = {
    "state": ("STATE",),
    "agency": (
        "LAW ENFORCEMENT AGENCY",
        "LAW ENFORCEMENT AGENCY NAME",
        "AGENCY",
        "AGENCY NAME",
    ),
    "type": ("TYPE", "AGENCY TYPE"),
    "county": ("COUNTY", "COUNTY NAME", "COUNTIES"),
    "support_type": ("SUPPORT TYPE", "SUPPORT MODEL", "MODEL", "287G MODEL", "TYPE OF SUPPORT"),
    "signed": ("SIGNED", "DATE SIGNED", "SIGNED DATE", "SIGNATURE DATE", "DATE OF SIGNATURE"),
    "moa": ("MOA", "MOA LINK", "MEMORANDUM OF AGREEMENT"),
    "addendum": ("ADDENDUM", "ADDENDUM LINK", "ADDENDUMS", "ADDENDA"),
}
REQUIRED = ("state", "agency", "support_type")
HEADER_CUTOFF = 85
# The warning code of a link column with no link in any row (read as absent).
BLANK_LINK_COLUMN = "link_column_blank"


class IceSheetError(ValueError):
    """The file cannot be read as an ICE list; the message says why."""


@dataclass(frozen=True)
class SheetWarning:
    """An oddity in the file: where it is, what it says, and what was done."""

    row: int | None
    column: str
    value: str
    message: str
    code: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "column": self.column,
            "value": self.value,
            "message": self.message,
            "code": self.code,
        }


@dataclass
class SheetRow:
    """One data row: the cells as ICE wrote them and their normalized reading."""

    number: int
    raw: dict[str, Any]
    state: str = ""
    agency_name: str = ""
    name_key: str = ""
    agency_type: str = ""
    agency_kind: str = ""
    county: str = ""
    county_fips: str = ""
    model: str = ""
    signed_on: dt.date | None = None
    signed_raw: str = ""
    moa_url: str = ""  # the address on ICE's site, unwrapped (``links.ice_url``)
    addendum_url: str = ""
    moa_source_url: str = ""  # the link as written, when it was wrapped
    addendum_source_url: str = ""
    duplicate_of: int | None = None

    @property
    def identity(self) -> tuple:
        """What makes two rows the same listing: state, agency, model, signed."""
        return (self.state, self.name_key, self.model, self.signed_on or self.signed_raw)


@dataclass
class IceSheet:
    """A parsed ICE list."""

    kind: str
    sheet_name: str
    header: list[str]
    columns: dict[str, str]  # canonical column -> header text in the file
    rows: list[SheetRow]
    warnings: list[SheetWarning]
    modified_at: dt.datetime | None
    created_at: dt.datetime | None
    sha256: str
    size: int
    county_rows: int = 0
    county_matched: int = 0

    @property
    def county_match_share(self) -> float | None:
        """Share of rows naming a county whose FIPS code was found."""
        return self.county_matched / self.county_rows if self.county_rows else None


@dataclass
class SheetLayout:
    """The worksheet chosen as the list, and where its header is."""

    worksheet: Any
    header_row: int
    header: list[str]
    positions: dict[str, int]  # canonical column -> 0-based position
    renamed: dict[str, str] = field(default_factory=dict)
    score: int = 0
