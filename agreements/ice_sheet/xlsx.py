"""Low-level access to an .xlsx: checks on the archive, streamed rows and
hyperlinks, the workbook's own times. No knowledge of ICE's columns."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO
from xml.etree import ElementTree

from lxml import etree
from openpyxl.utils import column_index_from_string
from openpyxl.utils.cell import range_boundaries
from openpyxl.utils.datetime import from_excel

from agreements.ice_sheet.base import (
    MAX_BLANK_RUN,
    MAX_ROWS,
    IceSheetError,
    SheetLayout,
)

MAX_FILE_BYTES = 25 * 1024 * 1024
MAX_UNCOMPRESSED_BYTES = 64 * 1024 * 1024  # ICE lists unpack to ~1 MB
MAX_COMPRESSION_RATIO = 250
MAX_HYPERLINKS = 200_000


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


# What a corrupt member of a zip archive raises when it is read.
DAMAGED_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError)
# openpyxl streams a worksheet's XML only as its rows are read, with the standard
# library's parser or lxml: a damaged part surfaces then.
DAMAGED_XML_ERRORS = (ElementTree.ParseError, etree.XMLSyntaxError)


def open_archive(data: bytes, name: str) -> zipfile.ZipFile:
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
    try:
        bad = archive.testzip() if total < 50 * 1024 * 1024 else None
    except (*DAMAGED_ZIP_ERRORS, ValueError) as exc:  # ValueError: a member's offset is wrong
        archive.close()
        raise IceSheetError(
            f"{name} is damaged: part of it cannot be unpacked ({exc}); download it again."
        ) from exc
    if bad is not None:
        archive.close()
        raise IceSheetError(f"{name} is damaged ({bad} fails its checksum); download it again.")
    return archive


# --- Hyperlinks ---------------------------------------------------------------

_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_PKG_NS = "http://schemas.openxmlformats.org/package/2006/relationships"


def sheet_hyperlinks(archive: zipfile.ZipFile, sheet_path: str, max_col: int) -> dict:
    """Cell (row, column) -> hyperlink target, streamed from the worksheet XML."""
    sheet_path = sheet_path.lstrip("/")
    if sheet_path not in set(archive.namelist()):
        return {}
    with archive.open(sheet_path) as handle:
        elements = [
            (e.get("ref", ""), e.get(f"{{{_REL_NS}}}id", ""), e.get("location", ""))
            for e in _iterparse(handle, f"{{{_MAIN_NS}}}hyperlink")
        ]
    return _link_cells(elements, _link_targets(archive, sheet_path), max_col)


def _link_targets(archive: zipfile.ZipFile, sheet_path: str) -> dict[str, str]:
    """Relationship id -> target, from the worksheet's relationships part."""
    path = PurePosixPath(sheet_path.lstrip("/"))
    rels_path = str(path.parent / "_rels" / f"{path.name}.rels")
    targets: dict[str, str] = {}
    if rels_path in set(archive.namelist()):
        with archive.open(rels_path) as handle:
            for element in _iterparse(handle, f"{{{_PKG_NS}}}Relationship"):
                targets[element.get("Id", "")] = element.get("Target", "")
    return targets


def _link_cells(
    elements: list[tuple[str, str, str]], targets: dict[str, str], max_col: int
) -> dict[tuple[int, int], str]:
    """Cell (row, column) -> target of the hyperlink elements (ref, relationship id, location)."""
    links: dict[tuple[int, int], str] = {}
    for ref, rel_id, location in elements:
        target = targets.get(rel_id, "") or location
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


def worksheet_rows(worksheet: Any, **bounds: int) -> Iterator[tuple]:
    """openpyxl's rows of ``worksheet`` within ``bounds``; a damaged worksheet is an IceSheetError.

    openpyxl reads a worksheet's XML only as its rows are iterated, and raises
    whatever its element classes raise on a malformed one (TypeError, ValueError,
    KeyError...), so its errors are turned into the reader's own here.
    """
    rows = worksheet.iter_rows(**bounds)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except Exception as exc:  # openpyxl raises many kinds on a damaged worksheet
            raise IceSheetError(
                f"The worksheet “{worksheet.title}” is damaged and cannot be read "
                f"({type(exc).__name__}); download the file again."
            ) from exc
        yield row


def sheet_contents(
    workbook: Any, sheet: SheetLayout, archive: zipfile.ZipFile, width: int, links: bool
) -> tuple[Iterable[tuple[int, list, list]], dict]:
    """The rows below the header as (row number, values, types), and the cells' hyperlinks.

    Both come from one streamed pass over the worksheet XML (``_SheetTarget``:
    no tree is built, so memory stays flat however large the stored range),
    using openpyxl's shared strings and date styles; openpyxl's own reader is
    the fallback for unusual workbooks. ``links``: whether hyperlinks are wanted.
    """
    first = sheet.header_row + 1
    path = getattr(sheet.worksheet, "_worksheet_path", "").lstrip("/")
    strings = getattr(sheet.worksheet, "_shared_strings", None)
    date_styles = getattr(workbook, "_date_formats", None)
    names = set(archive.namelist())
    if path in names and strings is not None and date_styles is not None:
        epoch = getattr(workbook, "epoch", None)
        target = _SheetTarget(strings, date_styles, epoch, first, width)
        parser = etree.XMLParser(
            target=target, resolve_entities=False, no_network=True, load_dtd=False
        )
        try:
            with archive.open(path) as handle:
                for chunk in iter(lambda: handle.read(1 << 16), b""):
                    parser.feed(chunk)
            parser.close()
        except etree.XMLSyntaxError as exc:
            raise IceSheetError(
                f"The workbook's XML is damaged ({exc}); download it again."
            ) from exc
        found = {}
        if links and target.hyperlinks:
            found = _link_cells(target.hyperlinks, _link_targets(archive, path), width)
        return target.rows, found
    found = sheet_hyperlinks(archive, path, width) if links and path else {}
    rows = worksheet_rows(
        sheet.worksheet, min_row=first, max_row=first + MAX_ROWS + MAX_BLANK_RUN, max_col=width
    )
    return (
        (
            (
                number,
                [getattr(c, "value", None) for c in row],
                [getattr(c, "data_type", None) for c in row],
            )
            for number, row in enumerate(rows, start=first)
        ),
        found,
    )


