"""Reader of ICE's 287(g) spreadsheets (participating and pending agencies).

Pure: bytes in, an ``IceSheet`` out, no database. The reader finds the
worksheet and the header row by their column names (tolerant of case, spacing,
typos, new and reordered columns), reads every data row as ICE wrote it, and
normalizes what it can, recording each oddity as a warning with its row,
column and value. Files that cannot be an ICE list are refused with an
``IceSheetError`` whose message is a sentence.

The workbook is read with openpyxl in read-only (streaming) mode, so memory
does not grow with the stored range; read-only mode does not expose cell
hyperlinks, so those are read separately by streaming the worksheet's XML.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO
from urllib.parse import parse_qs, urlsplit

import openpyxl
from lxml import etree
from openpyxl.utils import column_index_from_string, get_column_letter
from openpyxl.utils.cell import range_boundaries
from openpyxl.utils.datetime import from_excel
from rapidfuzz import fuzz

from agreements import normalize

__all__ = [
    "IceSheet",
    "IceSheetError",
    "SheetRow",
    "SheetWarning",
    "read_ice_sheet",
]

PARTICIPATING = "participating"
PENDING = "pending"

MAX_FILE_BYTES = 25 * 1024 * 1024
MAX_UNCOMPRESSED_BYTES = 64 * 1024 * 1024  # ICE lists unpack to ~1 MB
MAX_COMPRESSION_RATIO = 250
MAX_SHEETS = 50
MAX_COLUMNS = 64
MAX_ROWS = 100_000
HEADER_SCAN_ROWS = 30
# A run of this many blank rows ends the data: ICE's stored ranges run far
# past the last row, and a hostile file may claim a million rows.
MAX_BLANK_RUN = 1_000
MAX_HYPERLINKS = 200_000
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
    moa_url: str = ""
    addendum_url: str = ""
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
class _Sheet:
    """The worksheet chosen as the list, and where its header is."""

    worksheet: Any
    header_row: int
    header: list[str]
    positions: dict[str, int]  # canonical column -> 0-based position
    renamed: dict[str, str] = field(default_factory=dict)
    score: int = 0


# --- Entry point ------------------------------------------------------------


def read_ice_sheet(source: Path | str | BinaryIO | bytes, *, filename: str = "") -> IceSheet:
    """Read an ICE participating or pending list; raise IceSheetError if it is not one."""
    data = read_bytes(source)
    name = filename or (Path(source).name if isinstance(source, (str, Path)) else "the file")
    archive = _open_archive(data, name)
    try:
        workbook = openpyxl.load_workbook(
            io.BytesIO(data), read_only=True, data_only=True, keep_links=False
        )
    except Exception as exc:  # openpyxl raises many kinds on a broken workbook
        raise IceSheetError(
            f"{name} could not be read as an Excel workbook ({type(exc).__name__}); "
            "download it again or save it as .xlsx."
        ) from exc
    try:
        return _read_workbook(workbook, archive, data, name)
    finally:
        workbook.close()
        archive.close()


def read_bytes(source: Path | str | BinaryIO | bytes) -> bytes:
    """The bytes of ``source``, refusing files larger than any ICE list could be."""
    if isinstance(source, bytes):
        data = source
    elif isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise IceSheetError(f"{path} does not exist or is not a file.")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise IceSheetError(_too_large(path.name))
        data = path.read_bytes()
    else:
        if hasattr(source, "seek"):
            source.seek(0)
        data = source.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise IceSheetError(_too_large("The file"))
    return data


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _too_large(name: str) -> str:
    return (
        f"{name} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB, far larger than an ICE "
        "list; check that it is the right file."
    )


def _open_archive(data: bytes, name: str) -> zipfile.ZipFile:
    if not data:
        raise IceSheetError(f"{name} is empty (0 bytes); download it again.")
    head = data[:512].lstrip().lower()
    if not data.startswith(b"PK"):
        if head.startswith((b"<!doctype html", b"<html", b"<?xml", b"<")):
            kind = "a web page (HTML/XML)"
        elif data.startswith(b"\xd0\xcf\x11\xe0"):
            kind = "an old-style .xls workbook"
        elif data.startswith(b"%PDF"):
            kind = "a PDF"
        else:
            kind = "text or another format (perhaps CSV)"
        raise IceSheetError(
            f"{name} is not an .xlsx workbook: it looks like {kind}; "
            "download the spreadsheet itself from ICE's 287(g) page."
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise IceSheetError(
            f"{name} is a damaged or truncated .xlsx file ({exc}); download it again."
        ) from exc
    total = sum(member.file_size for member in members)
    packed = sum(member.compress_size for member in members) or 1
    if total > MAX_UNCOMPRESSED_BYTES or total / packed > MAX_COMPRESSION_RATIO and total > 1e7:
        archive.close()
        raise IceSheetError(
            f"{name} unpacks to {total // (1024 * 1024)} MB, far more than an ICE list; "
            "it was refused as a possible zip bomb."
        )
    names = {member.filename for member in members}
    if "xl/workbook.xml" not in names:
        archive.close()
        raise IceSheetError(
            f"{name} is a zip archive but not an Excel workbook (no xl/workbook.xml); "
            "check that it is the spreadsheet from ICE."
        )
    bad = archive.testzip() if total < 50 * 1024 * 1024 else None
    if bad is not None:
        archive.close()
        raise IceSheetError(f"{name} is damaged ({bad} fails its checksum); download it again.")
    return archive


# --- Worksheet and header ---------------------------------------------------


def _fold_header(value: object) -> str:
    return " ".join(re.sub(r"[^A-Z0-9]+", " ", normalize.clean_text(value).upper()).split())


def _column_for(label: str) -> tuple[str | None, bool]:
    """The canonical column a header label names, and whether that took a guess."""
    folded = _fold_header(label)
    if not folded:
        return None, False
    for column, names in COLUMNS.items():
        if folded in names:
            return column, False
    best, best_score = None, 0.0
    for column, names in COLUMNS.items():
        for known in names:
            score = fuzz.ratio(folded, known)
            if score > best_score:
                best, best_score = column, score
    if best is not None and best_score >= HEADER_CUTOFF:
        return best, True
    return None, False


def _header_candidate(values: tuple) -> _Sheet | None:
    positions: dict[str, int] = {}
    renamed: dict[str, str] = {}
    for index, value in enumerate(values):
        if not isinstance(value, str):
            continue
        column, guessed = _column_for(value)
        if column is None or column in positions:
            continue
        positions[column] = index
        if guessed:
            renamed[column] = value
    if len(positions) < 2:
        return None
    header = ["" if v is None else normalize.clean_text(v) for v in values]
    while header and not header[-1]:
        header.pop()
    score = len(positions) + 10 * sum(column in positions for column in REQUIRED)
    return _Sheet(None, 0, header, positions, renamed, score)


def _find_sheet(workbook: Any, name: str) -> tuple[_Sheet, list[SheetWarning]]:
    best: _Sheet | None = None
    warnings = []
    sheets = workbook.worksheets[:MAX_SHEETS]
    for worksheet in sheets:
        if not hasattr(worksheet, "iter_rows"):
            continue  # a chartsheet
        rows = worksheet.iter_rows(
            min_row=1, max_row=HEADER_SCAN_ROWS, max_col=MAX_COLUMNS, values_only=True
        )
        for number, values in enumerate(rows, start=1):
            candidate = _header_candidate(values)
            if candidate and (best is None or candidate.score > best.score):
                candidate.worksheet, candidate.header_row = worksheet, number
                best = candidate
    if best is None or any(column not in best.positions for column in REQUIRED):
        found = sorted(best.positions) if best else []
        missing = [COLUMNS[c][0] for c in REQUIRED if c not in found]
        raise IceSheetError(
            f"{name} has no recognizable ICE header: no row of its first "
            f"{HEADER_SCAN_ROWS} has the columns {', '.join(missing)}; "
            "check that it is ICE's participating or pending list."
        )
    for worksheet in sheets:
        if worksheet is not best.worksheet:
            warnings.append(
                SheetWarning(
                    None,
                    "",
                    worksheet.title,
                    f"Worksheet {worksheet.title!r} has no ICE list header and was ignored.",
                    "sheet_ignored",
                )
            )
    for column, label in best.renamed.items():
        warnings.append(
            SheetWarning(
                best.header_row,
                label,
                label,
                f"Header {label!r} was read as {COLUMNS[column][0]}.",
                "header_misspelled",
            )
        )
    known = set(best.positions.values())
    for index, label in enumerate(best.header):
        if label and index not in known:
            warnings.append(
                SheetWarning(
                    best.header_row,
                    label,
                    label,
                    f"Column {label!r} is not one the importer knows; its cells are kept as written.",
                    "column_unknown",
                )
            )
    return best, warnings


# --- Hyperlinks ---------------------------------------------------------------

_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_PKG_NS = "http://schemas.openxmlformats.org/package/2006/relationships"


def _sheet_hyperlinks(archive: zipfile.ZipFile, sheet_path: str, max_col: int) -> dict:
    """Cell (row, column) -> hyperlink target, streamed from the worksheet XML."""
    sheet_path = sheet_path.lstrip("/")
    path = PurePosixPath(sheet_path)
    rels_path = str(path.parent / "_rels" / f"{path.name}.rels")
    names = set(archive.namelist())
    targets: dict[str, str] = {}
    if rels_path in names:
        with archive.open(rels_path) as handle:
            for element in _iterparse(handle, f"{{{_PKG_NS}}}Relationship"):
                targets[element.get("Id", "")] = element.get("Target", "")
    links: dict[tuple[int, int], str] = {}
    if sheet_path not in names:
        return links
    with archive.open(sheet_path) as handle:
        for element in _iterparse(handle, f"{{{_MAIN_NS}}}hyperlink"):
            target = targets.get(element.get(f"{{{_REL_NS}}}id", ""), "")
            target = target or element.get("location", "")
            ref = element.get("ref", "")
            if target and ref:
                for cell in _cells_in(ref, max_col):
                    links.setdefault(cell, target)
                    if len(links) >= MAX_HYPERLINKS:
                        return links
    return links


def _iterparse(handle: BinaryIO, tag: str) -> Iterator[Any]:
    """Elements named ``tag``, streamed; entities and DTDs are not resolved."""
    parser = etree.iterparse(
        handle, events=("end",), tag=tag, resolve_entities=False, no_network=True, load_dtd=False
    )
    try:
        for _, element in parser:
            yield element
            # Free what has been read so far: memory stays flat on huge sheets.
            element.clear()
            while element.getprevious() is not None:
                del element.getparent()[0]
    except etree.XMLSyntaxError as exc:
        raise IceSheetError(f"The workbook's XML is damaged ({exc}); download it again.") from exc


def _cells_in(ref: str, max_col: int) -> Iterator[tuple[int, int]]:
    try:
        min_col, min_row, max_c, max_row = range_boundaries(ref.split()[0])
    except (ValueError, TypeError):
        return
    if min_col is None or min_row is None:
        return
    max_c = min(max_c or min_col, max_col)
    max_row = min(max_row or min_row, min_row + MAX_ROWS)
    for row in range(min_row, max_row + 1):
        for col in range(min_col, max_c + 1):
            yield row, col


def unwrap_url(url: str) -> tuple[str, bool]:
    """The real URL behind an Outlook "safelinks" wrapper, and whether one was removed."""
    url = normalize.clean_text(url)
    unwrapped = False
    if "safelinks" not in url.lower():
        return url, False
    for _ in range(3):
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if not host.endswith("safelinks.protection.outlook.com"):
            break
        inner = parse_qs(parts.query).get("url")
        if not inner:
            break
        url, unwrapped = inner[0].strip(), True
    return url, unwrapped


# --- Rows -------------------------------------------------------------------


def _read_workbook(workbook: Any, archive: zipfile.ZipFile, data: bytes, name: str) -> IceSheet:
    sheet, warnings = _find_sheet(workbook, name)
    kind = PARTICIPATING if "signed" in sheet.positions else PENDING
    width = min(max(len(sheet.header), max(sheet.positions.values()) + 1), MAX_COLUMNS)
    labels = _raw_labels(sheet.header, width)
    link_columns = {sheet.positions[c] + 1 for c in ("moa", "addendum") if c in sheet.positions}
    links = {}
    if link_columns:
        path = getattr(sheet.worksheet, "_worksheet_path", "")
        links = _sheet_hyperlinks(archive, path, width) if path else {}
    reader = _RowReader(sheet, labels, links, kind, warnings)
    rows = reader.read(_data_cells(workbook, sheet, archive, width))
    if not rows:
        raise IceSheetError(
            f"{name} has the ICE header but no data rows; check that the download is complete."
        )
    modified, created = _core_times(archive)
    result = IceSheet(
        kind=kind,
        sheet_name=sheet.worksheet.title,
        header=sheet.header,
        columns={c: sheet.header[i] for c, i in sheet.positions.items()},
        rows=rows,
        warnings=warnings,
        modified_at=modified,
        created_at=created,
        sha256=sha256_of(data),
        size=len(data),
        county_rows=reader.county_rows,
        county_matched=reader.county_matched,
    )
    return result


def _data_cells(
    workbook: Any, sheet: _Sheet, archive: zipfile.ZipFile, width: int
) -> Iterator[tuple[int, list, list]]:
    """(row number, values, types) of the rows below the header.

    Streamed straight from the worksheet XML with lxml (several times faster
    than openpyxl's cell objects), using openpyxl's shared strings and date
    styles; openpyxl's own reader is the fallback for unusual workbooks.
    """
    first = sheet.header_row + 1
    path = getattr(sheet.worksheet, "_worksheet_path", "").lstrip("/")
    strings = getattr(sheet.worksheet, "_shared_strings", None)
    date_styles = getattr(workbook, "_date_formats", None)
    if path in archive.namelist() and strings is not None and date_styles is not None:
        epoch = getattr(workbook, "epoch", None)
        yield from _stream_rows(archive.open(path), strings, date_styles, epoch, first, width)
        return
    rows = sheet.worksheet.iter_rows(
        min_row=first, max_row=first + MAX_ROWS + MAX_BLANK_RUN, max_col=width
    )
    for number, row in enumerate(rows, start=first):
        values = [getattr(cell, "value", None) for cell in row]
        yield number, values, [getattr(cell, "data_type", None) for cell in row]


_ROW_TAG = f"{{{_MAIN_NS}}}row"
_CELL_TAG = f"{{{_MAIN_NS}}}c"
_VALUE_TAG = f"{{{_MAIN_NS}}}v"


def _stream_rows(
    handle: BinaryIO, strings: list, date_styles: set, epoch: Any, first: int, width: int
) -> Iterator[tuple[int, list, list]]:
    number = 0
    with handle:
        for row in _iterparse(handle, _ROW_TAG):
            ref = row.get("r")
            number = int(ref) if ref and ref.isdigit() else number + 1
            if number < first:
                continue
            values: list = [None] * width
            types: list = [None] * width
            column = 0
            for cell in row.iterchildren(_CELL_TAG):
                ref = cell.get("r")
                column = _column_of(ref) if ref else column + 1
                if 0 < column <= width:
                    values[column - 1], types[column - 1] = _cell_value(
                        cell, strings, date_styles, epoch
                    )
            yield number, values, types


@lru_cache(maxsize=256)
def _column_of(ref: str) -> int:
    letters = ref.rstrip("0123456789")
    try:
        return column_index_from_string(letters) if letters else 0
    except ValueError:
        return 0


def _cell_value(cell: Any, strings: list, date_styles: set, epoch: Any) -> tuple[object, str]:
    kind = cell.get("t", "n")
    if kind == "inlineStr":
        return "".join(cell.itertext()), "s"
    value = cell.findtext(_VALUE_TAG)
    if value is None:
        return None, "n"
    if kind == "s":
        try:
            return strings[int(value)], "s"
        except (ValueError, IndexError):
            return None, "s"
    if kind in ("str", "e"):
        return value, "s" if kind == "str" else "e"
    if kind == "b":
        return value == "1", "b"
    try:
        number = float(value) if any(ch in value for ch in ".eE") else int(value)
    except ValueError:
        return value, "s"
    style = cell.get("s")
    if style and style.isdigit() and int(style) in date_styles:
        try:
            return from_excel(number, epoch) if epoch else from_excel(number), "d"
        except (ValueError, OverflowError, TypeError):
            return number, "n"
    return number, "n"


def _raw_labels(header: list[str], width: int) -> list[str]:
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


_CORE_NS = "http://purl.org/dc/terms/"


def _core_times(archive: zipfile.ZipFile) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The workbook's own modified and created times (docProps/core.xml), if it has them.

    Read here rather than from openpyxl, which reports "now" when they are absent.
    """
    if "docProps/core.xml" not in archive.namelist():
        return None, None
    times = {}
    with archive.open("docProps/core.xml") as handle:
        for name in ("modified", "created"):
            handle.seek(0)
            for element in _iterparse(handle, f"{{{_CORE_NS}}}{name}"):
                times[name] = _w3c_time(element.text or "")
    return times.get("modified"), times.get("created")


def _w3c_time(text: str) -> dt.datetime | None:
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


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


class _RowReader:
    """Reads and normalizes the data rows of the chosen worksheet."""

    def __init__(self, sheet: _Sheet, labels, links, kind: str, warnings: list) -> None:
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
        url, unwrapped = unwrap_url(target)
        if unwrapped:
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
        setattr(row, "moa_url" if column == "moa" else "addendum_url", url)


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
