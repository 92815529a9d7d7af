"""Documents in by URL and upload: queued first, fetched, extracted, de-duplicated."""

from __future__ import annotations

import hashlib
import io
import zlib
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from pypdf import PdfWriter

from research.models import Document, DocumentAgency, DocumentAgreement, DocumentURL
from research.services.ingest import (
    MAX_ATTEMPTS,
    DocumentNotVisible,
    IngestError,
    document_process,
    document_submit,
    document_submit_as,
    documents_requeue_stale,
)
from tests.research.factories import (
    AgencyFactory,
    AgreementFactory,
    CuratorFactory,
    ResearcherFactory,
)
from tests.research.test_extract import pdf_with_content_stream

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent / "data"
POLK = DATA / "287gJEM_PolkCoGa2020-07-02.pdf"
BAKER = DATA / "287gWSO_BakerCoFl2019-10-15.pdf"
ARTICLE = (DATA / "article_287g.html").read_bytes()
PDF = {"Content-Type": "application/pdf"}
HTML = {"Content-Type": "text/html; charset=utf-8"}


@pytest.fixture(autouse=True)
def _no_pace(settings):
    settings.FETCH_HOST_INTERVAL_SECONDS = 0


@pytest.fixture
def submit(django_capture_on_commit_callbacks):
    """Submit, then run what was queued after commit (the in-process task)."""

    def run(**kwargs) -> Document:
        with django_capture_on_commit_callbacks(execute=True):
            document = document_submit(**kwargs)
        document.refresh_from_db()
        return document

    return run


def requeue(document: Document) -> None:
    """What a curator's re-extract does: back to the queue."""
    Document.objects.filter(pk=document.pk).update(status=Document.Status.QUEUED, attempts=0)


# --- The queue lives in the database ---------------------------------------------


def test_submission_is_a_queued_document_before_any_task_is_sent(
    local_server, django_capture_on_commit_callbacks
):
    local_server.routes["/moa.pdf"] = (200, PDF, POLK.read_bytes())
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        document = document_submit(url=local_server.url("/moa.pdf"), kind="moa")
        assert Document.objects.get(pk=document.pk).status == Document.Status.QUEUED
    assert len(callbacks) == 1  # the task is sent only after commit
    assert document.rights == Document.Rights.PUBLIC_DOMAIN
    assert DocumentURL.objects.filter(document=document).count() == 1


# --- URL and upload --------------------------------------------------------------


def test_pdf_url_is_fetched_extracted_and_awaits_review(local_server, submit):
    body = POLK.read_bytes()
    (local_server.directory / "docs").mkdir()
    (local_server.directory / "docs" / "polk.pdf").write_bytes(body)  # served ignoring the query
    document = submit(url=local_server.url("/docs/polk.pdf?utm_source=x"), kind="moa")
    assert document.status == Document.Status.NEEDS_REVIEW
    assert document.status_message == ""
    assert document.sha256 == hashlib.sha256(body).hexdigest()
    assert document.size == len(body)
    assert document.content_type == "application/pdf"
    assert len(document.page_offsets) == 11
    assert "Polk County" in document.text
    assert document.text_sha256 == hashlib.sha256(document.text.encode()).hexdigest()
    assert document.file.read() == body
    assert document.title  # from the PDF's metadata
    assert document.canonical_url == local_server.url("/docs/polk.pdf")
    assert document.fetched_at is not None


def test_html_url_gives_title_authors_date_publisher(local_server, submit):
    local_server.routes["/news/sheriff"] = (200, HTML, ARTICLE)
    document = submit(url=local_server.url("/news/sheriff"))
    assert document.status == Document.Status.NEEDS_REVIEW
    assert document.kind == Document.Kind.NEWS
    assert document.title == "County sheriff signs 287(g) agreement with ICE"
    assert document.authors == ["Maria Delgado", "Tom Becker"]
    assert str(document.published_on) == "2025-03-04"
    assert document.publisher == "The Valley Ledger"
    assert "Subscribe today" not in document.text
    assert document.page_offsets == []


