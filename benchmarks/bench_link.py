#!/usr/bin/env python
"""Agency-linker speed: index build over thousands of agencies, texts linked a second.

* Agencies: the ~3000 of the shared benchmark corpus
  (``../shared/bench/make_corpus.py --agencies``), with the same names in
  several states as in ICE's lists; without the corpus, the real agencies of
  the sample ICE files in ``tests/agreements/data/``.
* Texts: the corpus documents (news, reports, filings) and the text of a
  300-page PDF made of the real MOAs' pages.

    .venv/bin/python benchmarks/bench_link.py               # 2000 documents
    .venv/bin/python benchmarks/bench_link.py --docs 300    # quick
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CORPUS = ROOT.parent / "shared" / "bench" / "make_corpus.py"
DATA = ROOT / "tests" / "research" / "data"

from research.linker import AgencyLinker, KnownAgency  # noqa: E402


def corpus(n_docs: int) -> tuple[list[KnownAgency], list[str]]:
    with tempfile.TemporaryDirectory() as tmp:
        docs_path, agencies_path = Path(tmp) / "docs.jsonl", Path(tmp) / "agencies.jsonl"
        subprocess.run(
            [
                sys.executable,
                str(CORPUS),
                "-n",
                str(n_docs),
                "-o",
                str(docs_path),
                "--agencies",
                str(agencies_path),
            ],
            check=True,
            capture_output=True,
        )
        agencies = [
            KnownAgency(id=i, name=row["name"], state=row["state"])
            for i, row in enumerate(map(json.loads, agencies_path.open()))
        ]
        texts = [f"{row['title']}\n\n{row['body']}" for row in map(json.loads, docs_path.open())]
    return agencies, texts


def ice_agencies() -> list[KnownAgency]:
    import openpyxl
    import us

    seen: dict[tuple[str, str], None] = {}
    for path in sorted((ROOT / "tests" / "agreements" / "data").glob("*.xlsx")):
        sheet = openpyxl.load_workbook(path, read_only=True).worksheets[0]
        for row in list(sheet.iter_rows(values_only=True))[1:]:
            if row and row[0] and row[1] and (state := us.states.lookup(str(row[0]).title())):
                seen[(state.abbr, str(row[1]).strip())] = None
    return [KnownAgency(id=i, name=n, state=s) for i, (s, n) in enumerate(seen)]


def moa_text(pages: int) -> str:
    import pypdf

    texts = [
        page.extract_text()
        for pdf in sorted(DATA.glob("*.pdf"))
        for page in pypdf.PdfReader(pdf).pages
    ]
    return "\n".join(texts[i % len(texts)] for i in range(pages))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--pages", type=int, default=300)
    args = parser.parse_args()

    if CORPUS.exists():
        agencies, texts = corpus(args.docs)
        source = f"shared corpus ({len(texts)} documents)"
    else:
        agencies, texts = ice_agencies(), []
        source = "sample ICE files (no corpus: texts are MOA pages only)"

    started = time.perf_counter()
    linker = AgencyLinker(agencies)
    build = time.perf_counter() - started
    print(f"agencies indexed: {len(linker)} from {source} in {build * 1000:.0f} ms")

    if texts:
        mentions, per_doc = 0, []
        started = time.perf_counter()
        for text in texts:
            t0 = time.perf_counter()
            found = linker.find(text)
            per_doc.append(time.perf_counter() - t0)
            mentions += len(found)
        elapsed = time.perf_counter() - started
        chars = sum(map(len, texts))
        print(
            f"documents linked: {len(texts)} in {elapsed:.2f} s = {len(texts) / elapsed:.0f} docs/s, "
            f"{chars / elapsed / 1e6:.2f} M chars/s; median {statistics.median(per_doc) * 1000:.2f} ms, "
            f"max {max(per_doc) * 1000:.1f} ms; {mentions / len(texts):.2f} agencies a document"
        )

    text = moa_text(args.pages)
    started = time.perf_counter()
    found = linker.find(text)
    elapsed = time.perf_counter() - started
    print(
        f"{args.pages}-page MOA text ({len(text) / 1e6:.2f} M chars): linked in {elapsed:.2f} s, "
        f"{len(found)} agencies"
    )


if __name__ == "__main__":
    main()
