"""Text extraction from real MOAs, a news page, scans and hostile files."""

from __future__ import annotations

import gzip
import io
import re
import zlib
from datetime import date
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter

from research import extract as extract_module
from research.extract import (
    ExtractionError,
    extract,
    extract_html,
    extract_pdf,
    normalize_text,
    sniff_format,
    tesseract_path,
    text_sha256,
)

DATA = Path(__file__).parent / "data"
MOAS = {
    "ArcadiaPDFL_TFM_MOA_030425.pdf": (14, "Task Force Model"),
    "287gWSO_BakerCoFl2019-10-15.pdf": (12, "Baker County"),
    "287gJEM_PolkCoGa2020-07-02.pdf": (11, "Polk County"),
}


def scan_pdf(lines: list[str], pages: int = 1) -> bytes:
    """An image-only PDF: text drawn into a picture, no text layer."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=48)
    images = []
    for _ in range(pages):
        image = Image.new("L", (1240, 120 + 110 * len(lines)), 255)
        draw = ImageDraw.Draw(image)
        for i, line in enumerate(lines):
            draw.text((60, 60 + 110 * i), line, fill=0, font=font)
        images.append(image)
    out = io.BytesIO()
    images[0].save(out, format="PDF", resolution=150, save_all=True, append_images=images[1:])
    return out.getvalue()


def pdf_with_content_stream(stream: bytes, *, filtered: bool = True) -> bytes:
    """A one-page PDF whose content stream is ``stream`` (Flate-compressed if ``filtered``)."""
    filter_entry = b" /Filter /FlateDecode" if filtered else b""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>",
        b"<< /Length %d%s >>\nstream\n" % (len(stream), filter_entry) + stream + b"\nendstream",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (5, xref))
    return out.getvalue()


@pytest.mark.parametrize(("name", "expected"), MOAS.items())
def test_real_moa_pdfs_give_text_per_page(name, expected):
    pages, phrase = expected
    result = extract((DATA / name).read_bytes())
    assert result.format == "pdf"
    assert result.page_count == pages
    assert result.needs_ocr is False
    assert "MEMORANDUM OF AGREEMENT" in result.page_text(1).upper()
    assert phrase in result.text
    assert "Immigration" in result.text
    # Every page has text, and the offsets point at page starts in order.
    assert result.page_offsets[0] == 0
    assert result.page_offsets == sorted(result.page_offsets)
    assert all(result.page_text(n).strip() for n in range(1, pages + 1))
    assert result.text_sha256 == text_sha256(result.text)


def test_page_offsets_match_pypdf_pages():
    path = DATA / "287gJEM_PolkCoGa2020-07-02.pdf"
    result = extract(path.read_bytes())
    reader = PdfReader(path)
    for number in (1, 5, 11):
        expected = normalize_text(reader.pages[number - 1].extract_text())
        assert result.page_text(number) == expected


def test_html_article_gives_metadata_and_main_text_without_boilerplate():
    result = extract((DATA / "article_287g.html").read_bytes(), content_type="text/html")
    assert result.format == "html"
    assert result.title == "County sheriff signs 287(g) agreement with ICE"
    assert result.authors == ["Maria Delgado", "Tom Becker"]
    assert result.published_on == date(2025, 3, 4)
    assert result.site_name == "The Valley Ledger"
    assert result.language.startswith("en")
    assert "Jail Enforcement Model" in result.text
    assert "Commissioners were not asked to vote" in result.text
    for boilerplate in ("Subscribe today", "cookies", "Wildcats", "Privacy policy"):
        assert boilerplate not in result.text
    assert result.page_offsets == []


def test_html_without_article_keeps_visible_text():
    result = extract_html(
        b"<html><body><div>Short notice: 287(g) hearing Tuesday.</div></body></html>"
    )
    assert "287(g) hearing Tuesday" in result.text


def test_normalize_text_unicode_and_whitespace():
    decomposed = "Jose\u0301  Marti\u0301\t\r\n\r\n\r\n\r\nNext\u00a0line  \n"
    assert normalize_text(decomposed) == "José Martí\n\nNext line"


def test_same_text_gives_same_sha256_whatever_the_markup():
    a = extract_html(b"<html><body><article><p>One two three.</p></article></body></html>")
    b = extract_html(b"<html><body><main><p>One   two three.</p></main></body></html>")
    assert a.text_sha256 == b.text_sha256


@pytest.mark.skipif(
    tesseract_path() is None, reason="needs tesseract (apt-get install tesseract-ocr)"
)
def test_image_only_pdf_goes_through_ocr():
    result = extract(scan_pdf(["MEMORANDUM OF AGREEMENT", "Polk County Sheriff"]))
    assert result.ocr_used is True
    assert result.needs_ocr is False
    assert "MEMORANDUM OF AGREEMENT" in result.text
    assert "Polk County" in result.text


def test_image_only_pdf_without_tesseract_is_marked_needs_ocr(monkeypatch):
    monkeypatch.setattr(extract_module, "tesseract_path", lambda: None)
    result = extract(scan_pdf(["MEMORANDUM OF AGREEMENT"], pages=2))
    assert result.needs_ocr is True
    assert result.ocr_used is False
    assert result.page_count == 2
    assert result.text == ""


def test_text_pdf_is_not_sent_to_ocr(monkeypatch):
    def boom(reader):
        raise AssertionError("OCR must not run on a PDF with a text layer")

    monkeypatch.setattr(extract_module, "_ocr_pages", boom)
    assert extract_pdf((DATA / "287gWSO_BakerCoFl2019-10-15.pdf").read_bytes()).text


def test_password_protected_pdf_refused_with_sentence():
    writer = PdfWriter(clone_from=DATA / "287gJEM_PolkCoGa2020-07-02.pdf")
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(ExtractionError, match="password") as info:
        extract(out.getvalue())
    assert info.value.code == "encrypted_pdf"


def test_pdf_encrypted_without_user_password_is_read():
    """Owner-only protection (print/copy restrictions) does not stop extraction."""
    writer = PdfWriter(clone_from=DATA / "287gJEM_PolkCoGa2020-07-02.pdf")
    writer.encrypt(user_password="", owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    assert extract(out.getvalue()).page_count == 11


@pytest.mark.parametrize(
    "content",
    [
        b"%PDF-1.7\n this is not really a pdf at all",
        (DATA / "ArcadiaPDFL_TFM_MOA_030425.pdf").read_bytes()[:3000],
    ],
    ids=["garbage", "truncated"],
)
def test_broken_pdf_refused_with_sentence(content):
    with pytest.raises(ExtractionError, match="damaged|no pages") as info:
        extract(content)
    assert info.value.code == "broken_pdf"


def test_pdf_decompression_bomb_refused():
    bomb = zlib.compress(b"\0" * 90_000_000, 9)
    assert len(bomb) < 200_000
    with pytest.raises(ExtractionError, match="decompression bomb") as info:
        extract(pdf_with_content_stream(bomb))
    assert info.value.code == "bomb"


def test_gzip_upload_is_unpacked_and_gzip_bomb_refused():
    html = (DATA / "article_287g.html").read_bytes()
    assert "Jail Enforcement" in extract(gzip.compress(html)).text
    with pytest.raises(ExtractionError, match="decompression bomb"):
        extract(gzip.compress(b" " * 3_000_000), max_bytes=1_000_000)


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"PK\x03\x04 a zip archive", "application/zip"),
        (b"\x89PNG\r\n\x1a\n....", "image/png"),
        (b'{"json": true}', "application/json"),
    ],
)
def test_neither_html_nor_pdf_refused(content, content_type):
    with pytest.raises(ExtractionError, match="neither an HTML page nor a PDF") as info:
        extract(content, content_type=content_type)
    assert info.value.code == "unsupported_type"


def test_oversize_input_refused():
    with pytest.raises(ExtractionError, match="larger than") as info:
        extract(b"%PDF-" + b"x" * 2_000_000, max_bytes=1_000_000)
    assert info.value.code == "too_large"


def test_huge_web_page_refused(monkeypatch):
    monkeypatch.setattr(extract_module, "MAX_HTML_BYTES", 50_000)
    page = b"<html><body>" + b"<p>word</p>" * 10_000 + b"</body></html>"
    with pytest.raises(ExtractionError, match="web page is larger") as info:
        extract(page, content_type="text/html")
    assert info.value.code == "too_large"


def test_pdf_detected_by_content_even_if_served_as_octet_stream():
    content = (DATA / "287gJEM_PolkCoGa2020-07-02.pdf").read_bytes()
    assert sniff_format(content, "application/octet-stream") == "pdf"
    assert sniff_format(b"<!DOCTYPE html><html><body>x</body></html>", "") == "html"
    assert sniff_format(b"plain words", "text/plain") is None


def test_ocr_status_names_tesseract_or_says_what_to_install(monkeypatch):
    from research.extract import ocr_status

    monkeypatch.setattr(extract_module, "tesseract_path", lambda: None)
    assert ocr_status() == (
        "OCR: not available — scanned MOAs will be held for OCR; "
        "install tesseract-ocr (apt-get install -y tesseract-ocr)"
    )
    monkeypatch.undo()
    if tesseract_path() is not None:
        assert re.fullmatch(r"OCR: available \(tesseract \d+\.\d+.*\)", ocr_status())


def test_a_spreadsheet_named_pdf_is_called_what_it_is():
    """The type comes from the bytes: a renamed spreadsheet is not called a PDF."""
    sheet = (
        Path(__file__).parents[2] / "data/ice-287g/pendingAgencies06062025am.xlsx"
    ).read_bytes()

    with pytest.raises(ExtractionError) as info:
        extract(sheet, content_type="application/pdf", filename="moa.pdf")

    assert str(info.value.message).startswith("This file is a spreadsheet (xlsx), not a PDF")
    assert info.value.code == "unsupported_type"
