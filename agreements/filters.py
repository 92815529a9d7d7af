"""Query-string filters of the agreements API."""

from __future__ import annotations

import datetime as dt

import django_filters
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from agreements import selectors
from agreements.models import Agency, AgencyKind, Agreement, AgreementEvent, ListSnapshot
from agreements.selectors import end_of_day

DATE_ERROR = _("Write the date as YYYY-MM-DD, for example 2025-07-01.")
DATE_HELP = "A day written YYYY-MM-DD."


def _date_filter(help_text: str, **kwargs) -> django_filters.DateFilter:
    return django_filters.DateFilter(
        help_text=help_text,
        input_formats=["%Y-%m-%d"],
        error_messages={"invalid": DATE_ERROR},
        **kwargs,
    )


def _upper(queryset: QuerySet, name: str, value: str) -> QuerySet:
    return queryset.filter(**{name: value.strip().upper()})


class AgencyFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        method="filter_q", help_text="Text in the agency's name or one of its aliases."
    )
    state = django_filters.CharFilter(method=_upper, help_text="USPS code, e.g. TX.")
    kind = django_filters.ChoiceFilter(choices=AgencyKind.choices)
    model = django_filters.ChoiceFilter(
        field_name="agreements__model",
        choices=Agreement._meta.get_field("model").choices,
        distinct=True,
        help_text="Agencies holding at least one agreement of this model.",
    )
    county_fips = django_filters.CharFilter(help_text="5-digit county FIPS code.")
    needs_review = django_filters.BooleanFilter()
    as_of = _date_filter(
        "Only agencies on ICE's participating list in force that day.", method="filter_as_of"
    )

    class Meta:
        model = Agency
        fields = ["q", "state", "kind", "model", "county_fips", "needs_review", "as_of"]

    def filter_as_of(self, queryset: QuerySet[Agency], name: str, value: dt.date):
        return selectors.agencies_as_of(value, queryset=queryset)

    def filter_q(self, queryset: QuerySet[Agency], name: str, value: str) -> QuerySet[Agency]:
        return selectors.agency_search(queryset, value)


class AgreementFilter(django_filters.FilterSet):
    state = django_filters.CharFilter(
        field_name="agency__state", method=_upper, help_text="USPS code, e.g. TX."
    )
    model = django_filters.ChoiceFilter(choices=Agreement._meta.get_field("model").choices)
    status = django_filters.ChoiceFilter(choices=Agreement.Status.choices)
    county_fips = django_filters.CharFilter(
        field_name="agency__county_fips", help_text="5-digit county FIPS code of the agency."
    )
    agency = django_filters.CharFilter(field_name="agency__slug", help_text="Agency slug.")
    as_of = _date_filter(
        "Only agreements on ICE's participating list in force that day.",
        method="filter_as_of",
    )

    class Meta:
        model = Agreement
        fields = ["state", "model", "status", "county_fips", "agency", "as_of"]

    def filter_as_of(
        self, queryset: QuerySet[Agreement], name: str, value: dt.date
    ) -> QuerySet[Agreement]:
        return selectors.agreements_as_of(value, queryset=queryset)


class AgreementEventFilter(django_filters.FilterSet):
    agency = django_filters.CharFilter(field_name="agency__slug", help_text="Agency slug.")
    agreement = django_filters.NumberFilter(field_name="agreement_id", help_text="Agreement id.")
    state = django_filters.CharFilter(
        field_name="agency__state", method=_upper, help_text="USPS code, e.g. TX."
    )
    kind = django_filters.ChoiceFilter(choices=AgreementEvent.Kind.choices)
    model = django_filters.ChoiceFilter(
        field_name="agreement__model", choices=Agreement._meta.get_field("model").choices
    )
    since = _date_filter("Events seen on or after this day.", method="filter_since")
    until = _date_filter("Events seen on or before this day.", method="filter_until")

    class Meta:
        model = AgreementEvent
        fields = ["agency", "agreement", "state", "kind", "model", "since", "until"]

    def filter_since(self, queryset: QuerySet, name: str, value: dt.date) -> QuerySet:
        return queryset.filter(occurred_at__gte=end_of_day(value - dt.timedelta(days=1)))

    def filter_until(self, queryset: QuerySet, name: str, value: dt.date) -> QuerySet:
        return queryset.filter(occurred_at__lt=end_of_day(value))


class SnapshotFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=ListSnapshot.Kind.choices)
    since = _date_filter("Snapshots published on or after this day.", method="filter_since")
    until = _date_filter("Snapshots published on or before this day.", method="filter_until")
    sha256 = django_filters.CharFilter(method="filter_sha256")

    class Meta:
        model = ListSnapshot
        fields = ["kind", "since", "until", "sha256"]

    def filter_since(self, queryset: QuerySet, name: str, value: dt.date) -> QuerySet:
        return queryset.filter(published_at__gte=end_of_day(value - dt.timedelta(days=1)))

    def filter_until(self, queryset: QuerySet, name: str, value: dt.date) -> QuerySet:
        return queryset.filter(published_at__lt=end_of_day(value))

    def filter_sha256(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(sha256=value.strip().lower())
