"""Who may do what on every route: one table, checked against the URL resolver.

Every URL pattern and API route is read from ``get_resolver()``, so a new route
without a row here fails ``test_every_route_has_a_row``. Each row names the
objects its path parameters come from and, for each role, the answer to GET and
to each write method (POST, PUT, PATCH, DELETE). The admin is checked on its
index and on each registered model's list, add and change pages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.contrib import admin
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from portal.accounts import token_hash
from portal.models import AccessRequest, Invitation
from portal.tokens import token_create
from research import policy
from research.models import Annotation, Collection, Document, SavedSearch, Watch, Webhook
from research.services.alerts import unsubscribe_token
from tests.agreements.factories import AgreementEventFactory, ListSnapshotFactory, listed
from tests.research.factories import (
    AdministratorFactory,
    AgreementFactory,
    AnnotationFactory,
    CollectionFactory,
    CollectionItemFactory,
    CuratorFactory,
    DocumentFactory,
    ResearcherFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "researcher", "other_researcher", "staff", "curator", "administrator")
WRITES = ("post", "put", "patch", "delete")

# Shorthands for a row's answers, one per role in ROLES order.
LOGIN = "login"  # 302 to the login page
ADMIN_LOGIN = "admin_login"  # 302 to the admin's login page
ALLOWED = "allowed"  # let through: a page, a redirect after saving, or a form's 400


def everyone(answer) -> tuple:
    return (answer,) * len(ROLES)


# --- The objects path parameters point at -------------------------------------------

OPEN_INVITATION = "an-open-invitations-token"


@pytest.fixture
def world(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    users = {
        "anonymous": None,
        "researcher": ResearcherFactory(),
        "other_researcher": ResearcherFactory(),
        "staff": UserFactory(is_staff=True),
        "curator": CuratorFactory(),
        "administrator": AdministratorFactory(),
    }
    agreement = AgreementFactory()
    snapshot = ListSnapshotFactory()
    listed(snapshot, agreement)
    event = AgreementEventFactory(agreement=agreement, snapshot=snapshot)

    def document(name: str, **fields) -> Document:
        doc = DocumentFactory(title=f"The {name} document", **fields)
        doc.file.save(f"{name}.txt", ContentFile(doc.text.encode()))
        doc.content_type = "text/plain"
        doc.save()
        return doc

    objects = {
        "agency": agreement.agency,
        "agreement": agreement,
        "snapshot": snapshot,
        "event": event,
        "public": document("public", rights=Document.Rights.PUBLIC_DOMAIN),
        "copyrighted": document("copyrighted", rights=Document.Rights.COPYRIGHTED),
        # In review, submitted by the researcher: theirs and the curators' to see.
        "draft": document(
            "draft", status=Document.Status.NEEDS_REVIEW, submitted_by=users["researcher"]
        ),
    }
    objects["document"] = objects["public"]
    objects["invitation"] = Invitation.objects.create(
        email="invited@example.org",
        token_hash=token_hash(OPEN_INVITATION),
        expires_at=timezone.now() + timedelta(days=1),
    )
    # An administrator's note shared with researchers.
    objects["shared_note"] = AnnotationFactory(
        document=objects["public"],
        author=users["administrator"],
        visibility=Annotation.Visibility.RESEARCHERS,
    )
    # The researcher's own: a token, a private collection with one item, a public one.
    objects["token"] = token_create(user=users["researcher"], name="laptop")[0]
    objects["collection"] = CollectionFactory(owner=users["researcher"])
    objects["item"] = CollectionItemFactory(
        collection=objects["collection"], document=objects["public"]
    )
    objects["public_collection"] = CollectionFactory(
        owner=users["researcher"], visibility=Collection.Visibility.PUBLIC
    )
    # The researcher's notes: one shared with researchers, one of their own.
    objects["researcher_note"] = AnnotationFactory(
        document=objects["public"],
        author=users["researcher"],
        visibility=Annotation.Visibility.RESEARCHERS,
    )
    objects["private_note"] = AnnotationFactory(
        document=objects["public"], author=users["researcher"]
    )
    # The researcher's alerts: theirs alone to see and change.
    objects["watch"] = Watch.objects.create(
        user=users["researcher"], scope="program", changes=["signed"]
    )
    objects["saved_search"] = SavedSearch.objects.create(
        user=users["researcher"], name="Jails", query="jail", since=timezone.now()
    )
    objects["webhook"] = Webhook.objects.create(
        user=users["researcher"], url="https://hooks.example.org/a", secret="s" * 64
    )
    return {"users": users, "objects": objects}


def path_value(world, parameter: str, target: str) -> str:
    """The value of a path parameter for a row's ``target`` object."""
    if parameter == "format":
        return "json"
    if parameter == "state":
        return world["objects"]["agency"].state
    if parameter == "token":
        return unsubscribe_token(world["objects"]["watch"])
    if parameter == "item_pk":
        return str(world["objects"]["item"].pk)
    obj = world["objects"][target]
    if parameter == "uuid":
        return str(obj.uuid)
    if parameter == "key":
        return str(obj.share_key)
    return str(obj.slug if parameter == "slug" else obj.pk)


