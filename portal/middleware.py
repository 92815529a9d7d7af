"""Middleware of the portal as a whole."""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)

# Seconds a client is asked to wait: about as long as a database restart takes.
RETRY_AFTER = 30
UNAVAILABLE = "The database is unavailable for a moment; please try again in a minute."


class DatabaseUnavailableMiddleware:
    """Answer 503 when the database cannot be reached or a query timed out.

    The next request connects afresh (CONN_HEALTH_CHECKS), so the portal recovers
    without a restart once the database is back.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception):
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        logger.warning("Database unavailable for %s: %s", request.path, exception)
        if request.path.startswith("/api/"):
            response = JsonResponse({"detail": UNAVAILABLE}, status=503)
        else:
            response = HttpResponse(
                render_to_string("503.html", {"message": UNAVAILABLE}), status=503
            )
        response["Retry-After"] = str(RETRY_AFTER)
        return response
