#!/usr/bin/env python
"""Extraction speed and memory, per worker process.

Targets (issue 4): HTML extraction of at least 20 typical articles a second; a
15-page text PDF in under 1 s; peak memory under 400 MB on a 300-page PDF.

* HTML: news pages built from the shared benchmark corpus
  (``../shared/bench/make_corpus.py``; a built-in text when it is missing),
  each wrapped in the boilerplate a real news site adds (navigation, cookie
  banner, related links, scripts, footer), 40-80 KB per page.
* PDF: pages of the three real MOAs in ``tests/research/data/`` concatenated
  with pypdf into a 15-page and a 300-page PDF.
* Memory: the 300-page extraction runs in a fresh subprocess whose peak RSS
  (``ru_maxrss``) is reported, so the number is what a worker would reach.

    .venv/bin/python benchmarks/bench_extract.py            # full size
    .venv/bin/python benchmarks/bench_extract.py --articles 50 --pages 100   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT / "tests" / "research" / "data"
CORPUS = ROOT.parent / "shared" / "bench" / "make_corpus.py"

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{title} | {publisher}</title>
<meta name="author" content="Staff reporter">
<meta property="og:site_name" content="{publisher}">
<meta property="article:published_time" content="{published}T08:00:00Z">
<script>window.dataLayer=[];{script}</script>
<style>{style}</style>
</head><body>
<header><nav>{nav}</nav></header>
<div class="cookie-banner">We use cookies to improve your experience. Accept all?</div>
<main><article><h1>{title}</h1><p class="byline">By Staff reporter</p>
{paragraphs}
</article>
<aside class="related"><h3>Most read</h3><ul>{related}</ul></aside></main>
<footer>{footer}</footer>
</body></html>
"""


def corpus(n: int) -> list[dict]:
    if CORPUS.exists():
        out = subprocess.run(
            [sys.executable, str(CORPUS), "-n", str(n)], capture_output=True, check=True
        ).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]
    body = "The sheriff's office signed a 287(g) agreement with ICE. " * 60
    return [
        {"title": f"Story {i}", "publisher": "Ledger", "published": "2025-03-04", "body": body}
        for i in range(n)
    ]


def html_page(doc: dict) -> bytes:
    words = doc["body"].split()
    paragraphs = "\n".join(
        f"<p>{' '.join(words[i : i + 70])}</p>" for i in range(0, len(words), 70)
    )
    nav = " ".join(f'<a href="/section/{i}">Section {i}</a>' for i in range(40))
    related = "".join(
        f'<li><a href="/story/{i}">Another headline number {i}</a></li>' for i in range(30)
    )
    footer = " · ".join(f'<a href="/page/{i}">Footer link {i}</a>' for i in range(60))
    return PAGE.format(
        title=doc["title"],
        publisher=doc.get("publisher") or "Ledger",
        published=(doc.get("published") or "2025-03-04")[:10],
        script="var x=1;" * 2000,
        style=".a{color:red}" * 1500,
        nav=nav,
        paragraphs=paragraphs,
        related=related,
        footer=footer,
    ).encode()


def bench_html(n: int) -> dict:
    from research.extract import extract

    pages = [html_page(doc) for doc in corpus(n)]
    extract(pages[0], content_type="text/html")  # warm up imports
    times = []
    start = time.perf_counter()
    cpu_start = time.process_time()
    for page in pages:
        t = time.perf_counter()
        result = extract(page, content_type="text/html")
        times.append(time.perf_counter() - t)
        assert result.text and "Most read" not in result.text
    total = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    return {
        "articles_per_cpu_second": round(n / cpu, 1),
        "articles": n,
        "mean_page_kb": round(sum(map(len, pages)) / n / 1024, 1),
        "articles_per_second": round(n / total, 1),
        "p50_ms": round(statistics.median(times) * 1000, 1),
        "max_ms": round(max(times) * 1000, 1),
    }


def make_pdf(pages: int, path: Path) -> Path:
    from pypdf import PdfReader, PdfWriter

    sources = [PdfReader(p) for p in sorted(DATA.glob("*.pdf"))]
    pool = [page for reader in sources for page in reader.pages]
    writer = PdfWriter()
    for i in range(pages):
        writer.add_page(pool[i % len(pool)])
    with path.open("wb") as handle:
        writer.write(handle)
    return path


def bench_pdf(path: Path, runs: int = 3) -> dict:
    from research.extract import extract

    content = path.read_bytes()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        result = extract(content)
        times.append(time.perf_counter() - t)
    return {
        "pages": result.page_count,
        "size_kb": len(content) // 1024,
        "best_s": round(min(times), 3),
        "median_s": round(statistics.median(times), 3),
    }


def child_peak_rss(path: Path) -> dict:
    """Extract ``path`` in a fresh interpreter; report its peak RSS."""
    code = (
        f"import resource, sys, time; sys.path.insert(0, {str(ROOT)!r});"
        "from research.extract import extract;"
        f"t = time.perf_counter(); r = extract(open({str(path)!r}, 'rb').read());"
        "d = time.perf_counter() - t;"
        "print(r.page_count, len(r.text), round(d, 2),"
        " resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    pages, chars, seconds, peak = out.stdout.split()
    return {
        "pages": int(pages),
        "text_chars": int(chars),
        "seconds": float(seconds),
        "peak_rss_mb": int(peak),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=200)
    parser.add_argument("--pages", type=int, default=300)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.test_settings")

    html = bench_html(args.articles)
    print(
        f"HTML: {html['articles_per_second']} articles/s over {html['articles']} pages of "
        f"~{html['mean_page_kb']} KB ({html['articles_per_cpu_second']}/s of CPU; p50 {html['p50_ms']} ms, max {html['max_ms']} ms)"
        f"  target >= 20/s: {'PASS' if html['articles_per_second'] >= 20 else 'FAIL'}"
    )
    with tempfile.TemporaryDirectory() as folder:
        small = bench_pdf(make_pdf(15, Path(folder) / "15.pdf"))
        print(
            f"PDF {small['pages']} pages ({small['size_kb']} KB): best {small['best_s']} s, "
            f"median {small['median_s']} s  target < 1 s: "
            f"{'PASS' if small['median_s'] < 1 else 'FAIL'}"
        )
        big = child_peak_rss(make_pdf(args.pages, Path(folder) / "big.pdf"))
        print(
            f"PDF {big['pages']} pages: {big['seconds']} s, {big['text_chars']} chars, "
            f"peak RSS {big['peak_rss_mb']} MB  target < 400 MB: "
            f"{'PASS' if big['peak_rss_mb'] < 400 else 'FAIL'}"
        )
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"(this process peaked at {own} MB)")


if __name__ == "__main__":
    main()