# --- Walking the resolver -------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    pattern: str  # the joined patterns, as declared: the key of the table
    name: str | None  # namespaced URL name, for reverse()
    parameters: tuple[str, ...]


def routes(patterns=None, prefix: str = "", namespace: str | None = None) -> list[Route]:
    """Every URL pattern under the root URLconf, nested includes and routers included."""
    found: list[Route] = []
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        pattern = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = namespace
            if entry.namespace:
                inner = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            found += routes(entry.url_patterns, pattern, inner)
        elif isinstance(entry, URLPattern):
            name = entry.name and (f"{namespace}:{entry.name}" if namespace else entry.name)
            found.append(Route(pattern, name, tuple(entry.pattern.regex.groupindex)))
    return found


def is_admin(route: Route) -> bool:
    return route.pattern.startswith("admin/")


def probe(client: Client, method: str, url: str):
    kwargs = {"content_type": "application/json", "data": "{}"} if method != "get" else {}
    return getattr(client, method)(url, **kwargs)


def client_for(user) -> Client:
    # Answers are compared, not raised: a 500 is a wrong answer like any other.
    client = Client(REMOTE_ADDR="192.0.2.10", raise_request_exception=False)
    if user is not None:
        client.force_login(user)
    return client


# --- The table --------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """What ``pattern`` answers each role, on its ``target`` object (a key of ``world``)."""

    pattern: str
    get: tuple
    writes: tuple | dict = everyone(405)  # one tuple for all write methods, or per method
    target: str = ""
    why: str = field(default="", compare=False)

    def expected(self, method: str) -> tuple:
        if method == "get":
            return self.get
        return self.writes[method] if isinstance(self.writes, dict) else self.writes

    @property
    def id(self) -> str:
        return f"{self.pattern} [{self.target}]" if self.target else self.pattern


# A signed-in person's own form pages (a password change) and Django's form views,
# which take PUT like POST and answer an empty form with the form again.
SIGNED_IN = (LOGIN, 200, 200, 200, 200, 200)
FORM_WRITES = {
    "post": everyone(200),
    "put": everyone(200),
    "patch": everyone(405),
    "delete": everyone(405),
}
# A signed-in person's own pages that only read, or only take POST.
SIGNED_IN_405 = (LOGIN, 405, 405, 405, 405, 405)
READ_ONLY_SIGNED_IN = {
    "post": SIGNED_IN_405,
    "put": SIGNED_IN_405,
    "patch": SIGNED_IN_405,
    "delete": SIGNED_IN_405,
}


def post_only(answers: tuple) -> dict:
    """A page that takes only POST, answering ``answers``; other writes are 405."""
    return {"post": answers, "put": SIGNED_IN_405, "patch": SIGNED_IN_405, "delete": SIGNED_IN_405}


