"""Text and metadata from fetched or uploaded files: HTML pages and PDFs.

Pure code, no database: bytes in, an ``Extraction`` out, or an
``ExtractionError`` whose message is a sentence for the curator. HTML goes
through trafilatura (boilerplate removed); PDFs through pypdf page by page, with
the offset where each page starts kept (text through PDFium when installed,
pypdf otherwise; pypdf's decompression limits screen every page first). A PDF without a text layer is put through
Tesseract when it is installed, and marked as needing OCR otherwise.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import shutil
import subprocess
import tempfile
import unicodedata
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import filetype

from portal.units import size_text

logger = logging.getLogger(__name__)

MAX_INPUT_BYTES = 100 * 1024 * 1024
# Extracted text beyond this is not a document a person wrote: it is a bomb.
MAX_TEXT_CHARS = 20_000_000
MAX_PDF_PAGES = 5000
# Real articles are far smaller; parsing a bigger page costs minutes of CPU.
MAX_HTML_BYTES = 10 * 1024 * 1024
OCR_MAX_PAGES = 60
OCR_PAGE_TIMEOUT_SECONDS = 60
# Fewer visible characters per page than this, on pages carrying images, means
# the PDF is a scan without a text layer.
IMAGE_ONLY_CHARS_PER_PAGE = 25
PAGE_SEPARATOR = "\n\n"
HTML_TYPES = {"text/html", "application/xhtml+xml"}
PDF_TYPES = {"application/pdf", "application/x-pdf"}


class ExtractionError(Exception):
    """The file cannot be turned into text; ``message`` says why in a sentence."""

    def __init__(self, message: str, *, code: str):
        super().__init__(message)
        self.message = message
        # "unsupported_type", "too_large", "bomb", "encrypted_pdf", "broken_pdf", "empty".
        self.code = code

    def __str__(self) -> str:
        return self.message


@dataclass
class Extraction:
    format: str  # "html" or "pdf"
    text: str
    title: str = ""
    authors: list[str] = field(default_factory=list)
    published_on: date | None = None
    site_name: str = ""
    file_created_on: date | None = None
    file_modified_on: date | None = None
    language: str = ""
    page_offsets: list[int] = field(default_factory=list)
    needs_ocr: bool = False
    ocr_used: bool = False

    @property
    def text_sha256(self) -> str:
        return text_sha256(self.text)

    @property
    def page_count(self) -> int:
        return len(self.page_offsets)

    def page_text(self, number: int) -> str:
        """The text of page ``number`` (1-based) of a PDF."""
        starts = self.page_offsets
        start = starts[number - 1]
        end = starts[number] - len(PAGE_SEPARATOR) if number < len(starts) else len(self.text)
        return self.text[start:end]


# --- Text normalization --------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\ufeff]")
_SPACES = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def normalize_text(text: str) -> str:
    """NFC, one space between words, no trailing spaces, at most one blank line."""
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- Format detection ----------------------------------------------------------


def sniff_format(content: bytes, content_type: str = "", filename: str = "") -> str | None:
    """ "pdf", "html", or None when the bytes are neither."""
    head = content[:1024].lstrip()
    if b"%PDF-" in content[:1024]:
        return "pdf"
    lowered = head[:512].lower()
    if (
        lowered.startswith((b"<!doctype html", b"<html", b"<?xml"))
        and b"<html" in content[:4096].lower()
    ):
        return "html"
    content_type = content_type.split(";", 1)[0].strip().lower()
    if content_type in HTML_TYPES or (
        not content_type and filename.lower().endswith((".html", ".htm"))
    ):
        return "html" if b"<" in content[:4096] else None
    if lowered.startswith((b"<head", b"<body", b"<meta", b"<title", b"<!--")):
        return "html"
    return None


# What a file that is neither HTML nor PDF is, by its first bytes, in words.
_TYPE_NAMES = {
    "xlsx": "a spreadsheet (xlsx)",
    "xls": "a spreadsheet (xls)",
    "ods": "a spreadsheet (ods)",
    "docx": "a Word document (docx)",
    "doc": "a Word document (doc)",
    "odt": "a text document (odt)",
    "pptx": "a presentation (pptx)",
    "zip": "a ZIP archive",
    "png": "an image (png)",
    "jpg": "an image (jpeg)",
    "gif": "an image (gif)",
    "webp": "an image (webp)",
    "tif": "an image (tiff)",
}


def _unsupported(content: bytes, content_type: str, filename: str) -> ExtractionError:
    """The refusal of a file that is neither HTML nor PDF, naming what it really is.

    The type comes from the file's own bytes, not its name or declared type, so
    a spreadsheet renamed ``.pdf`` is called a spreadsheet.
    """
    declared = content_type.split(";", 1)[0].strip().lower()
    guessed = filetype.guess(content[:8192])
    if guessed is not None:
        real = _TYPE_NAMES.get(guessed.extension, f"a {guessed.extension} file ({guessed.mime})")
    else:
        known = declared and declared not in {"application/pdf", *HTML_TYPES}
        real = f"of type {declared}" if known else "of an unknown type"
    if declared == "application/pdf" or filename.lower().endswith(".pdf"):
        message = f"This file is {real}, not a PDF: only PDFs and HTML pages can be processed."
    elif declared in HTML_TYPES or filename.lower().endswith((".html", ".htm")):
        message = (
            f"This file is {real}, not an HTML page: only PDFs and HTML pages can be processed."
        )
    else:
        message = (
            f"This file is {real}, neither an HTML page nor a PDF; only those two can be processed."
        )
    return ExtractionError(message, code="unsupported_type")


def _gunzip(content: bytes, max_bytes: int) -> bytes:
    decompressor = zlib.decompressobj(zlib.MAX_WBITS | 16)
    try:
        data = decompressor.decompress(content, max_bytes + 1)
    except zlib.error as exc:
        raise ExtractionError(
            "The file looks gzip-compressed but is damaged.", code="broken_file"
        ) from exc
    if len(data) > max_bytes or decompressor.unconsumed_tail:
        raise ExtractionError(
            "The compressed file expands to more than the portal accepts "
            "(a decompression bomb); it was not processed.",
            code="bomb",
        )
    return data


def extract(
    content: bytes,
    *,
    content_type: str = "",
    filename: str = "",
    url: str = "",
    charset: str = "",
    ocr: bool = True,
    max_bytes: int = MAX_INPUT_BYTES,
) -> Extraction:
    """Extract text and metadata from an HTML page or a PDF.

    ``charset`` is the one the server declared; it wins over guessing.
    """
    if len(content) > max_bytes:
        raise ExtractionError(
            f"The file is larger than the {size_text(max_bytes)} the portal accepts.",
            code="too_large",
        )
    if content[:2] == b"\x1f\x8b":
        content = _gunzip(content, max_bytes)
    if not content.strip():
        raise ExtractionError("The file is empty.", code="empty")
    kind = sniff_format(content, content_type, filename)
    if kind == "pdf":
        return extract_pdf(content, ocr=ocr)
    if kind == "html":
        return extract_html(content, url=url, charset=charset)
    raise _unsupported(content, content_type, filename)


# --- HTML ----------------------------------------------------------------------

_LANG = re.compile(rb"<html[^>]*\blang\s*=\s*[\"']?([A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})?)", re.I)


def _parse_date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _split_authors(value: str | None) -> list[str]:
    if not value:
        return []
    names = [normalize_text(name) for name in re.split(r";|\band\b|\|", value)]
    return [name for name in names if name][:20]


def _decode(raw: bytes, charset: str) -> bytes | str:
    """Text in the declared charset; the bytes (for trafilatura to guess) otherwise."""
    if not charset:
        return raw
    try:
        return raw.decode(charset, errors="replace")
    except LookupError:
        return raw


def extract_html(content: bytes | str, *, url: str = "", charset: str = "") -> Extraction:
    """Main text and metadata of a web page, navigation and boilerplate removed."""
    import trafilatura

    raw = content.encode("utf-8") if isinstance(content, str) else content
    if len(raw) > MAX_HTML_BYTES:
        raise ExtractionError(
            f"The web page is larger than the {size_text(MAX_HTML_BYTES)} "
            "the portal parses; it is not an article.",
            code="too_large",
        )
    result = trafilatura.bare_extraction(
        _decode(raw, charset),
        url=url or None,
        with_metadata=True,
        include_comments=False,
        include_tables=True,
    )
    text = ""
    if result is not None:
        text = normalize_text(result.text or "")
    if not text:
        # No article found: keep the page's visible text rather than nothing.
        text = normalize_text(trafilatura.html2txt(_decode(raw, charset)) or "")
    if not text:
        raise ExtractionError("The page has no readable text.", code="empty")
    if len(text) > MAX_TEXT_CHARS:
        raise ExtractionError("The page's text is implausibly long.", code="bomb")
    language = (result.language if result is not None else None) or ""
    if not language:
        match = _LANG.search(raw[:8192])
        language = match.group(1).decode() if match else ""
    return Extraction(
        format="html",
        text=text,
        title=normalize_text(result.title or "")[:500] if result is not None else "",
        authors=_split_authors(result.author if result is not None else None),
        published_on=_parse_date(result.date if result is not None else None),
        site_name=normalize_text(result.sitename or "")[:255] if result is not None else "",
        language=language.lower()[:12],
    )


# --- PDF -----------------------------------------------------------------------


def tesseract_path() -> str | None:
    return shutil.which("tesseract") or (
        "/usr/bin/tesseract" if Path("/usr/bin/tesseract").exists() else None
    )


def ocr_status() -> str:
    """One line saying whether scans can be read, for ``make run`` to print first."""
    binary = tesseract_path()
    version = ""
    if binary is not None:
        try:
            done = subprocess.run([binary, "--version"], capture_output=True, timeout=10)
            version = (done.stdout or done.stderr).decode("utf-8", "replace").split("\n")[0]
        except (OSError, subprocess.SubprocessError):
            binary = None
    if binary is None:
        return (
            "OCR: not available — scanned MOAs will be held for OCR; "
            "install tesseract-ocr (apt-get install -y tesseract-ocr)"
        )
    return f"OCR: available ({version.strip() or 'tesseract'})"


def _open_pdf(content: bytes):
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, LimitReachedError, PyPdfError

    try:
        reader = PdfReader(io.BytesIO(content))
        if reader.is_encrypted:
            try:
                unlocked = reader.decrypt("")
            except (DependencyError, NotImplementedError, PyPdfError) as exc:
                raise ExtractionError(
                    "The PDF is encrypted and cannot be read; upload an unprotected copy.",
                    code="encrypted_pdf",
                ) from exc
            if not unlocked:
                raise ExtractionError(
                    "The PDF is protected by a password; upload an unprotected copy.",
                    code="encrypted_pdf",
                )
        pages = reader.pages
        count = len(pages)
    except ExtractionError:
        raise
    except LimitReachedError as exc:
        raise _bomb() from exc
    except Exception as exc:  # pypdf raises many kinds on damaged files
        raise _broken(exc) from exc
    if count == 0:
        raise ExtractionError("The PDF has no pages.", code="broken_pdf")
    if count > MAX_PDF_PAGES:
        raise ExtractionError(
            f"The PDF has {count} pages, more than the {MAX_PDF_PAGES} the portal processes.",
            code="too_large",
        )
    return reader


def _bomb() -> ExtractionError:
    return ExtractionError(
        "The PDF contains a stream that expands beyond the portal's limits "
        "(a decompression bomb); it was not processed.",
        code="bomb",
    )


def _broken(exc: Exception) -> ExtractionError:
    return ExtractionError(
        f"The PDF is damaged and cannot be read ({exc.__class__.__name__}); "
        "try another copy of the file.",
        code="broken_pdf",
    )


def _page_has_images(page) -> bool:
    try:
        resources = page.get("/Resources") or {}
        xobjects = resources.get("/XObject") or {}
        return any(xobjects[name].get_object().get("/Subtype") == "/Image" for name in xobjects)
    except Exception:
        return False


@dataclass(frozen=True)
class _PdfMetadata:
    title: str = ""
    authors: tuple[str, ...] = ()
    created: date | None = None
    modified: date | None = None
    language: str = ""


def _pdf_metadata(reader) -> _PdfMetadata:
    try:
        meta = reader.metadata or {}
        created = getattr(reader.metadata, "creation_date", None) if reader.metadata else None
        modified = getattr(reader.metadata, "modification_date", None) if reader.metadata else None
        return _PdfMetadata(
            title=normalize_text(str(meta.get("/Title") or ""))[:500],
            authors=tuple(_split_authors(str(meta.get("/Author") or ""))),
            created=created.date() if isinstance(created, datetime) else None,
            modified=modified.date() if isinstance(modified, datetime) else None,
            language=str(reader.trailer["/Root"].get("/Lang") or "")[:12].lower(),
        )
    except Exception:
        return _PdfMetadata()


def _screen_streams(reader) -> None:
    """Decompress every page's content stream under pypdf's limits: bombs stop here."""
    from pypdf.errors import LimitReachedError

    try:
        for page in reader.pages:
            contents = page.get_contents()
            if contents is not None:
                contents.get_data()
    except LimitReachedError as exc:
        raise _bomb() from exc
    except Exception as exc:
        raise _broken(exc) from exc


def _texts_with_pdfium(content: bytes) -> list[str]:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(content)
    try:
        texts = []
        for index in range(len(document)):
            page = document[index]
            textpage = page.get_textpage()
            texts.append(textpage.get_text_range())
            textpage.close()
            page.close()
        return texts
    finally:
        document.close()


def _texts_with_pypdf(reader) -> list[str]:
    return [page.extract_text() or "" for page in reader.pages]


def _page_texts(content: bytes, reader) -> list[str]:
    """Raw text of each page: PDFium when installed (6x faster), else pypdf."""
    from pypdf.errors import LimitReachedError

    try:
        try:
            raw = _texts_with_pdfium(content)
        except ImportError:
            raw = _texts_with_pypdf(reader)
        except Exception:
            # PDFium refused a file pypdf could open: let pypdf try.
            logger.info("PDFium could not read the PDF; falling back to pypdf.", exc_info=True)
            raw = _texts_with_pypdf(reader)
    except LimitReachedError as exc:
        raise _bomb() from exc
    except Exception as exc:
        raise _broken(exc) from exc
    pages = []
    total = 0
    for text in raw:
        page_text = normalize_text(text)
        total += len(page_text)
        if total > MAX_TEXT_CHARS:
            raise _bomb()
        pages.append(page_text)
    return pages


def extract_pdf(content: bytes, *, ocr: bool = True) -> Extraction:
    """Text of each page, with page offsets; scans go through OCR when possible."""
    reader = _open_pdf(content)
    _screen_streams(reader)
    pages = _page_texts(content, reader)
    if len(pages) != len(reader.pages):
        pages = _texts_with_pypdf(reader)
        pages = [normalize_text(text) for text in pages]

    meta = _pdf_metadata(reader)
    needs_ocr = False
    ocr_used = False
    visible = sum(len(p.replace(" ", "").replace("\n", "")) for p in pages)
    if visible < IMAGE_ONLY_CHARS_PER_PAGE * len(pages) and any(
        _page_has_images(page) for page in reader.pages
    ):
        recognized = _ocr_pages(reader) if ocr else None
        if recognized is None:
            needs_ocr = True
        else:
            pages, ocr_used = recognized, True
    text, offsets = join_pages(pages)
    return Extraction(
        format="pdf",
        text=text,
        title=meta.title,
        authors=list(meta.authors),
        # A PDF's dates say when the file was made (an MOA's is often weeks
        # before its signing): kept as the file's, never as a publication date.
        file_created_on=meta.created,
        file_modified_on=meta.modified,
        language=meta.language,
        page_offsets=offsets,
        needs_ocr=needs_ocr,
        ocr_used=ocr_used,
    )


def join_pages(pages: list[str]) -> tuple[str, list[int]]:
    """The pages as one text, and where each page starts in it; empty pages give an empty text."""
    if not any(pages):
        return "", [0] * len(pages)
    offsets: list[int] = []
    position = 0
    for i, page in enumerate(pages):
        if i:
            position += len(PAGE_SEPARATOR)
        offsets.append(position)
        position += len(page)
    return PAGE_SEPARATOR.join(pages), offsets


def _ocr_pages(reader) -> list[str] | None:
    """OCR every page's largest image with Tesseract; None if that is not possible."""
    binary = tesseract_path()
    if binary is None or len(reader.pages) > OCR_MAX_PAGES:
        return None
    pages: list[str] = []
    with tempfile.TemporaryDirectory(prefix="ocr-") as folder:
        for number, page in enumerate(reader.pages, start=1):
            try:
                images = list(page.images)
            except Exception:
                logger.warning("Could not read the images of page %s for OCR.", number)
                return None
            if not images:
                pages.append("")
                continue
            largest = max(images, key=lambda img: len(img.data))
            path = Path(folder) / f"page-{number}.png"
            try:
                largest.image.save(path)
                done = subprocess.run(
                    [binary, str(path), "stdout"],
                    capture_output=True,
                    timeout=OCR_PAGE_TIMEOUT_SECONDS,
                    check=True,
                )
            except (OSError, subprocess.SubprocessError, ValueError) as exc:
                logger.warning("OCR of page %s failed: %s", number, exc)
                return None
            pages.append(normalize_text(done.stdout.decode("utf-8", "replace")))
    if not any(pages):
        return None
    return pages
