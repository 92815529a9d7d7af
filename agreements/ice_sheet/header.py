"""Finding the worksheet and header row of an ICE list by column names."""

from __future__ import annotations

import re
from typing import Any

from rapidfuzz import fuzz

from agreements import normalize
from agreements.ice_sheet.base import (
    COLUMNS,
    HEADER_CUTOFF,
    HEADER_SCAN_ROWS,
    MAX_COLUMNS,
    MAX_SHEETS,
    REQUIRED,
    IceSheetError,
    SheetLayout,
    SheetWarning,
)
from agreements.ice_sheet.xlsx import worksheet_rows

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


def _header_candidate(values: tuple) -> SheetLayout | None:
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
    return SheetLayout(None, 0, header, positions, renamed, score)


def find_sheet(workbook: Any, name: str) -> tuple[SheetLayout, list[SheetWarning]]:
    best: SheetLayout | None = None
    warnings = []
    sheets = workbook.worksheets[:MAX_SHEETS]
    for worksheet in sheets:
        if not hasattr(worksheet, "iter_rows"):
            continue  # a chartsheet
        rows = worksheet_rows(
            worksheet, min_row=1, max_row=HEADER_SCAN_ROWS, max_col=MAX_COLUMNS, values_only=True
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
