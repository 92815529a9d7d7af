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

import io
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

import openpyxl

from agreements.choices import PARTICIPATING, PENDING
from agreements.ice_sheet.base import (
    BLANK_LINK_COLUMN,
    MAX_COLUMNS,
    IceSheet,
    IceSheetError,
    SheetRow,
    SheetWarning,
)
from agreements.ice_sheet.header import find_sheet
from agreements.ice_sheet.links import ice_url
from agreements.ice_sheet.rows import RowReader, raw_labels
from agreements.ice_sheet.xlsx import (
    DAMAGED_XML_ERRORS,
    DAMAGED_ZIP_ERRORS,
    core_times,
    open_archive,
    read_bytes,
    sha256_of,
    sheet_contents,
)

__all__ = [
    "BLANK_LINK_COLUMN",
    "PARTICIPATING",
    "PENDING",
    "IceSheet",
    "IceSheetError",
    "SheetRow",
    "SheetWarning",
    "read_bytes",
    "read_ice_sheet",
    "sha256_of",
    "ice_url",
]

# --- Entry point ------------------------------------------------------------


def read_ice_sheet(source: Path | str | BinaryIO | bytes, *, filename: str = "") -> IceSheet:
    """Read an ICE participating or pending list; raise IceSheetError if it is not one."""
    data = read_bytes(source)
    name = filename or (Path(source).name if isinstance(source, (str, Path)) else "the file")
    archive = open_archive(data, name)
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
    except DAMAGED_ZIP_ERRORS as exc:
        raise IceSheetError(
            f"{name} is damaged: part of it cannot be unpacked ({exc}); download it again."
        ) from exc
    except DAMAGED_XML_ERRORS as exc:
        raise IceSheetError(
            f"{name} is damaged: part of the workbook is not well-formed XML ({exc}); "
            "download it again."
        ) from exc
    finally:
        workbook.close()
        archive.close()


def _read_workbook(workbook: Any, archive: zipfile.ZipFile, data: bytes, name: str) -> IceSheet:
    sheet, warnings = find_sheet(workbook, name)
    kind = PARTICIPATING if "signed" in sheet.positions else PENDING
    width = min(max(len(sheet.header), max(sheet.positions.values()) + 1), MAX_COLUMNS)
    labels = raw_labels(sheet.header, width)
    wants_links = any(c in sheet.positions for c in ("moa", "addendum"))
    cells, links = sheet_contents(workbook, sheet, archive, width, wants_links)
    reader = RowReader(sheet, labels, links, kind, warnings)
    rows = reader.read(cells)
    if not rows:
        raise IceSheetError(
            f"{name} has the ICE header but no data rows; check that the download is complete."
        )
    warnings.extend(_blank_link_columns(sheet, rows))
    modified, created = core_times(archive)
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


def _blank_link_columns(sheet: Any, rows: list[SheetRow]) -> list[SheetWarning]:
    """A warning for each link column without a single link: it is read as if absent, since
    a column left blank says nothing of the MOAs (not that every one was removed)."""
    warnings = []
    for column in ("moa", "addendum"):
        if column in sheet.positions and not any(getattr(r, f"{column}_url") for r in rows):
            header = str(sheet.header[sheet.positions[column]])
            warnings.append(
                SheetWarning(
                    row=None,
                    column=header,
                    value="",
                    message=f"The {header} column has no link in any row: it is read as if the "
                    "list had no such column, so no MOA link counts as removed.",
                    code=BLANK_LINK_COLUMN,
                )
            )
    return warnings