def test_charset_declared_by_the_server_is_used(local_server, submit):
    sentence = "El alguacil firmó el acuerdo con ICE, dijo la señora Muñoz en Bogotá. "
    body = f"<html><body><article><p>{sentence * 6}</p></article></body></html>"
    local_server.routes["/es"] = (
        200,
        {"Content-Type": "text/html; charset=ISO-8859-1"},
        body.encode("latin-1"),
    )
    document = submit(url=local_server.url("/es"))
    assert "señora Muñoz en Bogotá" in document.text


def test_submitted_title_is_kept_over_extracted_one(local_server, submit):
    local_server.routes["/a"] = (200, HTML, ARTICLE)
    document = submit(url=local_server.url("/a"), title="Curator's title")
    assert document.title == "Curator's title"


def test_upload_is_stored_and_processed_without_fetch(submit):
    body = BAKER.read_bytes()
    document = submit(upload=io.BytesIO(body), filename="baker.pdf", kind="moa")
    assert document.status == Document.Status.NEEDS_REVIEW
    assert document.sha256 == hashlib.sha256(body).hexdigest()
    assert document.file.read() == body
    assert document.source_url == ""
    assert len(document.page_offsets) == 12


def test_same_upload_twice_is_one_document(submit):
    first = submit(upload=POLK, filename=POLK.name)
    second = submit(upload=POLK.read_bytes(), filename="copy.pdf")
    assert second.pk == first.pk
    assert Document.objects.count() == 1


def test_known_url_returns_existing_document_whatever_its_spelling(local_server, submit):
    local_server.routes["/story"] = (200, HTML, ARTICLE)
    first = submit(url=local_server.url("/story"))
    again = submit(url=local_server.url("/story/?fbclid=abc#comments").replace("http", "HTTP", 1))
    assert again.pk == first.pk
    assert Document.objects.count() == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "web address or a file"),
        ({"url": "ftp://example.org/moa.pdf"}, "not a web address"),
        ({"url": "javascript:alert(1)"}, "not a web address"),
        ({"upload": b""}, "empty"),
        ({"url": "https://example.org/a", "kind": "novel"}, "not a kind of document"),
        ({"url": "https://example.org/a", "rights": "mine"}, "not a rights status"),
    ],
)
def test_input_that_cannot_be_a_document_is_refused_with_sentence(kwargs, message):
    with pytest.raises(IngestError, match=message):
        document_submit(**kwargs)
    assert Document.objects.count() == 0


def test_person_resubmitting_a_failed_address_gets_a_retry(local_server, submit):
    from tests.research.factories import UserFactory

    local_server.routes["/later"] = (404, HTML, "not yet")
    failed = submit(url=local_server.url("/later"))
    assert failed.status == Document.Status.FAILED
    # A feed seeing the same link again does not re-fetch it...
    assert submit(url=local_server.url("/later")).status == Document.Status.FAILED
    # ...a person submitting it again does.
    local_server.routes["/later"] = (200, HTML, ARTICLE)
    again = submit(url=local_server.url("/later"), submitted_by=UserFactory())
    assert again.pk == failed.pk
    assert again.status == Document.Status.NEEDS_REVIEW
    assert again.status_message == ""


def test_oversize_upload_refused(settings):
    settings.FETCH_MAX_BYTES = 1000
    with pytest.raises(IngestError, match="larger than the 1,000 bytes the portal accepts"):
        document_submit(upload=POLK, filename="polk.pdf")
    assert Document.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_ingest_document_command_prints_status(local_server, capsys):
    local_server.routes["/moa.pdf"] = (200, PDF, POLK.read_bytes())
    call_command("ingest_document", local_server.url("/moa.pdf"), str(BAKER), "--kind", "moa")
    out = capsys.readouterr().out
    assert out.count("needs review") == 2
    assert Document.objects.filter(kind="moa").count() == 2


