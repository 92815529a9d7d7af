"""How gunicorn runs the portal: ``gunicorn portal.wsgi -c python:portal.gunicorn``.

Read by docker/Dockerfile, docker/compose.yaml and the benchmarks, which add the
address, the number of workers and the access log. ``gthread`` workers keep a
client's connection open between its requests (HTTP keep-alive, the proxy's in
production), where sync workers close it after each one and the next request pays
for a new connection; with one thread, a worker still serves one request at a time.
"""

worker_class = "gthread"
threads = 1
timeout = 60


def post_worker_init(worker):
    """A new worker reads the search arrays and the kept postings before its first
    request, which would otherwise wait for them (seconds at a million documents).

    Never keeps a worker from serving: if the database does not answer, the first
    searches read them as before.
    """
    from django.db import connections

    from research.search.sync import search_warm

    try:
        warmed = search_warm()
    except Exception:  # logged; the worker serves all the same
        worker.log.exception("Search arrays not read before the first request")
    else:
        worker.log.info("Search arrays read: %(entries)s entries, %(words)s words", warmed)
    finally:
        connections.close_all()  # requests run on other threads, with their own