# The researcher's own collection: someone else's by its id is a 404, like none.
OWNER_ONLY = (LOGIN, 200, 404, 404, 404, 404)
# A researcher's alert pages: roles without the alerts permission are refused (403),
# another's alert is not found; GET and POST only.
ALERTS = (LOGIN, 200, 200, 403, 200, 200)
ALERTS_WRITES = {
    "post": (LOGIN, ALLOWED, ALLOWED, 403, ALLOWED, ALLOWED),
    "put": everyone(405),
    "patch": everyone(405),
    "delete": everyone(405),
}
OWN_ALERT = (LOGIN, 200, 404, 403, 404, 404)
OWN_ALERT_WRITES = {**ALERTS_WRITES, "post": (LOGIN, ALLOWED, 404, 403, 404, 404)}
# The API: reading is public; DRF refuses the anonymous before it looks at the method.
API_READ_ONLY = (403, 405, 405, 405, 405, 405)
# Documents are written by submitting only: those who may not submit are refused first.
API_DOCUMENT_WRITES = (403, 405, 405, 403, 405, 405)
# Carrying one's notes to a later MOA: a form's POST for the signed-in, who are sent
# back to the page with a sentence when there is nothing to carry.
CARRY_WRITES = {
    "post": (LOGIN, ALLOWED, ALLOWED, ALLOWED, ALLOWED, ALLOWED),
    "put": everyone(405),
    "patch": everyone(405),
    "delete": everyone(405),
}
# Pages about a document in review that the researcher submitted.
DRAFT = (404, 200, 404, 404, 200, 200)
# A copyrighted file: for those holding the permission to read its text.
COPYRIGHTED_FILE = (404, 200, 200, 404, 200, 200)

# A new note on a document: an empty form is refused (400) to those who may write one.
NEW_NOTE = {
    "post": (LOGIN, 400, 400, 403, 400, 400),
    "put": everyone(405),
    "patch": everyone(405),
    "delete": everyone(405),
}
NO_OTHER_WRITES = {"put": everyone(405), "patch": everyone(405), "delete": everyone(405)}
# A note shared with researchers: its author's form; others who see it are refused.
AUTHOR_ONLY = (LOGIN, 200, 403, 404, 403, 403)
AUTHOR_FORM = {"post": (LOGIN, 400, 403, 404, 403, 403), **NO_OTHER_WRITES}
# A private note: nobody but its author sees it.
PRIVATE_NOTE = (LOGIN, 200, 404, 404, 404, 404)
PRIVATE_NOTE_FORM = {"post": (LOGIN, 400, 404, 404, 404, 404), **NO_OTHER_WRITES}

DOCUMENT_DETAIL_TAILS = (
    "/$",
    "\\.(?P<format>[a-z0-9]+)/?$",
    "/status/$",
    "/status\\.(?P<format>[a-z0-9]+)/?$",
)
API_DOCUMENT_DETAIL = [
    Row(f"api/v1/^documents/(?P<pk>[^/.]+){tail}", get, API_DOCUMENT_WRITES, target)
    for target, get in (("public", everyone(200)), ("draft", DRAFT))
    for tail in DOCUMENT_DETAIL_TAILS
]
# POST {} reaches the submission check (400: no URL) only for those who may submit.
API_DOCUMENT_LIST_WRITES = {
    "post": (403, 400, 400, 403, 400, 400),
    "put": API_DOCUMENT_WRITES,
    "patch": API_DOCUMENT_WRITES,
    "delete": API_DOCUMENT_WRITES,
}


# Notes: everyone reads what the policy lets them; those who may annotate write their own.
API_NOTE_WRITES = API_DOCUMENT_WRITES
API_NOTE_LIST_WRITES = {
    "post": (403, 400, 400, 403, 400, 400),  # {} lacks a document: a sentence per field
    "put": API_NOTE_WRITES,
    "patch": API_NOTE_WRITES,
    "delete": API_NOTE_WRITES,
}
# The import reads a file: {} is neither W3C annotations nor a Hypothesis export.
API_NOTE_IMPORT_WRITES = API_NOTE_LIST_WRITES
# A researcher's private note: theirs alone to read, change (an empty change) and delete.
API_PRIVATE_NOTE = (404, 200, 404, 404, 404, 404)
API_PRIVATE_NOTE_WRITES = {
    "post": API_NOTE_WRITES,
    "put": (403, 200, 404, 403, 404, 404),
    "patch": (403, 200, 404, 403, 404, 404),
    "delete": (403, 204, 404, 403, 404, 404),
}
# The administrator's note shared with researchers: read by all who annotate, theirs to change.
API_SHARED_NOTE = (404, 200, 200, 404, 200, 200)
API_SHARED_NOTE_WRITES = {
    "post": API_NOTE_WRITES,
    "put": (403, 403, 403, 403, 403, 200),
    "patch": (403, 403, 403, 403, 403, 200),
    "delete": (403, 403, 403, 403, 403, 204),
}
NOTE_DETAIL = "api/v1/^annotations/(?P<uuid>[0-9a-fA-F-]{32,36})"
API_NOTE_DETAIL = [
    Row(f"{NOTE_DETAIL}{tail}", get, writes, target)
    for target, get, writes in (
        ("private_note", API_PRIVATE_NOTE, API_PRIVATE_NOTE_WRITES),
        ("shared_note", API_SHARED_NOTE, API_SHARED_NOTE_WRITES),
    )
    for tail in ("/$", "\\.(?P<format>[a-z0-9]+)/?$")
]
DOCUMENT_NOTES = "api/v1/^documents/(?P<pk>[^/.]+)/annotations"
API_DOCUMENT_NOTES = [
    Row(f"{DOCUMENT_NOTES}{tail}", get, API_DOCUMENT_WRITES, target)
    for target, get in (("public", everyone(200)), ("draft", DRAFT))
    for tail in ("/$", "\\.(?P<format>[a-z0-9]+)/?$")
]