_ROW_TAG = f"{{{_MAIN_NS}}}row"
_CELL_TAG = f"{{{_MAIN_NS}}}c"
_VALUE_TAG = f"{{{_MAIN_NS}}}v"
_HYPERLINK_TAG = f"{{{_MAIN_NS}}}hyperlink"
_REL_ID = f"{{{_REL_NS}}}id"


class _SheetTarget:
    """lxml parser target for a worksheet: its data rows and hyperlink elements.

    Called back per tag, it builds no tree. Rows with no value in the first
    ``width`` columns are not kept, and past the data (more than
    ``MAX_BLANK_RUN`` rows after the last filled one, or ``MAX_ROWS`` rows)
    cells are ignored: the row reader stops there too.
    """

    def __init__(self, strings: list, date_styles: set, epoch: Any, first: int, width: int):
        self.strings, self.date_styles, self.epoch = strings, date_styles, epoch
        self.first, self.width = first, width
        self.rows: list[tuple[int, list, list]] = []
        self.hyperlinks: list[tuple[str, str, str]] = []  # (ref, relationship id, location)
        self.number = 0
        self.last_filled = first - 1
        self.done = False
        # The row being read (None: not kept), and the cell being read (column 0: none).
        self.values: list | None = None
        self.types: list = []
        self.filled = False
        self.column = 0
        self.in_cell = False
        self.kind = "n"
        self.style: str | None = None
        self.value: str | None = None  # the <v> text
        self.text: list[str] | None = None  # collects character data when not None

    def start(self, tag: str, attrib: Any) -> None:
        if tag == _CELL_TAG:
            if self.values is None:
                return
            ref = attrib.get("r")
            self.column = _column_of(ref) if ref else self.column + 1
            if 0 < self.column <= self.width:
                self.in_cell, self.kind, self.style = True, attrib.get("t", "n"), attrib.get("s")
                self.value = None
                # An inline string is all the text of the cell, as itertext() reads it.
                self.text = [] if self.kind == "inlineStr" else None
        elif tag == _VALUE_TAG:
            if self.in_cell and self.kind != "inlineStr":
                self.text = []
        elif tag == _ROW_TAG:
            ref = attrib.get("r")
            self.number = int(ref) if ref and ref.isdigit() else self.number + 1
            self.column = 0
            if self.number >= self.first and not self.done:
                self.values, self.types = [None] * self.width, [None] * self.width
                self.filled = False
        elif tag == _HYPERLINK_TAG:
            self.hyperlinks.append(
                (attrib.get("ref", ""), attrib.get(_REL_ID, ""), attrib.get("location", ""))
            )

    def data(self, text: str) -> None:
        if self.text is not None:
            self.text.append(text)

    def end(self, tag: str) -> None:
        if tag == _VALUE_TAG:
            if self.in_cell and self.kind != "inlineStr" and self.value is None:
                self.value = "".join(self.text or ())
                self.text = None
        elif tag == _CELL_TAG:
            if not self.in_cell:
                return
            if self.kind == "inlineStr":
                value, data_type = "".join(self.text or ()), "s"
            else:
                value, data_type = _cell_value(
                    self.kind, self.style, self.value, self.strings, self.date_styles, self.epoch
                )
            self.values[self.column - 1], self.types[self.column - 1] = value, data_type
            if not (value is None or (isinstance(value, str) and not value.strip())):
                self.filled = True
            self.in_cell, self.text = False, None
        elif tag == _ROW_TAG:
            if self.values is not None and self.filled:
                if self.number - self.last_filled > MAX_BLANK_RUN or len(self.rows) > MAX_ROWS:
                    self.done = True  # the row reader stops at this row: keep no more
                self.rows.append((self.number, self.values, self.types))
                self.last_filled = self.number
            self.values = None

    def close(self) -> None:
        return None


@lru_cache(maxsize=256)
def _column_of(ref: str) -> int:
    letters = ref.rstrip("0123456789")
    try:
        return column_index_from_string(letters) if letters else 0
    except ValueError:
        return 0


def _cell_value(
    kind: str, style: str | None, value: str | None, strings: list, date_styles: set, epoch: Any
) -> tuple[object, str]:
    """A cell's value and openpyxl's type letter, from its type, style and ``<v>`` text."""
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
    if style and style.isdigit() and int(style) in date_styles:
        try:
            return from_excel(number, epoch) if epoch else from_excel(number), "d"
        except (ValueError, OverflowError, TypeError):
            return number, "n"
    return number, "n"


_CORE_NS = "http://purl.org/dc/terms/"


def core_times(archive: zipfile.ZipFile) -> tuple[dt.datetime | None, dt.datetime | None]:
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
