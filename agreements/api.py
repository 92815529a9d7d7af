"""Read-only JSON API of the agreements app, under /api/v1/."""

from __future__ import annotations

from django.http import Http404, HttpResponsePermanentRedirect
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agreements import selectors
from agreements.filters import (
    AgencyFilter,
    AgreementEventFilter,
    AgreementFilter,
    AsOfForm,
    SnapshotFilter,
)
from agreements.serializers import (
    AgencySerializer,
    AgreementEventSerializer,
    AgreementSerializer,
    SnapshotDetailSerializer,
    SnapshotRowSerializer,
    SnapshotSerializer,
    StatsSerializer,
)
from portal.api_schema import ErrorSerializer


class Pagination(PageNumberPagination):
    """Pages of 50 by default; ``page_size`` up to 500."""

    page_size_query_param = "page_size"
    max_page_size = 500


class AgencyViewSet(viewsets.ReadOnlyModelViewSet):
    """Law-enforcement agencies with their aliases and 287(g) agreements."""

    serializer_class = AgencySerializer
    pagination_class = Pagination
    filterset_class = AgencyFilter
    lookup_field = "slug"
    # As the pages' <slug:slug>: any other text (a NUL byte included) is no agency (404).
    lookup_value_regex = r"[-a-zA-Z0-9_]+"

    def get_queryset(self):
        return selectors.agency_list()

    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        """One agency; the old slug of a renamed or merged agency redirects (301) to it."""
        try:
            return super().retrieve(request, *args, **kwargs)
        except Http404:
            moved = selectors.agency_moved_to(kwargs["slug"])
            if moved is None:
                raise
            return HttpResponsePermanentRedirect(
                self.reverse_action("detail", kwargs={"slug": moved.slug})
            )


class AgreementViewSet(viewsets.ReadOnlyModelViewSet):
    """287(g) agreements; ``as_of`` keeps those on the participating list that day."""

    serializer_class = AgreementSerializer
    pagination_class = Pagination
    filterset_class = AgreementFilter

    def get_queryset(self):
        return selectors.agreement_list()


class AgreementEventViewSet(viewsets.ReadOnlyModelViewSet):
    """Changes derived from consecutive ICE lists, newest first."""

    serializer_class = AgreementEventSerializer
    pagination_class = Pagination
    filterset_class = AgreementEventFilter

    def get_queryset(self):
        return selectors.event_list()


class SnapshotViewSet(viewsets.ReadOnlyModelViewSet):
    """Every version of ICE's lists, with the original file and what was odd in it."""

    filterset_class = SnapshotFilter
    pagination_class = Pagination

    def get_queryset(self):
        return selectors.snapshot_list()

    def get_serializer_class(self):
        if self.action == "retrieve":
            return SnapshotDetailSerializer
        if self.action == "rows":
            return SnapshotRowSerializer
        return SnapshotSerializer

    @extend_schema(filters=False, responses=SnapshotRowSerializer(many=True))
    @action(detail=True, methods=["get"], filterset_class=None)
    def rows(self, request: Request, pk: str | None = None, format: str | None = None) -> Response:
        """The rows of this snapshot as ICE wrote them, and what each was resolved to."""
        rows = selectors.snapshot_rows(self.get_object())
        page = self.paginate_queryset(rows)
        serializer = SnapshotRowSerializer(page, many=True, context={"request": request})
        return self.get_paginated_response(serializer.data)


class StatsView(APIView):
    """Counts for ICE's participating list in force on a day."""

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "as_of",
                OpenApiTypes.DATE,
                description="A day written YYYY-MM-DD; the latest list when omitted.",
            )
        ],
        responses={200: StatsSerializer, 400: ErrorSerializer, 404: ErrorSerializer},
    )
    def get(self, request: Request) -> Response:
        """Counts by model, state and state x model, with the snapshot they come from.

        The list in force on day D is the latest participating list published on
        or before the end of D.
        """
        query = AsOfForm(request.query_params)
        if not query.is_valid():
            return Response(
                {"detail": f"as_of: {query.errors['as_of'][0]}"},
                status=status.HTTP_400_BAD_REQUEST,
            )
        as_of = query.cleaned_data.get("as_of")
        stats = selectors.stats_as_of(as_of)
        if stats is None:
            return Response({"detail": _no_list_sentence(as_of)}, status=status.HTTP_404_NOT_FOUND)
        return Response(StatsSerializer(stats).data)


def _no_list_sentence(as_of) -> str:
    first = selectors.snapshot_first()
    if first is None:
        return "No ICE participating list has been imported yet, so there are no counts to show."
    return (
        f"No ICE participating list had been published on or before "
        f"{as_of.isoformat()}; the earliest one in the portal is from "
        f"{timezone.localdate(first.published_at).isoformat()}."
    )