def _api_read_only(
    collection: str, target: str, lookup: str = "pk", value: str = "[^/.]+"
) -> list[Row]:
    detail = f"api/v1/^{collection}/(?P<{lookup}>{value})"
    return [
        Row(f"api/v1/^{collection}/$", everyone(200), API_READ_ONLY),
        Row(f"api/v1/^{collection}\\.(?P<format>[a-z0-9]+)/?$", everyone(200), API_READ_ONLY),
        Row(f"{detail}/$", everyone(200), API_READ_ONLY, target),
        Row(f"{detail}\\.(?P<format>[a-z0-9]+)/?$", everyone(200), API_READ_ONLY, target),
    ]


ROWS = [
    # The site's own pages: public reads, no writes.
    Row("", everyone(200)),
    Row("healthz", everyone(200)),
    Row("agencies/", everyone(200)),
    Row("agencies/<slug:slug>/", everyone(200), target="agency"),
    Row("agreements/", everyone(200)),
    Row("states/<str:state>/", everyone(200)),
    Row("snapshots/<int:pk>/", everyone(200), target="snapshot"),
    Row("snapshots/<int:pk>/file/", everyone(200), target="snapshot"),
    Row("snapshots/<int:pk>/changes/", everyone(200), target="snapshot"),
    Row("snapshots/<int:pk>/changes/feed/", everyone(200), target="snapshot"),
    Row("snapshots/<int:pk>/changes/feed.json", everyone(200), target="snapshot"),
    Row("statistics/", everyone(200)),
    Row("changes/", everyone(200)),
    Row("changes/feed/", everyone(200)),
    Row("data/", everyone(200)),
    Row("methodology/", everyone(200)),
    Row("search/", everyone(200)),
    Row("documents/", everyone(200)),
    Row("documents/feed/", everyone(200)),
    Row("documents/<int:pk>/", everyone(200), target="public"),
    Row("documents/<int:pk>/", everyone(200), target="copyrighted", why="its excerpt"),
    Row("documents/<int:pk>/", DRAFT, target="draft"),
    Row("documents/<int:pk>/file/", everyone(200), target="public"),
    Row("documents/<int:pk>/file/", COPYRIGHTED_FILE, target="copyrighted"),
    Row("documents/<int:pk>/file/", DRAFT, target="draft"),
    Row("documents/<int:pk>/carry/", everyone(405), CARRY_WRITES, target="public"),
    # Notes: written by those who may annotate and read the text; an empty form is a 400.
    *(
        Row("documents/<int:pk>/notes/", everyone(405), writes, target)
        for target, writes in (
            ("public", NEW_NOTE),
            ("copyrighted", NEW_NOTE),
            ("draft", {**NEW_NOTE, "post": (LOGIN, 400, 404, 404, 400, 400)}),
        )
    ),
    Row(
        "notes/<int:pk>/edit/",
        AUTHOR_ONLY,
        AUTHOR_FORM,
        "researcher_note",
        why="others: a sentence",
    ),
    Row("notes/<int:pk>/edit/", PRIVATE_NOTE, PRIVATE_NOTE_FORM, "private_note"),
    Row(
        "notes/<int:pk>/delete/",
        AUTHOR_ONLY,
        AUTHOR_FORM,
        "researcher_note",
        why="POST needs confirm",
    ),
    Row("notes/<int:pk>/delete/", PRIVATE_NOTE, PRIVATE_NOTE_FORM, "private_note"),
    Row(
        "notes/<int:pk>/flag/",
        everyone(405),
        {"post": (LOGIN, 403, 302, 404, 302, 302), **NO_OTHER_WRITES},
        "researcher_note",
        why="its author may not flag it; staff without a role do not see it",
    ),
    # Accounts (Django's views).
    Row("accounts/login/", everyone(200), FORM_WRITES),
    Row(
        "accounts/logout/",
        everyone(405),
        {
            "post": everyone(302),
            "put": everyone(405),
            "patch": everyone(405),
            "delete": everyone(405),
        },
    ),
    Row(
        "accounts/password_change/",
        SIGNED_IN,
        {
            "post": SIGNED_IN,
            "put": SIGNED_IN,
            "patch": (LOGIN, 405, 405, 405, 405, 405),
            "delete": (LOGIN, 405, 405, 405, 405, 405),
        },
    ),
    Row("accounts/password_change/done/", SIGNED_IN, (LOGIN, 405, 405, 405, 405, 405)),
    Row("accounts/password_reset/", everyone(200), FORM_WRITES),
    Row("accounts/password_reset/done/", everyone(200)),
    Row(
        "accounts/reset/<uidb64>/<token>/",
        everyone(200),
        everyone(200),
        why="a link that is not valid: the same sentence to every method",
    ),
    Row("accounts/reset/done/", everyone(200)),
    # Alerts.
    Row("me/watches/", ALERTS, ALERTS_WRITES),
    Row("me/watches/<int:pk>/", OWN_ALERT, OWN_ALERT_WRITES, "watch"),
    Row("me/watches/<int:pk>/delete/", OWN_ALERT, OWN_ALERT_WRITES, "watch"),
    Row("me/searches/", ALERTS, ALERTS_WRITES),
    Row("me/searches/<int:pk>/", OWN_ALERT, OWN_ALERT_WRITES, "saved_search"),
    Row("me/searches/<int:pk>/delete/", OWN_ALERT, OWN_ALERT_WRITES, "saved_search"),
    Row("me/webhooks/", ALERTS, ALERTS_WRITES),
    Row(
        "me/webhooks/<int:pk>/enable/",
        everyone(405),
        {**OWN_ALERT_WRITES, "post": (LOGIN, ALLOWED, 404, 403, 404, 404)},
        "webhook",
    ),
    Row("me/webhooks/<int:pk>/delete/", OWN_ALERT, OWN_ALERT_WRITES, "webhook"),
    Row(
        "alerts/unsubscribe/<str:token>/",
        everyone(200),
        {**ALERTS_WRITES, "post": everyone(200)},
        "watch",
        why="the signed link needs no login",
    ),
    # Accounts (the portal's): an open invitation's link, and the request-access form.
    Row(
        "accounts/invitation/<str:token>/",
        everyone(200),
        {**FORM_WRITES, "put": everyone(405)},
        why="an open invitation: POST {} answers the form with its errors",
    ),
    Row("accounts/request-access/", everyone(200), {**FORM_WRITES, "put": everyone(405)}),
    Row("accounts/request-access/sent/", everyone(200)),
    # The API.
    Row("api/v1/", everyone(200)),
    Row("api/v1/stats/", everyone(200), API_READ_ONLY),
    Row("api/v1/search/", everyone(200)),
    Row("api/schema/", everyone(200)),
    Row("api/docs/", everyone(200)),
    *_api_read_only("agencies", "agency", lookup="slug", value="[-a-zA-Z0-9_]+"),
    *_api_read_only("agreements", "agreement"),
    *_api_read_only("events", "event"),
    *_api_read_only("snapshots", "snapshot"),
    Row("api/v1/^snapshots/(?P<pk>[^/.]+)/rows/$", everyone(200), API_READ_ONLY, "snapshot"),
    Row(
        "api/v1/^snapshots/(?P<pk>[^/.]+)/rows\\.(?P<format>[a-z0-9]+)/?$",
        everyone(200),
        API_READ_ONLY,
        "snapshot",
    ),
    Row("api/v1/^documents/$", everyone(200), API_DOCUMENT_LIST_WRITES),
    Row("api/v1/^documents\\.(?P<format>[a-z0-9]+)/?$", everyone(200), API_DOCUMENT_LIST_WRITES),
    *API_DOCUMENT_DETAIL,
    *API_DOCUMENT_NOTES,
    Row("api/v1/^annotations/$", everyone(200), API_NOTE_LIST_WRITES),
    Row("api/v1/^annotations\\.(?P<format>[a-z0-9]+)/?$", everyone(200), API_NOTE_LIST_WRITES),
    # One's own notes: nothing to export for the anonymous.
    Row("api/v1/^annotations/export/$", (403, 200, 200, 200, 200, 200), API_NOTE_WRITES),
    Row(
        "api/v1/^annotations/export\\.(?P<format>[a-z0-9]+)/?$",
        (403, 200, 200, 200, 200, 200),
        API_NOTE_WRITES,
    ),
    Row("api/v1/^annotations/import/$", everyone(405), API_NOTE_IMPORT_WRITES),
    Row(
        "api/v1/^annotations/import\\.(?P<format>[a-z0-9]+)/?$",
        everyone(405),
        API_NOTE_IMPORT_WRITES,
    ),
    *API_NOTE_DETAIL,
    Row("api/v1/me/usage/", (403, 200, 200, 200, 200, 200), API_READ_ONLY),
    # The dashboard and what is kept there: one's own, never someone else's.
    Row("me/", SIGNED_IN, READ_ONLY_SIGNED_IN),
    Row(
        "me/tokens/",
        SIGNED_IN_405,
        post_only((LOGIN, 400, 400, 400, 400, 400)),
        why="an empty form: the name is missing",
    ),
    Row(
        "me/tokens/<int:pk>/revoke/",
        SIGNED_IN_405,
        post_only((LOGIN, 302, 404, 404, 404, 404)),
        target="token",
    ),
    Row(
        "me/collections/",
        SIGNED_IN,
        {**READ_ONLY_SIGNED_IN, "post": (LOGIN, 400, 400, 403, 400, 400)},
        why="an empty form; a staff account without a role may keep no collection",
    ),
    Row(
        "me/collections/add/",
        SIGNED_IN_405,
        post_only((LOGIN, 302, 302, 403, 302, 302)),
        why="an empty form goes back with a message",
    ),
    Row(
        "me/collections/<int:pk>/",
        OWNER_ONLY,
        {**READ_ONLY_SIGNED_IN, "post": (LOGIN, 400, 404, 404, 404, 404)},
        target="collection",
    ),
    Row(
        "me/collections/<int:pk>/delete/",
        OWNER_ONLY,
        {**READ_ONLY_SIGNED_IN, "post": (LOGIN, 302, 404, 404, 404, 404)},
        target="collection",
    ),
    Row(
        "me/collections/<int:pk>/items/<int:item_pk>/",
        SIGNED_IN_405,
        post_only((LOGIN, 302, 404, 404, 404, 404)),
        target="collection",
    ),
    Row(
        "me/submit/",
        (LOGIN, 200, 200, 403, 200, 200),
        {**READ_ONLY_SIGNED_IN, "post": (LOGIN, 400, 400, 403, 400, 400)},
        why="an empty form: neither address nor file",
    ),
    Row("collections/<uuid:key>/", (404, 200, 404, 404, 404, 404), target="collection"),
    Row("collections/<uuid:key>/", everyone(200), target="public_collection"),
]


