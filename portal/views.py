from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_safe

from portal import health


@never_cache
@require_GET
def healthz(request):
    """JSON state of the database, broker and cache.

    200 when the database and broker answer ("degraded: cache" if only the cache
    does not: pages still answer, from the database); 503 naming what failed.
    """
    required = {"database": health.check_database(), "broker": health.check_broker()}
    checks = {**required, "cache": health.check_cache()}
    body = {name: {"ok": ok, "detail": detail} for name, (ok, detail) in checks.items()}
    failing = [name for name, (ok, _) in required.items() if not ok]
    degraded = [name for name, (ok, _) in checks.items() if not ok and name not in required]
    if failing:
        body["status"] = "failing: " + ", ".join(failing + degraded)
    elif degraded:
        body["status"] = "degraded: " + ", ".join(degraded)
    else:
        body["status"] = "ok"
    return JsonResponse(body, status=503 if failing else 200)


@require_safe
def home(request):
    """The front page: figures, map and chart from the agreements app, latest documents."""
    from django.shortcuts import render

    from agreements.models import SupportModel
    from agreements.views import home_context
    from research.selectors import front_page_documents

    model = request.GET.get("model", "")
    model = model if model in SupportModel else ""
    context = home_context(model)
    context["documents"] = front_page_documents()
    return render(request, "portal/home.html", context)


API_ENDPOINTS = [
    ("agencies", "agency-list"),
    ("agreements", "agreement-list"),
    ("events", "event-list"),
    ("snapshots", "snapshot-list"),
    ("stats", "stats"),
    ("documents", "document-list"),
    ("search", "search"),
]


@require_GET
def api_root(request):
    """The entry of /api/v1/: each collection's address, and where the schema and docs live."""
    from django.urls import NoReverseMatch, reverse

    links = {}
    for name, url_name in API_ENDPOINTS:
        try:
            links[name] = request.build_absolute_uri(reverse(url_name))
        except NoReverseMatch:
            continue
    links["schema"] = request.build_absolute_uri(reverse("api-schema"))
    links["docs"] = request.build_absolute_uri(reverse("api-docs"))
    return JsonResponse(links)


def not_found(request, exception):
    """The 404 page; under /api/ a JSON error like the API's own, which API clients can read."""
    from django.views.defaults import page_not_found

    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "No such address in the API; see /api/docs/."}, status=404)
    return page_not_found(request, exception)
