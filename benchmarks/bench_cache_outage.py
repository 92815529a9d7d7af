#!/usr/bin/env python
"""What a page costs when the cache's Redis is up, refused, or silent (issue 15).

Loads two of ICE's real lists into a throw-away test database, then requests the
home, directory, state and statistics pages 20 times each in-process with the
cache (``portal.cache.FailSoftRedisCache``) at: a live Redis (``CACHE_BENCH_URL``,
default redis://127.0.0.1:6379/4), a closed port (connection refused), and a
loopback listener that accepts and never answers (a hung server: each process
waits ``socket_timeout`` once, then leaves the cache alone ``RETRY_SECONDS``).
Prints the median in milliseconds.

    .venv/bin/python benchmarks/bench_cache_outage.py
"""

from __future__ import annotations

import os
import socket
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LISTS = ["participatingAgencies05232025am.xlsx", "participatingAgencies07112025pm.xlsx"]
PAGES = ["/", "/agencies/", "/states/FL/", "/statistics/"]


def main() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.test_settings")
    import django

    django.setup()
    from django.db import connection
    from django.test import Client, override_settings
    from django.test.utils import setup_test_environment

    from agreements.services import snapshot_import
    from portal import cache as fail_soft

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0)
    silent = socket.create_server(("127.0.0.1", 0))  # accepts, never answers
    try:
        for name in LISTS:
            with open(ROOT / "tests" / "agreements" / "data" / name, "rb") as handle:
                snapshot_import(file=handle, filename=name)
        targets = {
            "cache up": os.environ.get("CACHE_BENCH_URL", "redis://127.0.0.1:6379/4"),
            "cache refused": "redis://127.0.0.1:1/0",
            "cache silent": f"redis://127.0.0.1:{silent.getsockname()[1]}/0",
        }
        for label, url in targets.items():
            fail_soft._down_until.clear()
            backend = {
                "BACKEND": "portal.cache.FailSoftRedisCache",
                "LOCATION": url,
                "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 1},
            }
            with override_settings(CACHES={"default": backend}):
                client = Client()
                for path in PAGES:
                    client.get(path)  # the first request fills the cache (when there is one)
                    times = []
                    for _ in range(20):
                        start = time.perf_counter()
                        assert client.get(path).status_code == 200
                        times.append(time.perf_counter() - start)
                    print(f"{label:14} {path:14} median {statistics.median(times) * 1000:7.1f} ms")
    finally:
        silent.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
