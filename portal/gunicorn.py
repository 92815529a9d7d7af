"""How gunicorn runs the portal: ``gunicorn portal.wsgi -c python:portal.gunicorn``.

Read by docker/Dockerfile, docker/compose.yaml, the benchmarks and the tests, which
add the address, the number of workers and the access log. Workers are gunicorn's
sync ones: each request on a new connection, so the kernel spreads requests over
the workers; with kept-alive connections (gthread) all of a client's requests stay
with the worker that accepted its connection, and one worker was seen serving all
of wrk's while the other idled.
"""

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
