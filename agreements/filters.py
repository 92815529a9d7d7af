"""Query-string filters shared by the agreements pages, their downloads and the API."""

from __future__ import annotations

import datetime as dt

import django_filters
from django import forms
from django.db.models import QuerySet

from agreements import selectors
from agreements.models import Agency, AgencyKind, Agreement, AgreementEvent, ListSnapshot
from portal.fields import DayField, DayFilter, IdFilter


def _date_filter(help_text: str, **kwargs) -> DayFilter:
    return DayFilter(help_text=help_text, **kwargs)


class AsOfForm(forms.Form):
    """The ``?as_of=`` of the statistics, state and agency pages and of the statistics API."""

    as_of = DayField(
        label="As of",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The figures of the latest ICE list published on or before this day.",
    )


MODEL_CHOICES = Agreement._meta.get_field("model").choices


class StateModelForm(forms.Form):
    """The ``?state=`` and ``?model=`` of one list's rows or of the changes feed.

    An invalid value (a NUL byte, an unknown model) is no filter.
    """

    state = forms.CharField(required=False)  # strips white space, refuses NUL bytes
    model = forms.ChoiceField(choices=MODEL_CHOICES, required=False)

    def clean_state(self) -> str:
        return self.cleaned_data["state"].upper()[:2]

    @property
    def chosen(self) -> tuple[str, str]:
        """The state and model to show (blank: any)."""
        self.is_valid()
        return self.cleaned_data.get("state", ""), self.cleaned_data.get("model", "")


class FilterSet(django_filters.FilterSet):
    """A django-filter filter set whose form class is built once per class."""

    def get_form_class(self):
        # django-filter builds a new form class per request; the filters of a class never change.
        cls = type(self)
        if "_form_class" not in cls.__dict__:
            cls._form_class = super().get_form_class()
        return cls._form_class


class CriteriaFilterSet(FilterSet):
    """A filter set read once into ``selectors.Criteria``, which does the filtering.

    Pages, their CSV/JSON downloads and the API build the same filter set from
    the query string: the API refuses an invalid value (400) where a page
    drops that one filter and keeps the others.
    """

    @property
    def criteria(self) -> selectors.Criteria:
        self.is_valid()
        return selectors.Criteria.from_cleaned(self.form.cleaned_data)


class AgencyFilter(CriteriaFilterSet):
    q = django_filters.CharFilter(help_text="Text in the agency's name or one of its aliases.")
    state = django_filters.CharFilter(help_text="USPS code, e.g. TX.")
    kind = django_filters.ChoiceFilter(choices=AgencyKind.choices)
    model = django_filters.ChoiceFilter(
        choices=MODEL_CHOICES,
        help_text="Agencies holding an agreement of this model (of this status, in force on "
        "as_of, when given: the same agreement).",
    )
    status = django_filters.ChoiceFilter(
        choices=Agreement.Status.choices,
        help_text="Agencies holding an agreement of this status (on as_of, when given; an "
        "ending in question is not ended).",
    )
    county_fips = django_filters.CharFilter(help_text="5-digit county FIPS code.")
    needs_review = django_filters.BooleanFilter()
    as_of = _date_filter(
        "Only agencies with an agreement on ICE's participating list in force that day "
        "(with status: of that status that day)."
    )

    class Meta:
        model = Agency
        fields = ["q", "state", "kind", "model", "status", "county_fips", "needs_review", "as_of"]

    def filter_queryset(self, queryset: QuerySet[Agency]) -> QuerySet[Agency]:
        return selectors.agencies_selected(self.criteria, queryset)


class AgreementFilter(CriteriaFilterSet):
    state = django_filters.CharFilter(help_text="USPS code, e.g. TX.")
    model = django_filters.ChoiceFilter(choices=MODEL_CHOICES)
    status = django_filters.ChoiceFilter(
        choices=Agreement.Status.choices,
        help_text="The status today, or on as_of when given (active: on the participating "
        "list in force; pending: on the pending list only; ended: on an earlier list only, "
        'and not an ending in question, whose status_label reads "Name changed?").',
    )
    county_fips = django_filters.CharFilter(help_text="5-digit county FIPS code of the agency.")
    agency = django_filters.CharFilter(help_text="Agency slug.")
    as_of = _date_filter(
        "Only agreements on ICE's participating list in force that day "
        "(with status: of that status that day)."
    )

    class Meta:
        model = Agreement
        fields = ["state", "model", "status", "county_fips", "agency", "as_of"]

    def filter_queryset(self, queryset: QuerySet[Agreement]) -> QuerySet[Agreement]:
        return selectors.agreements_selected(self.criteria, queryset)


class AgreementEventFilter(FilterSet):
    agency = django_filters.CharFilter(field_name="agency__slug", help_text="Agency slug.")
    agreement = IdFilter(field_name="agreement_id", help_text="Agreement id.")
    state = django_filters.CharFilter(
        field_name="agency__state", method="filter_state", help_text="USPS code, e.g. TX."
    )
    kind = django_filters.ChoiceFilter(choices=AgreementEvent.Kind.choices)
    model = django_filters.ChoiceFilter(field_name="agreement__model", choices=MODEL_CHOICES)
    since = _date_filter("Events seen on or after this day.", method="filter_since")
    until = _date_filter("Events seen on or before this day.", method="filter_until")

    class Meta:
        model = AgreementEvent
        fields = ["agency", "agreement", "state", "kind", "model", "since", "until"]

    def filter_state(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(agency__state=value.strip().upper())

    def filter_since(self, queryset: QuerySet, name: str, value: dt.date) -> QuerySet:
        return queryset.filter(occurred_at__gte=selectors.end_of_day(value - dt.timedelta(days=1)))

    def filter_until(self, queryset: QuerySet, name: str, value: dt.date) -> QuerySet:
        return queryset.filter(occurred_at__lt=selectors.end_of_day(value))


class SnapshotFilter(FilterSet):
    kind = django_filters.ChoiceFilter(choices=ListSnapshot.Kind.choices)
    since = _date_filter("Snapshots published on or after this day.", method="filter_since")
    until = _date_filter("Snapshots published on or before this day.", method="filter_until")
    sha256 = django_filters.CharFilter(method="filter_sha256")

    class Meta:
        model = ListSnapshot
        fields = ["kind", "since", "until", "sha256"]

    def filter_since(self, queryset: QuerySet, name: str, value: dt.date) -> QuerySet:
        return queryset.filter(published_at__gte=selectors.end_of_day(value - dt.timedelta(days=1)))

    def filter_until(self, queryset: QuerySet, name: str, value: dt.date) -> QuerySet:
        return queryset.filter(published_at__lt=selectors.end_of_day(value))

    def filter_sha256(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(sha256=value.strip().lower())
