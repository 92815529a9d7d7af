"""Whatever bytes arrive, the ICE sheet reader gives a parsed list or its own sentence.

Arbitrary bytes, real ICE files from ``data/ice-287g`` damaged at random, real files
with one part of the workbook mutated inside an intact ZIP, and workbooks with any
text in their cells: each ends in an ``IceSheet`` or an ``IceSheetError``, never
another exception.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from agreements.ice_sheet import IceSheet, IceSheetError, read_ice_sheet
from tests.agreements.ice_builder import row, workbook

DATA = Path(__file__).resolve().parents[2] / "data" / "ice-287g"
# The smallest real files, a pending list and a participating one of 2021.
REAL = {
    path.name: path.read_bytes()
    for path in (
        DATA / "pendingAgencies06062025am.xlsx",
        DATA / "archive" / "ParticipatingEntities-20210113002027.xlsx",
    )
}


def _read(data: bytes) -> None:
    try:
        sheet = read_ice_sheet(data, filename="upload.xlsx")
    except IceSheetError as exc:
        assert str(exc).strip(), "the refusal says why"
    else:
        assert isinstance(sheet, IceSheet)


@given(st.binary(max_size=4096))
@example(b"")
@example(b"PK\x03\x04")
@example(b"PK\x05\x06" + b"\x00" * 18)
def test_any_bytes_are_read_or_refused_with_a_sentence(data):
    _read(data)


def _change(draw, data: bytearray, inserted: st.SearchStrategy[bytes]) -> None:
    """Change ``data`` in place at a drawn position: flip a byte, cut the rest off, or insert."""
    at = draw(st.integers(0, len(data) - 1))
    how = draw(st.sampled_from(["flip", "cut", "insert"]))
    if how == "flip":
        data[at] = draw(st.integers(0, 255))
    elif how == "cut":
        del data[at:]
    else:
        data[at:at] = draw(inserted)


@st.composite
def damaged(draw) -> bytes:
    """A real file with a few bytes changed, cut short or with bytes inserted."""
    data = bytearray(REAL[draw(st.sampled_from(sorted(REAL)))])
    for _ in range(draw(st.integers(1, 4))):
        if not data:  # cut to nothing: nothing left to change
            break
        _change(draw, data, st.binary(min_size=1, max_size=16))
    return bytes(data)


@given(damaged())
def test_a_damaged_real_file_is_read_or_refused_with_a_sentence(data):
    _read(data)


@st.composite
def mutated_part(draw) -> bytes:
    """A real file, still a valid ZIP, with one of its parts (sheet XML, shared
    strings, styles, workbook, relations) changed byte by byte or cut."""
    source = zipfile.ZipFile(io.BytesIO(REAL[draw(st.sampled_from(sorted(REAL)))]))
    names = source.namelist()
    target = draw(st.sampled_from(names))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            content = bytearray(source.read(name))
            if name == target and content:
                _change(draw, content, st.sampled_from([b"<", b"&", b'"', b"\x00", b"99999999"]))
            archive.writestr(name, bytes(content))
    return out.getvalue()


@given(mutated_part())
def test_a_real_file_with_one_part_mutated_is_read_or_refused_with_a_sentence(data):
    _read(data)


cell = st.one_of(
    st.none(),
    st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=30),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.datetimes(min_value=dt.datetime(1900, 3, 1), max_value=dt.datetime(9999, 1, 1)),
)


@given(st.lists(st.lists(cell, min_size=8, max_size=8), min_size=1, max_size=5))
def test_any_cell_values_are_read_or_refused_with_a_sentence(cells):
    rows = [row(), *cells]
    _read(workbook(rows))


def _with_sheet_xml(change) -> bytes:
    """The real pending list with its worksheet XML changed by ``change``."""
    source = zipfile.ZipFile(io.BytesIO(REAL["pendingAgencies06062025am.xlsx"]))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in source.namelist():
            content = source.read(name)
            archive.writestr(
                name, change(content) if name == "xl/worksheets/sheet1.xml" else content
            )
    return out.getvalue()


def test_a_worksheet_cut_short_is_refused_as_damaged():
    data = _with_sheet_xml(lambda xml: xml[:2000])

    with pytest.raises(IceSheetError, match="damaged"):
        read_ice_sheet(data, filename="cut.xlsx")


def test_a_worksheet_with_a_mangled_attribute_is_refused_as_damaged():
    data = _with_sheet_xml(lambda xml: xml.replace(b"defaultRowHeight", b"default99RowHeight"))

    with pytest.raises(IceSheetError, match="damaged"):
        read_ice_sheet(data, filename="mangled.xlsx")