@pytest.mark.django_db
def test_ingest_document_command_explains_what_it_refuses(capsys):
    with pytest.raises(CommandError, match="2 of 2 inputs"):
        call_command("ingest_document", "ftp://example.com/moa.pdf", "/no/such/file.pdf")
    err = capsys.readouterr().err
    assert "ftp://example.com/moa.pdf" in err and "starts with http:// or https://" in err
    assert "No file at /no/such/file.pdf" in err
    assert Document.objects.count() == 0


# --- Duplicates --------------------------------------------------------------------


def test_same_file_at_two_urls_is_one_document_with_two_urls(local_server, submit):
    body = POLK.read_bytes()
    local_server.routes["/ice/moa.pdf"] = (200, PDF, body)
    local_server.routes["/mirror/polk.pdf"] = (
        200,
        {"Content-Type": "application/octet-stream"},
        body,
    )
    agreement_a, agreement_b = AgreementFactory(), AgreementFactory()
    original = submit(url=local_server.url("/ice/moa.pdf"), agreement_links=[(agreement_a, "moa")])
    placeholder = submit(
        url=local_server.url("/mirror/polk.pdf"), agreement_links=[(agreement_b, "addendum")]
    )
    assert placeholder.status == Document.Status.REJECTED
    assert placeholder.duplicate_of_id == original.pk
    assert placeholder.error_code == "duplicate"
    assert f"Duplicate of document #{original.pk}" in placeholder.status_message
    assert placeholder.sha256 == ""
    urls = set(original.urls.values_list("url", flat=True))
    assert urls == {local_server.url("/ice/moa.pdf"), local_server.url("/mirror/polk.pdf")}
    # Both agreements now point at the one document.
    assert set(
        DocumentAgreement.objects.filter(document=original).values_list("agreement", "role")
    ) == {(agreement_a.pk, "moa"), (agreement_b.pk, "addendum")}
    # The second URL now leads straight to the original.
    assert submit(url=local_server.url("/mirror/polk.pdf")).pk == original.pk


def test_same_text_under_different_markup_is_a_duplicate(local_server, submit):
    local_server.routes["/a"] = (200, HTML, ARTICLE)
    syndicated = ARTICLE.replace(b"Subscribe today for $1", b"Donate").replace(
        b"Most read", b"Popular now"
    )
    local_server.routes["/b"] = (200, HTML, syndicated)
    original = submit(url=local_server.url("/a"))
    copy = submit(url=local_server.url("/b"))
    assert copy.status == Document.Status.REJECTED
    assert copy.duplicate_of_id == original.pk
    assert "same text" in copy.status_message


def test_redirect_target_recorded_as_another_url(local_server, submit):
    local_server.routes["/short"] = (301, {"Location": "/long/story"}, "")
    local_server.routes["/long/story"] = (200, HTML, ARTICLE)
    document = submit(url=local_server.url("/short"))
    assert document.status == Document.Status.NEEDS_REVIEW
    assert submit(url=local_server.url("/long/story")).pk == document.pk


# --- Bad input: a status and a sentence --------------------------------------------


