"""Low-level access to an .xlsx: checks on the archive, streamed rows and
hyperlinks, the workbook's own times. No knowledge of ICE's columns."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import zipfile
import zlib
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO
from urllib.parse import parse_qs, urlsplit

from lxml import etree
from openpyxl.utils import column_index_from_string
from openpyxl.utils.cell import range_boundaries
from openpyxl.utils.datetime import from_excel

from agreements import normalize
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
    except DAMAGED_ZIP_ERRORS as exc:
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


@lru_cache(maxsize=65536)
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


def data_cells(
    workbook: Any, sheet: SheetLayout, archive: zipfile.ZipFile, width: int
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
