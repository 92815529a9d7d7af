#!/usr/bin/env python
"""A document page with 200 notes: render time in-process and the number of queries.

Builds (afresh each run) a SQLite database in var/bench-annotations/ holding a real
MOA's text (the Polk County, GA, MOA of 2020 from tests/research/data, extracted and
--copies times over), and --notes notes on it by ten researchers: overlapping
and nested passages, three tags each, a third private, a third shared with
researchers, a third public (approved). Then requests the document page N times
in-process with Django's test client as the author of some notes (the heaviest
view: every shared note, highlights and forms) and as an anonymous visitor, and
prints the median, p95 and max in milliseconds, the CPU time per request, and the
queries of one request. The highlighting alone (research.annotation_render) is
timed too. Target: under 100 ms with a fixed number of queries.

    .venv/bin/python benchmarks/bench_annotations.py [--notes 200] [--requests 100] [--copies 1]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import time
from pathlib import Path

import _common

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var" / "bench-annotations"
MOA = ROOT / "tests" / "research" / "data" / "287gJEM_PolkCoGa2020-07-02.pdf"


def setup_django() -> None:
    shutil.rmtree(VAR, ignore_errors=True)
    VAR.mkdir(parents=True, exist_ok=True)
    os.environ["DATABASE_URL"] = f"sqlite:///{VAR / 'bench.sqlite3'}"
    _common.setup_django(VAR, "annotations")


def build(notes: int, copies: int):
    """The document, its notes and the researchers; returns (document, an author)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command

    from research import policy
    from research.extract import extract, text_sha256
    from research.models import Annotation, Document, Tag
    from research.services.annotations import quote_selector

    call_command("migrate", verbosity=0, interactive=False)
    call_command("collectstatic", interactive=False, verbosity=0)
    one = extract(MOA.read_bytes(), content_type="application/pdf").text
    text = "\n\n".join([one] * copies)
    document = Document.objects.create(
        kind=Document.Kind.MOA,
        title="Polk County 287(g) MOA (benchmark)",
        canonical_url="https://www.ice.gov/bench-moa.pdf",
        rights=Document.Rights.PUBLIC_DOMAIN,
        status=Document.Status.PUBLISHED,
        text=text,
        text_sha256=text_sha256(text),
    )
    researchers = Group.objects.get(name=policy.RESEARCHERS)
    users = []
    for n in range(10):
        user = get_user_model().objects.create_user(f"researcher{n}")
        user.groups.add(researchers)
        users.append(user)
    tags = [Tag.objects.create(name=f"Topic {n}", slug=f"topic-{n}") for n in range(12)]
    rng = random.Random(287)
    visibilities = list(Annotation.Visibility)
    made = []
    for n in range(notes):
        # Every fifth note nests inside or overlaps the one before it.
        if made and n % 5 == 0:
            start = made[-1].start + rng.randrange(0, 40)
        else:
            start = rng.randrange(0, len(text) - 400)
        end = start + rng.randrange(20, 300)
        visibility = visibilities[n % 3]
        made.append(
            Annotation(
                document=document,
                author=users[n % len(users)],
                body=f"Note {n}: *this clause* matters. See [the MOA](https://www.ice.gov/).",
                visibility=visibility,
                review=Annotation.Review.APPROVED
                if visibility == Annotation.Visibility.PUBLIC
                else Annotation.Review.PENDING,
                start=start,
                end=end,
                text_sha256=document.text_sha256,
                **quote_selector(text, start, end),
            )
        )
    Annotation.objects.bulk_create(made)
    for note in Annotation.objects.filter(document=document):
        note.tags.set(rng.sample(tags, 3))
    return document, users[0]


def timed(client, url: str, requests: int) -> tuple[list[float], float]:
    client.get(url)  # warm: templates compiled, permissions read
    timings = []
    cpu_before = time.process_time()
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    return timings, (time.process_time() - cpu_before) * 1000 / requests


def summary(name: str, timings: list[float], cpu_ms: float, queries: int) -> str:
    ordered = sorted(timings)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (
        f"{name:<28} median {statistics.median(ordered):7.1f} ms  p95 {p95:7.1f}  "
        f"max {ordered[-1]:7.1f}  cpu {cpu_ms:6.1f} ms/request  queries {queries}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notes", type=int, default=200)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--copies", type=int, default=1, help="the MOA's text repeated")
    args = parser.parse_args()
    setup_django()

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from research import selectors
    from research.annotation_render import Span, render_highlights

    document, author = build(args.notes, args.copies)
    url = document.get_absolute_url()
    print(
        f"document of {len(document.text):,} characters, {document.annotations.count()} notes; "
        f"load {os.getloadavg()[0]:.2f}"
    )
    signed_in = Client()
    signed_in.force_login(author)
    for name, client in (("researcher (author)", signed_in), ("anonymous", Client())):
        timings, cpu_ms = timed(client, url, args.requests)
        with CaptureQueriesContext(connection) as captured:
            client.get(url)
        print(summary(name, timings, cpu_ms, len(captured)))

    notes = selectors.document_annotations(author, document)
    spans = [Span(n.pk, n.start, n.end) for n in notes]
    timings = []
    for _ in range(args.requests):
        started = time.perf_counter()
        render_highlights(document.text, spans)
        timings.append((time.perf_counter() - started) * 1000)
    print(
        f"highlights alone ({len(spans)} notes): median {statistics.median(timings):.2f} ms, "
        f"max {max(timings):.2f} ms"
    )


if __name__ == "__main__":
    main()