def _encrypted_pdf() -> bytes:
    writer = PdfWriter(clone_from=POLK)
    writer.encrypt(user_password="secret", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


BAD_ROUTES = {
    "not_found": ((404, HTML, "nothing"), "404"),
    "gone": ((410, HTML, "removed"), "410 Gone"),
    "unsupported_type": ((200, {"Content-Type": "image/png"}, b"\x89PNG\r\n\x1a\n..."), "neither"),
    "encrypted_pdf": ((200, PDF, _encrypted_pdf()), "password"),
    "broken_pdf": ((200, PDF, b"%PDF-1.4\nnot really"), "damaged"),
    "bomb": (
        (200, PDF, pdf_with_content_stream(zlib.compress(b"\0" * 80_000_000, 9))),
        "decompression bomb",
    ),
    "http_error": ((403, HTML, "forbidden"), "403"),
}


@pytest.mark.parametrize("code", BAD_ROUTES)
def test_bad_input_ends_failed_with_a_sentence(code, local_server, submit):
    route, words = BAD_ROUTES[code]
    local_server.routes["/bad"] = route
    document = submit(url=local_server.url("/bad"))
    assert document.status == Document.Status.FAILED
    assert document.error_code == code
    assert words in document.status_message
    assert document.status_message.rstrip().endswith(".")
    assert document.text == ""
    assert document.attempts == 1  # not retried: it cannot heal


def test_file_over_the_cap_fails(local_server, submit, settings):
    local_server.routes["/big.pdf"] = (200, PDF, POLK.read_bytes())
    settings.FETCH_MAX_BYTES = 10_000
    document = submit(url=local_server.url("/big.pdf"))
    assert document.status == Document.Status.FAILED
    assert document.error_code == "too_large"
    assert "larger than" in document.status_message


def test_redirect_loop_fails(local_server, submit):
    local_server.routes["/a"] = (302, {"Location": "/b"}, "")
    local_server.routes["/b"] = (302, {"Location": "/a"}, "")
    document = submit(url=local_server.url("/a"))
    assert document.status == Document.Status.FAILED
    assert document.error_code == "redirect_loop"
    assert "loop" in document.status_message


@pytest.mark.parametrize("target", ["http://10.0.0.7/moa.pdf", "http://169.254.169.254/latest"])
def test_private_address_fails_directly_and_after_redirect(target, local_server, submit):
    direct = submit(url=target)
    assert direct.status == Document.Status.FAILED
    assert direct.error_code == "unsafe"
    local_server.routes["/r"] = (302, {"Location": target}, "")
    redirected = submit(url=local_server.url("/r"))
    assert redirected.status == Document.Status.FAILED
    assert "does not fetch" in redirected.status_message


def test_server_error_queues_again_then_gives_up(local_server, submit):
    calls = []

    def flaky(handler):
        calls.append(1)
        return 503, HTML, "busy"

    local_server.routes["/flaky"] = flaky
    document = submit(url=local_server.url("/flaky"))
    assert document.status == Document.Status.QUEUED
    assert document.error_code == "server_error"
    assert "retried" in document.status_message
    for _ in range(MAX_ATTEMPTS - 1):
        document_process(document_id=document.pk)
    document.refresh_from_db()
    assert document.status == Document.Status.FAILED
    assert f"Gave up after {MAX_ATTEMPTS} attempts" in document.status_message
    assert len(calls) == MAX_ATTEMPTS


def test_transient_error_raises_for_the_task_to_retry(local_server, submit):
    from portal.http import FetchError

    local_server.routes["/x"] = (500, HTML, "oops")
    document = submit(url=local_server.url("/x"))
    requeue(document)
    with pytest.raises(FetchError) as info:
        document_process(document_id=document.pk, retry_transient=True)
    assert info.value.retryable
    document.refresh_from_db()
    assert document.status == Document.Status.QUEUED


# --- Re-fetching ---------------------------------------------------------------------


def test_failed_refetch_keeps_good_text(local_server, submit):
    local_server.routes["/story"] = (200, HTML, ARTICLE)
    document = submit(url=local_server.url("/story"))
    text, sha = document.text, document.text_sha256
    local_server.routes["/story"] = (404, HTML, "gone")
    requeue(document)
    document_process(document_id=document.pk)
    document.refresh_from_db()
    assert document.text == text and document.text_sha256 == sha
    assert document.status == Document.Status.NEEDS_REVIEW
    assert document.status_message.startswith("Re-fetch failed")
    assert "is kept" in document.status_message


def test_refetch_with_broken_content_keeps_good_text(local_server, submit):
    local_server.routes["/moa.pdf"] = (200, PDF, POLK.read_bytes())
    document = submit(url=local_server.url("/moa.pdf"))
    text = document.text
    local_server.routes["/moa.pdf"] = (200, PDF, b"%PDF-1.4 truncated")
    requeue(document)
    document_process(document_id=document.pk)
    document.refresh_from_db()
    assert document.text == text
    assert document.sha256 == hashlib.sha256(POLK.read_bytes()).hexdigest()
    assert "damaged" in document.status_message


def test_refetch_that_now_matches_another_document_keeps_its_text(local_server, submit):
    local_server.routes["/a"] = (200, PDF, POLK.read_bytes())
    local_server.routes["/b"] = (200, PDF, BAKER.read_bytes())
    polk = submit(url=local_server.url("/a"))
    baker = submit(url=local_server.url("/b"))
    local_server.routes["/b"] = (200, PDF, POLK.read_bytes())  # the server swapped the file
    requeue(baker)
    document_process(document_id=baker.pk)
    baker.refresh_from_db()
    assert "Baker" in baker.text
    assert baker.status == Document.Status.NEEDS_REVIEW
    assert f"same file as document #{polk.pk}" in baker.status_message


def test_refetch_uses_conditional_request(local_server, submit):
    seen = []

    def page(handler):
        seen.append(handler.headers.get("If-None-Match"))
        if handler.headers.get("If-None-Match") == '"v1"':
            return 304, {"ETag": '"v1"'}, ""
        return 200, {**HTML, "ETag": '"v1"'}, ARTICLE

    local_server.routes["/story"] = page
    document = submit(url=local_server.url("/story"))
    requeue(document)
    document_process(document_id=document.pk)
    document.refresh_from_db()
    assert seen == [None, '"v1"']
    assert document.status == Document.Status.NEEDS_REVIEW
    assert "not changed" in document.status_message
    assert "Jail Enforcement Model" in document.text


def test_processing_twice_is_harmless(local_server, submit):
    calls = []

    def page(handler):
        calls.append(1)
        return 200, HTML, ARTICLE

    local_server.routes["/s"] = page
    document = submit(url=local_server.url("/s"))
    document_process(document_id=document.pk)
    assert len(calls) == 1
    assert Document.objects.count() == 1


def test_document_fetching_elsewhere_is_left_alone(local_server, submit):
    from django.utils import timezone

    local_server.routes["/s"] = (200, HTML, ARTICLE)
    document = Document.objects.create(
        source_url=local_server.url("/s"),
        status=Document.Status.FETCHING,
        status_changed_at=timezone.now(),
    )
    document_process(document_id=document.pk)
    document.refresh_from_db()
    assert document.status == Document.Status.FETCHING
    assert document.text == ""


# --- Linking and the sweep -------------------------------------------------------------


def test_ingested_text_gets_suggested_agency_links(local_server, submit):
    agency = AgencyFactory(name="Polk County Sheriff's Office", state="GA")
    local_server.routes["/story"] = (200, HTML, ARTICLE)
    document = submit(url=local_server.url("/story"))
    link = DocumentAgency.objects.get(document=document, agency=agency)
    assert link.status == DocumentAgency.Status.SUGGESTED
    assert "Polk County Sheriff" in link.passage


def test_sweep_resends_stale_queued_documents(local_server, django_capture_on_commit_callbacks):
    local_server.routes["/s"] = (200, HTML, ARTICLE)
    # The broker was down: the document was written but its task never arrived.
    with django_capture_on_commit_callbacks(execute=False):
        document = document_submit(url=local_server.url("/s"))
    assert documents_requeue_stale() == 0  # not stale yet
    with django_capture_on_commit_callbacks(execute=True):
        sent = documents_requeue_stale(queued_for=__import__("datetime").timedelta(0))
    assert sent == 1
    document.refresh_from_db()
    assert document.status == Document.Status.NEEDS_REVIEW


def test_sweep_gives_up_after_max_attempts(django_capture_on_commit_callbacks):
    from datetime import timedelta

    document = Document.objects.create(
        source_url="https://example.org/x",
        status=Document.Status.QUEUED,
        attempts=MAX_ATTEMPTS,
        status_message="The server answered 503.",
    )
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert documents_requeue_stale(queued_for=timedelta(0)) == 0
    assert callbacks == []
    document.refresh_from_db()
    assert document.status == Document.Status.FAILED
    assert document.status_message.startswith(f"Gave up after {MAX_ATTEMPTS} attempts")


def test_scan_with_ocr_off_is_kept_and_marked_needs_ocr(submit, settings):
    """make run loads the bundled scans with OCR off: each is stored, searchable later."""
    from tests.research.test_extract import scan_pdf

    settings.OCR_ENABLED = False
    document = submit(upload=scan_pdf(["MEMORANDUM OF AGREEMENT"]), filename="scan.pdf")

    assert document.status == Document.Status.NEEDS_REVIEW
    assert document.needs_ocr is True
    assert "needs OCR (Re-extract in the admin)" in document.status_message


def test_a_local_pdf_no_list_links_is_not_dated_or_filed_as_news_and_says_what_is_guessed(
    submit,
):
    document = submit(upload=BAKER, filename="scan0001.pdf")

    # Nothing says what it is: the safe guesses, marked as guesses for a curator.
    assert document.kind == Document.Kind.OTHER
    assert document.rights == Document.Rights.COPYRIGHTED
    assert {"kind", "rights"} <= set(document.guessed)
    # The PDF's own dates say when the file was made, not when the document was published.
    assert document.published_on is None
    assert document.file_created_on is not None


def test_a_web_page_found_to_be_a_pdf_is_not_guessed_to_be_news(local_server, submit):
    local_server.routes["/files/report"] = (
        200,
        {"Content-Type": "application/pdf"},
        POLK.read_bytes(),
    )

    document = submit(url=local_server.url("/files/report"))

    assert (document.kind, "kind" in document.guessed) == (Document.Kind.OTHER, True)


def test_what_the_submitter_says_is_not_a_guess(local_server, submit):
    local_server.routes["/news/sheriff"] = (200, HTML, ARTICLE)

    document = submit(url=local_server.url("/news/sheriff"), kind="news", rights="copyrighted")

    assert document.guessed == []
    assert str(document.published_on) == "2025-03-04"  # the page's own date


# --- Refused uploads ---------------------------------------------------------------

ICE_SHEET = Path(__file__).parents[2] / "data" / "ice-287g" / "participatingAgencies07112025pm.xlsx"


def _media_files(settings) -> list[Path]:
    return [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]


def test_a_spreadsheet_renamed_pdf_is_called_a_spreadsheet(submit):
    document = submit(upload=ICE_SHEET.read_bytes(), filename="moa.pdf", kind="moa")

    assert document.status == Document.Status.FAILED
    assert document.status_message.startswith("This file is a spreadsheet (xlsx), not a PDF")


@pytest.mark.parametrize(
    ("content", "filename"),
    [
        (ICE_SHEET.read_bytes(), "moa.pdf"),
        (b"%PDF-1.7\n this is no PDF at all", "broken.pdf"),
    ],
)
def test_a_refused_upload_leaves_no_file_in_media(submit, settings, content, filename):
    document = submit(upload=content, filename=filename)

    assert document.status == Document.Status.FAILED
    assert not document.file
    assert _media_files(settings) == []


def test_an_accepted_upload_keeps_its_file(submit, settings):
    document = submit(upload=POLK, filename=POLK.name)

    assert document.status == Document.Status.NEEDS_REVIEW
    assert [p.name for p in _media_files(settings)] == [POLK.name]


def test_someone_elses_unpublished_file_or_address_is_not_named_to_a_submitter():
    owner, other = ResearcherFactory(), ResearcherFactory()
    held = document_submit_as(owner, upload=ARTICLE, filename="held.html")
    at_url = document_submit_as(owner, url="https://news.example.org/held")
    assert document_submit_as(owner, upload=ARTICLE, filename="again.html") == held

    with pytest.raises(DocumentNotVisible):
        document_submit_as(other, upload=ARTICLE, filename="copy.html")
    with pytest.raises(DocumentNotVisible):
        document_submit_as(other, url="https://news.example.org/held")
    assert document_submit_as(CuratorFactory(), url="https://news.example.org/held") == at_url
    assert Document.objects.count() == 2
