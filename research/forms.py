"""Forms of the research app's own pages: alerts (watches, saved searches, webhooks)."""

from __future__ import annotations

import us
from django import forms
from django.utils.translation import gettext_lazy as _

from agreements.models import Agency
from research.models import AlertRate, Watch

STATE_CHOICES = [("", _("Choose a state"))] + sorted(
    (s.abbr, s.name) for s in [*us.states.STATES_AND_TERRITORIES, us.states.DC]
)


class WatchForm(forms.Form):
    scope = forms.ChoiceField(
        label=_("What to watch"), choices=Watch.Scope.choices, widget=forms.RadioSelect
    )
    agency = forms.ModelChoiceField(
        label=_("Agency"),
        queryset=Agency.objects.order_by("state", "name"),
        required=False,
        to_field_name="slug",
        empty_label=_("Choose an agency"),
    )
    county_fips = forms.CharField(
        label=_("County FIPS code"),
        required=False,
        max_length=5,
        help_text=_("5 digits, e.g. 12045 for Gulf County, Florida."),
    )
    state = forms.ChoiceField(label=_("State"), choices=STATE_CHOICES, required=False)
    changes = forms.MultipleChoiceField(
        label=_("Tell me when an agreement is"),
        choices=Watch.Change.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=Watch.Change.values,
    )
    rate = forms.ChoiceField(label=_("E-mail"), choices=AlertRate.choices, initial=AlertRate.DAILY)


class SavedSearchForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200, required=False)
    search = forms.CharField(
        label=_("Search"),
        max_length=2000,
        help_text=_("Words as you type them in search, or the address of a search page."),
    )
    rate = forms.ChoiceField(label=_("E-mail"), choices=AlertRate.choices, initial=AlertRate.DAILY)


class WebhookForm(forms.Form):
    url = forms.URLField(
        label=_("Address"),
        max_length=2000,
        assume_scheme="https",
        help_text=_("The portal POSTs each new alert item there as JSON, signed."),
    )
