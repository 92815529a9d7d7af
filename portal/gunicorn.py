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
