from functools import cache

from django.conf import settings
from django.urls import NoReverseMatch, reverse

from research import policy

SITE_NAME = "287(g) Research Portal"

# (label, URL name) of the main navigation; entries whose page does not exist are left out.
NAVIGATION = [
    ("Search", "research:search"),
    ("Agencies", "agreements:agency-list"),
    ("Statistics", "agreements:stats"),
    ("Changes", "agreements:changes"),
    ("Documents", "research:document-list"),
    ("Data", "agreements:data"),
    ("Methodology", "agreements:methodology"),
]


# The header's and footer's other links: template name -> URL name, reversed once.
LINKS = {
    "home": "home",
    "api_docs": "api-docs",
    "api_schema": "api-schema",
    "healthz": "healthz",
    "login": "login",
    "logout": "logout",
    "password_change": "password_change",
    "me": "me",
    "curate": "admin:index",
}


@cache
def _links() -> dict[str, str]:
    return {key: reverse(name) for key, name in LINKS.items()}


@cache
def _navigation() -> tuple[tuple[str, str], ...]:
    items = []
    for label, name in NAVIGATION:
        try:
            items.append((label, reverse(name)))
        except NoReverseMatch:
            continue
    return tuple(items)


def site(request):
    """Values every page template needs."""
    path = request.path
    nav = [
        {"label": label, "url": url, "current": url != "/" and path.startswith(url)}
        for label, url in _navigation()
    ]
    return {
        "site_name": SITE_NAME,
        "site_url": settings.SITE_URL,
        "nav_items": nav,
        "links": _links(),
        # Called only by the templates that show the link (one permissions query for staff).
        "may_curate": lambda: policy.can_curate(getattr(request, "user", None)),
    }