def test_every_route_has_a_row():
    """A route added without a row here fails; so does a row whose route is gone."""
    declared = {route.pattern for route in routes() if not is_admin(route)}
    rows = {row.pattern for row in ROWS}
    assert declared - rows == set(), "routes without a row in ROWS"
    assert rows - declared == set(), "rows for routes that no longer exist"


def _url(world, row: Row) -> str:
    route = next(route for route in routes() if route.pattern == row.pattern)
    if route.name == "password_reset_confirm":
        return reverse(route.name, kwargs={"uidb64": "MQ", "token": "set-password"})
    if route.name == "invitation-accept":
        return reverse(route.name, kwargs={"token": OPEN_INVITATION})
    kwargs = {name: path_value(world, name, row.target) for name in route.parameters}
    return reverse(route.name, kwargs=kwargs)


def _matches(response, answer) -> bool:
    if answer == ALLOWED:
        return 200 <= response.status_code < 400 or response.status_code == 400
    if answer in (LOGIN, ADMIN_LOGIN):
        login = reverse("admin:login" if answer == ADMIN_LOGIN else "login")
        return response.status_code == 302 and response["Location"].startswith(login)
    return response.status_code == answer


def _check(world, url: str, method: str, expected: tuple) -> list[str]:
    from django.core.cache import cache

    wrong = []
    for role, answer in zip(ROLES, expected, strict=True):
        cache.clear()  # throttles (password reset) count per test client address
        response = probe(client_for(world["users"][role]), method, url)
        if not _matches(response, answer):
            wrong.append(f"{method.upper()} {url} as {role}: {response.status_code}, not {answer}")
    return wrong


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.id)
def test_route_answers_each_role(world, row):
    url = _url(world, row)
    wrong = []
    for method in ("get", *WRITES):
        wrong += _check(world, url, method, row.expected(method))
    assert wrong == []


