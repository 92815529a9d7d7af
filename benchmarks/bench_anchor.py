#!/usr/bin/env python
"""Re-anchoring speed: 1,000 notes on a 300-page MOA text that changed (target < 5 s).

The text is the pages of the real MOAs in data/ice-287g/moas that have a text
layer (about 240 pages, extracted once into var/bench-anchor/), in turn to
``--pages`` pages: a few templates signed by many agencies, so that most clauses
have many exact copies for the context and the old place to choose between. ``--notes`` notes are made on random passages
(20 to 200 characters, whole words). The new text then has, on every page by
turns: a paragraph inserted at its top, a clause reworded ("PCSO" becomes "LEA",
"70 percent" becomes "75 percent"), OCR noise (rn read as m, l as 1, spaces lost
and doubled, words hyphenated at line ends), or a paragraph deleted; one page in
five is left alone (``--reocr``: OCR noise on every page, a whole text read
again). ``reanchor_document`` is timed on a fresh database, then
once more with nothing to do.

    .venv/bin/python benchmarks/bench_anchor.py                  # SQLite file in var/bench-import/
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/h_anchor .venv/bin/python benchmarks/bench_anchor.py
    options: --pages 300 --notes 1000 --seed 287
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_import

MOAS = bench_import.ROOT / "data" / "ice-287g" / "moas"
INSERTED = (
    "The LEA agrees that it will not use the authority delegated under this MOA to "
    "target persons on account of race, ethnicity or national origin.\n"
)


def ocr_noise(page: str) -> str:
    page = page.replace("rn", "m").replace(" l", " 1").replace("tion of", "tionof")
    return page.replace("certain", "cer-\ntain").replace(" the ", "  the ")


def reworded(page: str) -> str:
    return page.replace("PCSO", "LEA").replace("70 percent", "75 percent")


def without_a_paragraph(page: str) -> str:
    lines = page.split("\n")
    middle = len(lines) // 2
    return "\n".join(lines[:middle] + lines[middle + 3 :])


EDITS = [lambda page: INSERTED + page, reworded, ocr_noise, without_a_paragraph, lambda p: p]


def real_pages() -> list[str]:
    """The pages of every bundled MOA with a text layer (extracted once, kept in var/)."""
    cache = bench_import.ROOT / "var" / "bench-anchor" / "moa-pages.txt"
    if not cache.exists():
        from research.extract import extract_pdf

        found = []
        for path in sorted(MOAS.glob("*.pdf")):
            extraction = extract_pdf(path.read_bytes(), ocr=False)
            if extraction.needs_ocr or len(extraction.text) < 10_000:
                continue  # a scan: no text layer to start from
            bounds = [*extraction.page_offsets, len(extraction.text) + 2]
            found += [extraction.text[a : b - 2] for a, b in zip(bounds, bounds[1:], strict=False)]
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text("\f".join(found))
    return cache.read_text().split("\f")


def texts(pages: int, *, reocr: bool = False) -> tuple[list[str], list[str]]:
    real = real_pages()
    old = [real[i % len(real)] for i in range(pages)]
    edits = [ocr_noise] if reocr else EDITS
    new = [edits[i % len(edits)](page) for i, page in enumerate(old)]
    return old, new


def make_notes(document, count: int, rng: random.Random) -> None:
    from research.models import Annotation
    from research.services.annotations import page_at, quote_selector
    from tests.research.factories import ResearcherFactory

    author = ResearcherFactory()
    text = document.text
    words = [m.start() for m in re.finditer(r"\b\w", text)]
    notes = []
    for _ in range(count):
        start = rng.choice(words)
        end = text.rfind(" ", start + 10, start + rng.randint(20, 200))
        end = end if end != -1 else start + 20
        notes.append(
            Annotation(
                document=document,
                author=author,
                body="A note.",
                start=start,
                end=end,
                page=page_at(document, start),
                text_sha256=document.text_sha256,
                **quote_selector(text, start, end),
            )
        )
    Annotation.objects.bulk_create(notes, batch_size=500)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--notes", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=287)
    parser.add_argument("--reocr", action="store_true", help="OCR noise on every page instead")
    args = parser.parse_args()
    bench_import.setup_django()
    name = bench_import.fresh_database()

    from django.db import connection

    from research.extract import join_pages, text_sha256
    from research.models import Annotation, Document
    from research.services.anchoring import place_annotations, reanchor_document

    old, new = texts(args.pages, reocr=args.reocr)
    text, offsets = join_pages(old)
    document = Document.objects.create(
        kind=Document.Kind.MOA,
        title="Benchmark MOA",
        status=Document.Status.PUBLISHED,
        text=text,
        text_sha256=text_sha256(text),
        page_offsets=offsets,
    )
    make_notes(document, args.notes, random.Random(args.seed))
    document.text, document.page_offsets = join_pages(new)
    document.text_sha256 = text_sha256(document.text)
    document.save()
    print(
        f"{connection.vendor} ({name}): {args.notes:,} notes, {args.pages} pages, "
        f"{len(text):,} characters before, {len(document.text):,} after"
    )

    notes = list(Annotation.objects.filter(document=document))
    before = {note.pk: note.page for note in notes}
    began = time.perf_counter()
    place_annotations(notes, document)
    print(f"placing alone (no database): {time.perf_counter() - began:.2f} s")

    began = time.perf_counter()
    report = reanchor_document(document)
    took = time.perf_counter() - began
    far = sum(
        1
        for pk, page in Annotation.objects.filter(document=document).values_list("pk", "page")
        if abs(page - before[pk]) > 1
    )
    anchors = Counter(Annotation.objects.filter(document=document).values_list("anchor", flat=True))
    print(
        f"reanchor_document: {took:.2f} s ({took / args.notes * 1000:.2f} ms a note); "
        f"{len(report.anchored)} anchored, {len(report.fuzzy)} fuzzy, "
        f"{len(report.orphaned)} orphaned; stored {dict(anchors)}; "
        f"{far} placed more than a page from where they were (on a copy of their clause)"
    )
    began = time.perf_counter()
    again = reanchor_document(document)
    print(
        f"again, nothing changed: {time.perf_counter() - began:.3f} s "
        f"({len(again.orphaned)} orphans tried again)"
    )


if __name__ == "__main__":
    main()
