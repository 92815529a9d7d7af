"""Small ICE-like workbooks built by the tests, each carrying a known quirk.

``workbook(rows, ...)`` returns the bytes of an .xlsx laid out like ICE's
lists (header on row 1 unless told otherwise); ``row(...)`` fills one data row
with ordinary values that a test overrides where it needs a quirk.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterable, Sequence

from openpyxl import Workbook

PARTICIPATING_HEADER = [
    "STATE",
    "LAW ENFORCEMENT AGENCY",
    "TYPE",
    "COUNTY",
    "SUPPORT TYPE",
    "SIGNED",
    "MOA",
    "ADDENDUM",
]
PENDING_HEADER = PARTICIPATING_HEADER[:5]


def row(
    state: str = "TEXAS",
    agency: str = "Polk County Sheriff's Office",
    kind: str = "County",
    county: object = "Polk County",
    model: str = "Jail Enforcement Model",
    signed: object = dt.datetime(2025, 3, 5),
    moa: object = "link pending",
    addendum: object = None,
) -> list:
    """One participating row (a pending row is its first five cells)."""
    return [state, agency, kind, county, model, signed, moa, addendum]


def pending(**kwargs) -> list:
    return row(**kwargs)[:5]


def workbook(
    rows: Iterable[Sequence],
    *,
    header: Sequence[str] | None = None,
    links: dict[tuple[int, str], str] | None = None,
    modified: dt.datetime | None = dt.datetime(2025, 6, 1, 14, 0),
    title: str = "Sheet1",
    above_header: Iterable[Sequence] = (),
    sheets_before: dict[str, list[list]] | None = None,
    far_cell: tuple[int, int] | None = None,
    blank_block: tuple[int, int] | None = None,
) -> bytes:
    """An .xlsx in ICE's layout.

    ``links`` maps (data row index from 0, header name) to a hyperlink target;
    ``far_cell`` styles one empty cell far away, stretching the stored range
    the way ICE's files do; ``blank_block`` (rows, columns) fills that many
    formatted but empty cells below and beside the data; ``modified`` is written as the workbook's own
    modified time (None removes it).
    """
    rows = [list(r) for r in rows]
    if header is None:
        header = PARTICIPATING_HEADER if any(len(r) > 5 for r in rows) else PENDING_HEADER
    book = Workbook()
    sheet = book.active
    for name, content in (sheets_before or {}).items():
        other = book.create_sheet(name, 0)
        for values in content:
            other.append(values)
    sheet.title = title
    above = list(above_header)
    for values in above:
        sheet.append(list(values))
    sheet.append(list(header))
    for values in rows:
        sheet.append(values[: len(header)])
    first_data = len(above) + 2
    for (index, column), target in (links or {}).items():
        sheet.cell(row=first_data + index, column=list(header).index(column) + 1).hyperlink = target
    if blank_block:
        for blank_row in sheet.iter_rows(
            min_row=first_data + len(rows), max_row=first_data + len(rows) + blank_block[0],
            max_col=blank_block[1],
        ):  # fmt: skip
            for cell in blank_row:
                cell.number_format = "0.00"
    if far_cell:
        sheet.cell(row=far_cell[0], column=far_cell[1]).number_format = "0.00"
    buffer = io.BytesIO()
    book.save(buffer)
    return set_modified(buffer.getvalue(), modified)


def set_modified(data: bytes, modified: dt.datetime | None) -> bytes:
    """The same workbook with docProps/core.xml saying it was saved at ``modified`` (UTC)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "docProps/core.xml":
                text = content.decode()
                stamp = "" if modified is None else modified.strftime("%Y-%m-%dT%H:%M:%SZ")
                replacement = (
                    ""
                    if modified is None
                    else '<dcterms:modified xmlns:dcterms="http://purl.org/dc/terms/" '
                    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
                    f'xsi:type="dcterms:W3CDTF">{stamp}</dcterms:modified>'
                )
                text = re.sub(r"<dcterms:modified[^>]*>[^<]*</dcterms:modified>", replacement, text)
                content = text.encode()
            target.writestr(item, content)
    return out.getvalue()