# --- The admin ---------------------------------------------------------------------


def _admin_answer(role: str, user, permission: str | None):
    if role in ("anonymous", "researcher", "other_researcher"):
        return ADMIN_LOGIN  # not staff: the admin asks them to log in as staff
    if permission is None:
        return 200 if policy.can_curate(user) else 403
    return 200 if user.has_perm(permission) else 403


@pytest.fixture
def admin_world(world):
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    from agreements.models import IdentityRule, PossibleRename
    from tests.research.factories import DocumentAgencyFactory, FeedFactory, TagFactory

    snapshot = world["objects"]["snapshot"]
    DocumentAgencyFactory(document=world["objects"]["public"])
    FeedFactory()
    TagFactory()
    IdentityRule.objects.create(
        state="GA", name_a="A", name_b="B", key_a="a", key_b="b", decision="same"
    )
    PossibleRename.objects.create(
        state="GA",
        old_name="A",
        old_key="a",
        new_name="B",
        new_key="b",
        model="JEM",
        signed_on="2025-01-01",
        snapshot=snapshot,
        previous_snapshot=ListSnapshotFactory(),
    )
    seen = {
        "username": "someone",
        "ip_address": "192.0.2.1",
        "user_agent": "test",
        "http_accept": "*/*",
        "path_info": "/accounts/login/",
    }
    AccessAttempt.objects.create(**seen, get_data="", post_data="", failures_since_start=1)
    AccessLog.objects.create(**seen)
    AccessFailureLog.objects.create(**seen)
    AccessRequest.objects.create(
        name="Someone", email="someone@example.org", affiliation="A paper", reason="Research"
    )
    return world


