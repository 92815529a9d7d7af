"""The researcher's dashboard (``/me/``) and the API tokens made and revoked there.

The dashboard gathers what a person keeps: watches and saved searches (the
alerts' selectors fill those sections), collections, submitted documents with
their processing status, their notes (those that lost their passage flagged)
and their API tokens.
"""

from __future__ import annotations

from datetime import datetime, time

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from portal.models import ApiToken
from portal.tokens import TokenRefused, token_create, token_revoke, user_tokens
from research import policy, selectors
from research.forms import CollectionForm, SubmitForm

DASHBOARD_ROWS = 50


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=100, help_text="Say where it is used, e.g. “laptop” or “nightly script”."
    )
    expires_on = forms.DateField(
        required=False,
        label="Expires on (optional)",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="After this day the token stops working.",
    )


def _expiry(day) -> datetime | None:
    """The end of ``day`` in the portal's time zone: a token lasts through the day named."""
    if day is None:
        return None
    return timezone.make_aware(datetime.combine(day, time.max))


@never_cache
@login_required
@require_safe
def dashboard(request: HttpRequest) -> HttpResponse:
    """Everything the signed-in person keeps, on one page."""
    return render(request, "portal/dashboard.html", _context(request))


def _context(request: HttpRequest, **extra) -> dict:
    user = request.user
    may_alert = policy.can_keep_alerts(user)
    return {
        # None hides the sections from those who may not keep alerts.
        "watches": selectors.user_watches(user)[:DASHBOARD_ROWS] if may_alert else None,
        "saved_searches": selectors.user_saved_searches(user)[:DASHBOARD_ROWS]
        if may_alert
        else None,
        "may_collect": policy.can_keep_collections(user),
        "collections": selectors.collections_owned(user)[:DASHBOARD_ROWS],
        "shared_collections": selectors.collections_shared_with(user)[:DASHBOARD_ROWS],
        "collection_form": CollectionForm(),
        "may_submit": policy.can_submit_documents(user),
        "submit_form": SubmitForm(),
        "submissions": selectors.submissions_of(user)[:DASHBOARD_ROWS],
        "annotations": _quoted(user, selectors.annotations_of(user)[:DASHBOARD_ROWS]),
        "tokens": user_tokens(user),
        "token_form": extra.pop("token_form", None) or TokenForm(),
        **extra,
    }


def _quoted(user, annotations) -> list:
    """Each note with the passage it is on, as long as the policy lets ``user`` read it."""
    notes = list(annotations)
    for note in notes:
        note.quote = policy.annotation_quote(user, note)
    return notes


@never_cache
@login_required
@require_POST
def token_create_page(request: HttpRequest) -> HttpResponse:
    """Make a token and show its secret, this once; refusals go back to the dashboard's form."""
    form = TokenForm(request.POST)
    if form.is_valid():
        try:
            token, secret = token_create(
                user=request.user,
                name=form.cleaned_data["name"],
                expires_at=_expiry(form.cleaned_data["expires_on"]),
            )
        except TokenRefused as refused:
            form.add_error(None, refused.message)
        else:
            # never_cache: the secret is in this page alone, and no cache keeps a copy.
            return render(
                request,
                "portal/token_created.html",
                {
                    "token": token,
                    "secret": secret,
                    "api_url": request.build_absolute_uri("/api/v1/"),
                },
            )
    return render(request, "portal/dashboard.html", _context(request, token_form=form), status=400)


@login_required
@require_POST
def token_revoke_page(request: HttpRequest, pk: int) -> HttpResponse:
    """Revoke one of your tokens; someone else's is a 404."""
    try:
        token = token_revoke(user=request.user, token_id=pk)
    except ApiToken.DoesNotExist as exc:
        raise Http404("No token of yours at this address.") from exc
    messages.success(request, f"Token “{token.name}” revoked: it no longer opens the API.")
    return redirect(f"{reverse('me')}#tokens")
