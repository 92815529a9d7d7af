"""Schemathesis drives the API from its own OpenAPI schema (``/api/schema/``).

Every operation is called with the inputs the schema allows (and some it does
not), on a portal holding a few agencies, agreements, lists and documents: no
answer is a server error, and every answer matches the schema it documents.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

# Django's own WSGI handler, as gunicorn runs it (``portal.wsgi`` also checks the
# database at import, which a test module may not); serving the schema reads no data.
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())


@pytest.fixture
def _one_connection():
    """Requests share the test's database connection and transaction, as with Django's
    test client: the WSGI handler would close the connection after each request."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(max_examples=settings.default.max_examples)  # the suite's profile (tests/conftest.py)
def test_the_api_answers_as_its_schema_says(case, portal_data, _one_connection):
    # The test client does not decompress: ask for plain bodies.
    case.call_and_validate(
        headers={"Accept-Encoding": "identity"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_headers_conformance,
            response_schema_conformance,
        ],
    )