# Pages that send those allowed elsewhere: documents are added by the submit page.
REDIRECTED_ADMIN_PAGES = {("research.Document", "add")}
ADMIN_PAGES = [
    (model._meta.label, page)
    for model in admin.site._registry
    for page in ("changelist", "add", "change")
]


@pytest.mark.parametrize(("label", "page"), ADMIN_PAGES)
def test_admin_pages_follow_permissions(admin_world, label, page):
    """Each registered model's list, add and change pages, as each role's permissions say."""
    from django.apps import apps

    model = apps.get_model(label)
    info = (model._meta.app_label, model._meta.model_name)
    if page == "change":
        obj = model._default_manager.first()
        assert obj is not None, f"create a {label} in admin_world"
        url = reverse(f"admin:{info[0]}_{info[1]}_change", args=[obj.pk])
        action = "view"  # the change page shows read-only to those who may only view
    else:
        url = reverse(f"admin:{info[0]}_{info[1]}_{page}")
        action = "view" if page == "changelist" else "add"
    model_admin = admin.site._registry[model]
    expected = []
    for role in ROLES:
        user = admin_world["users"][role]
        permission = f"{info[0]}.{action}_{info[1]}"
        if action == "view":
            # Django lets those who may change also view.
            change = f"{info[0]}.change_{info[1]}"
            permission = change if user and user.has_perm(change) else permission
        answer = _admin_answer(role, user, permission)
        if (
            page == "add"
            and answer == 200
            and not model_admin.has_add_permission(_request_for(user))
        ):
            answer = 403  # the model's admin adds nothing (lists come from imports)
        if answer == 200 and (label, page) in REDIRECTED_ADMIN_PAGES:
            answer = ALLOWED
        expected.append(answer)
    assert _check(admin_world, url, "get", tuple(expected)) == []
    assert expected[ROLES.index("staff")] == 403


