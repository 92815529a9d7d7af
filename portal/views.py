from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal import health


@never_cache
@require_GET
def healthz(request):
    """JSON state of the database and broker: 200 if all answer, 503 naming what failed."""
    checks = {"database": health.check_database(), "broker": health.check_broker()}
    body = {name: {"ok": ok, "detail": detail} for name, (ok, detail) in checks.items()}
    failing = [name for name, (ok, _) in checks.items() if not ok]
    body["status"] = "ok" if not failing else "failing: " + ", ".join(failing)
    return JsonResponse(body, status=503 if failing else 200)


def home(request):
    """The front page; the agreements and research apps contribute its sections."""
    from django.shortcuts import render

    return render(request, "portal/home.html", {})
