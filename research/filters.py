"""Query-string filters of the documents: the list page, its download and the API read them."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from portal.fields import FIRST_DAY, LAST_DAY, DayFilter, IdFilter, parse_id
from research.models import Annotation, Document, DocumentAgency


class DocumentFilter(django_filters.FilterSet):
    kind = django_filters.MultipleChoiceFilter(choices=Document.Kind.choices)
    status = django_filters.MultipleChoiceFilter(choices=Document.Status.choices)
    rights = django_filters.MultipleChoiceFilter(choices=Document.Rights.choices)
    agency = django_filters.CharFilter(method="filter_agency", label=_("Agency (slug or id)"))
    state = django_filters.CharFilter(method="filter_state", label=_("State (USPS code)"))
    published_after = DayFilter(
        field_name="published_on", lookup_expr="gte", label=_("Published on or after")
    )
    published_before = DayFilter(
        field_name="published_on", lookup_expr="lte", label=_("Published on or before")
    )
    tag = django_filters.CharFilter(field_name="tags__slug", label=_("Tag (slug)"))
    year = django_filters.CharFilter(method="filter_year", label=_("Year of publication"))

    class Meta:
        model = Document
        fields = ["kind", "status", "rights", "agency", "state", "tag", "year"]

    @staticmethod
    def _about(**agency_lookup) -> Q:
        """Documents about the agencies matching ``agency_lookup``.

        A confirmed agency link counts, and so does being the MOA (or another
        document) of one of the agency's agreements.
        """
        linked = {f"agency_links__agency__{key}": value for key, value in agency_lookup.items()}
        via_agreement = {
            f"agreement_links__agreement__agency__{key}": value
            for key, value in agency_lookup.items()
        }
        return Q(**linked, agency_links__status=DocumentAgency.Status.CONFIRMED) | Q(
            **via_agreement
        )

    def filter_agency(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        pk = parse_id(value)
        lookup = {"pk": pk} if pk is not None else {"slug": value}
        return queryset.filter(self._about(**lookup)).distinct()

    def filter_state(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(self._about(state=value.strip().upper())).distinct()

    def filter_year(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        # The page's year menu offers only years; anything else is no filter, as before.
        year = parse_id(value)
        if year is None or not FIRST_DAY.year <= year <= LAST_DAY.year:
            return queryset
        return queryset.filter(published_on__year=year)


class AnnotationFilter(django_filters.FilterSet):
    """The notes API's filters; finding notes by their words is search's job (/api/v1/search/)."""

    document = IdFilter(field_name="document_id", label=_("Document (id)"))
    tag = django_filters.CharFilter(field_name="tags__slug", label=_("Tag (slug)"))
    author = django_filters.CharFilter(field_name="author__username", label=_("Author (user name)"))

    class Meta:
        model = Annotation
        fields = ["document", "tag", "author"]