def _request_for(user):
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def test_admin_roles_by_example(admin_world):
    """The rule above, spelled out for the models that matter most."""
    curator = client_for(admin_world["users"]["curator"])
    administrator = client_for(admin_world["users"]["administrator"])
    staff = client_for(admin_world["users"]["staff"])
    assert curator.get("/admin/research/document/").status_code == 200
    assert curator.get("/admin/auth/user/").status_code == 403
    assert administrator.get("/admin/auth/user/").status_code == 200
    assert staff.get("/admin/research/document/").status_code == 403
    assert staff.get("/admin/").status_code == 403


def _history_args(model_name: str):
    def args(world) -> list:
        obj = world["objects"][model_name]
        return [obj.pk, obj.history.first().history_id]

    return args


# The admin's other pages: (route name, its arguments, GET answers, POST answers).
NOT_STAFF = (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN)
ADMIN_ROWS = [
    ("admin:index", lambda w: [], (*NOT_STAFF, 403, 200, 200), (*NOT_STAFF, 403, 200, 200)),
    (
        "admin:auth_user_password_change",
        lambda w: [w["users"]["researcher"].pk],
        (*NOT_STAFF, 403, 403, 200),  # users are the administrators' alone
        (*NOT_STAFF, 403, 403, 200),
    ),
    (
        "admin:agreements_listsnapshot_upload",
        lambda w: [],
        (*NOT_STAFF, 403, 403, 200),  # ICE's lists are imported by administrators
        (*NOT_STAFF, 403, 403, 200),
    ),
    (
        "admin:research_document_submit",
        lambda w: [],
        (*NOT_STAFF, 403, 200, 200),
        (*NOT_STAFF, 403, 200, 200),
    ),
    *(
        (
            f"admin:{app}_{model}_simple_history",
            _history_args(model),
            (*NOT_STAFF, 403, 200, 200),
            (*NOT_STAFF, 403, ALLOWED, ALLOWED),
        )
        for app, model in (
            ("agreements", "agency"),
            ("agreements", "agreement"),
            ("research", "document"),
        )
    ),
    (
        "admin:research_annotation_simple_history",
        _history_args("researcher_note"),
        (*NOT_STAFF, 403, 200, 200),
        (*NOT_STAFF, 403, ALLOWED, ALLOWED),
    ),
]


@pytest.mark.parametrize("row", ADMIN_ROWS, ids=lambda row: row[0])
def test_admin_views_answer_each_role(world, row):
    name, args, get, post = row
    url = reverse(name, args=args(world))
    assert _check(world, url, "get", get) + _check(world, url, "post", post) == []


def test_admin_routes_are_covered():
    """Every admin route is a model page checked above, a row of ADMIN_ROWS, or Django's own."""
    standard = {"changelist", "add", "change", "delete", "history"}
    model_names = {
        f"admin:{model._meta.app_label}_{model._meta.model_name}" for model in admin.site._registry
    }
    checked = {row[0] for row in ADMIN_ROWS} | DJANGO_ADMIN_ROUTES
    uncovered = []
    for route in routes():
        if not is_admin(route) or route.name in checked:
            continue
        prefix, _, page = (route.name or "").rpartition("_")
        if prefix in model_names and page in standard:
            continue
        uncovered.append((route.pattern, route.name))
    assert uncovered == []


# Django's own admin routes, which need no permission of the portal's.
DJANGO_ADMIN_ROUTES = {
    "admin:login",
    "admin:logout",
    "admin:password_change",
    "admin:password_change_done",
    "admin:autocomplete",
    "admin:jsi18n",
    "admin:view_on_site",
    "admin:app_list",
    None,  # the catch-all, which sends to the login or answers 404
}


def test_the_curate_link_shows_only_to_those_the_admin_lets_in(world):
    curate = 'href="/admin/">Curate</a>'
    for role, shown in [("researcher", False), ("staff", False), ("curator", True)]:
        page = client_for(world["users"][role]).get("/methodology/").content.decode()
        assert (curate in page) == shown, role
