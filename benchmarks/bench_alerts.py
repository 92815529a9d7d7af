#!/usr/bin/env python
"""Alert speed: matching a list's changes and new documents against many alerts; a daily digest run.

On a fresh database: ICE's real list of May 23, 2025 is imported; 1,000
researchers get 10,000 watches (states, counties, agencies and a few on the
whole program, random kinds of change; a tenth sent as it happens, the rest
daily) and 1,000 saved searches; then the list of July 11, 2025 is imported
(about 200 agreements signed, 380 changes in all) and timed separately:

- ``match list``: ``alerts_match_snapshot`` for the July list (deliveries
  stored, real-time digests prepared); then ``real-time sends``: those e-mails,
  in-process to a memory mailbox;
- ``match documents``: ``alerts_match_documents`` for newly published
  documents against the 1,000 saved searches;
- ``daily digests``: ``alert_digests_task("daily")``: one e-mail per researcher.

    .venv/bin/python benchmarks/bench_alerts.py                      # SQLite in var/bench-import/
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python benchmarks/bench_alerts.py
    options: --researchers 1000 --watches 10000 --searches 1000 --documents 50 --seed 1
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_import

DATA = bench_import.ROOT / "tests" / "agreements" / "data"
MAY = DATA / "participatingAgencies05232025am.xlsx"
JULY = DATA / "participatingAgencies07112025pm.xlsx"
WORDS = ["sheriff", "jail", "agreement", "county", "deputies", "immigration", "task force",
         "warrant", "detainer", "commissioners", "budget", "lawsuit", "screening", "ICE"]  # fmt: skip


def _import(path: Path) -> int:
    from agreements.services.snapshots import snapshot_import

    with open(path, "rb") as handle:
        return snapshot_import(file=handle, filename=path.name).snapshot.pk


def _alerts(rng: random.Random, researchers: int, watches: int, searches: int) -> list:
    from django.contrib.auth.models import Group, User
    from django.utils import timezone

    from agreements.models import Agency
    from research.models import AlertRate, SavedSearch, Watch

    group = Group.objects.get(name="Researchers")
    users = User.objects.bulk_create(
        User(username=f"bench-researcher-{n}", email=f"r{n}@example.org")
        for n in range(researchers)
    )
    group.user_set.add(*users)
    agencies = list(Agency.objects.values_list("pk", "state", "county_fips"))
    states = sorted({state for _, state, _ in agencies})
    counties = sorted({fips for _, _, fips in agencies if fips})
    kinds = Watch.Change.values
    rows = []
    for n in range(watches):
        user = users[n % researchers]
        pick = rng.random()
        target: dict = {"scope": "program"}
        if pick < 0.4:
            target = {"scope": "state", "state": rng.choice(states)}
        elif pick < 0.7:
            target = {"scope": "county", "county_fips": rng.choice(counties)}
        elif pick < 0.995:
            target = {"scope": "agency", "agency_id": rng.choice(agencies)[0]}
        rate = AlertRate.REALTIME if rng.random() < 0.1 else AlertRate.DAILY
        changes = rng.sample(kinds, rng.randint(1, len(kinds)))
        rows.append(Watch(user=user, changes=changes, rate=rate, **target))
    Watch.objects.bulk_create(rows, batch_size=2000)
    since = timezone.now() - timezone.timedelta(days=1)
    SavedSearch.objects.bulk_create(
        SavedSearch(
            user=users[n % researchers],
            name=f"Search {n}",
            query=" ".join(rng.sample(WORDS, rng.randint(1, 2))),
            filters={"state": [rng.choice(states)]} if rng.random() < 0.3 else {},
            rate=AlertRate.DAILY,
            since=since,
        )
        for n in range(searches)
    )
    return users


def _documents(rng: random.Random, count: int) -> list[int]:
    from django.utils import timezone

    from research.models import Document

    # Mostly ordinary words, and a few of those the searches look for.
    filler = [f"word{n}" for n in range(2000)]
    documents = Document.objects.bulk_create(
        Document(
            title=f"{rng.choice(WORDS).title()} story {n}",
            text=" ".join(rng.sample(filler, 200) + rng.sample(WORDS, 2)),
            canonical_url=f"https://news.example.org/bench-{n}",
            status=Document.Status.PUBLISHED,
            status_changed_at=timezone.now(),
        )
        for n in range(count)
    )
    return [d.pk for d in documents]


def timed(label: str, function, *args, **kwargs):
    """(result, seconds); with BENCH_PROFILE=label, a profile of the call is printed too."""
    profile = None
    if os.environ.get("BENCH_PROFILE") == label:
        import cProfile

        profile = cProfile.Profile()
        profile.enable()
    start = time.perf_counter()
    result = function(*args, **kwargs)
    took = time.perf_counter() - start
    if profile is not None:
        profile.disable()
        profile.print_stats("cumtime")
    return result, took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--researchers", type=int, default=1000)
    parser.add_argument("--watches", type=int, default=10000)
    parser.add_argument("--searches", type=int, default=1000)
    parser.add_argument("--documents", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    os.environ["EMAIL_BACKEND"] = "django.core.mail.backends.locmem.EmailBackend"
    os.environ.pop("REDIS_URL", None)  # tasks in-process, as in the embedded default
    bench_import.setup_django()
    import logging

    logging.getLogger("celery").setLevel(logging.WARNING)  # one line per e-mail otherwise
    from django.core import mail
    from django.db import connection

    from agreements.models import AgreementEvent
    from agreements.signals import snapshot_applied
    from research.models import Delivery
    from research.services import alerts
    from research.services.alerts import alerts_match_documents, alerts_match_snapshot
    from research.tasks import alert_digests_task

    name = bench_import.fresh_database()
    mail.outbox = []
    rng = random.Random(args.seed)
    # The imports are timed without matching; matching is timed on its own below.
    receivers = snapshot_applied.receivers
    snapshot_applied.receivers = []
    try:
        _import(MAY)
        _alerts(rng, args.researchers, args.watches, args.searches)
        july = _import(JULY)
    finally:
        snapshot_applied.receivers = receivers
    events = AgreementEvent.objects.filter(snapshot_id=july).count()
    print(f"{connection.vendor}: {args.watches} watches, {args.searches} saved searches, "
          f"{args.researchers} researchers; the July list brought {events} changes")  # fmt: skip

    # Matching queues the sending; in-process it would send at once, so it is timed apart.
    send_pending, alerts.alerts_send_pending = alerts.alerts_send_pending, lambda **kw: 0
    try:
        result, took = timed("list", alerts_match_snapshot, snapshot_id=july)
    finally:
        alerts.alerts_send_pending = send_pending
    print(f"match list:      {took:6.2f} s  {result.deliveries} deliveries, "
          f"{result.digests} real-time digests")  # fmt: skip
    _sent, took = timed("realtime", alerts.alerts_send_pending)
    print(f"real-time sends: {took:6.2f} s  {len(mail.outbox)} e-mails")

    ids = _documents(rng, args.documents)
    result, took = timed("documents", alerts_match_documents, document_ids=ids)
    print(f"match documents: {took:6.2f} s  {args.documents} documents x {args.searches} "
          f"saved searches: {result.deliveries} deliveries, {result.paused} paused")  # fmt: skip

    mail.outbox = []
    digests, took = timed("digests", alert_digests_task, "daily")
    pending = Delivery.objects.filter(digest__isnull=True, watch__rate="daily").count()
    print(f"daily digests:   {took:6.2f} s  {digests} digests, {len(mail.outbox)} e-mails sent, "
          f"{pending} deliveries left unsent")  # fmt: skip
    if connection.vendor != "sqlite":
        connection.creation.destroy_test_db(name, verbosity=0)


if __name__ == "__main__":
    main()
