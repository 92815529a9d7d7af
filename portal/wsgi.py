"""WSGI entry point (gunicorn portal.wsgi).

A configuration problem or an unreachable database stops the worker at start-up
with one sentence instead of failing on the first request.
"""

import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
# No page waits on one query longer than this; gunicorn's own timeout is longer.
os.environ.setdefault("DATABASE_STATEMENT_TIMEOUT", "20")

from portal.env import ConfigError, env_str, redact_url

try:
    from django.core.wsgi import get_wsgi_application

    application = get_wsgi_application()
except ConfigError as exc:
    sys.stderr.write(f"Configuration error: {exc}\n")
    sys.exit(4)

from django.db import connection
from django.db.utils import OperationalError

try:
    connection.ensure_connection()
except OperationalError as exc:
    target = redact_url(env_str("DATABASE_URL")) or "the SQLite file under var/"
    reason = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
    sys.stderr.write(
        f"Database error: cannot use the database at DATABASE_URL={target}: {reason}\n"
    )
    sys.exit(4)
finally:
    connection.close()
