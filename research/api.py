"""The documents API: list, detail, processing status, and submitting a URL."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from research import policy, selectors
from research.filters import DocumentFilter
from research.serializers import (
    DocumentDetailSerializer,
    DocumentSerializer,
    DocumentStatusSerializer,
    DocumentSubmitSerializer,
)
from research.services.ingest import IngestError, document_submit


class CanSubmitDocuments(permissions.BasePermission):
    """Reading is open; submitting is for researchers and staff."""

    message = "Only researchers and curators may submit documents; log in with such an account."

    def has_permission(self, request, view) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return policy.can_submit_documents(request.user)


# Said instead of the document when someone else's address is not visible to the caller.
NOT_VISIBLE = (
    "This address is already in the portal, but not published: only curators can see it "
    "or fetch it again, so there is nothing more to do."
)


@extend_schema_view(
    list=extend_schema(summary="Documents about 287(g) agreements, newest first"),
    retrieve=extend_schema(
        summary="One document; its text only where the rights or the reader allow it"
    ),
)
class DocumentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """News, MOAs, court filings, legislation and reports, with their agencies."""

    filterset_class = DocumentFilter
    permission_classes = [CanSubmitDocuments]

    def get_queryset(self):
        return selectors.document_api_list(self.request.user, detail=self.action == "retrieve")

    def get_serializer_class(self):
        if self.action == "retrieve":
            return DocumentDetailSerializer
        if self.action == "status_":
            return DocumentStatusSerializer
        if self.action == "create":
            return DocumentSubmitSerializer
        return DocumentSerializer

    @extend_schema(
        summary="Submit a URL (researchers and curators)",
        request=DocumentSubmitSerializer,
        responses={
            202: DocumentDetailSerializer,
            400: OpenApiResponse(description="The URL is not valid."),
            403: OpenApiResponse(description="Not logged in as a researcher or curator."),
            409: OpenApiResponse(
                description="The URL is already in the portal, unpublished and not yours."
            ),
        },
    )
    def create(self, request: Request) -> Response:
        """Queue a URL for fetching; a URL already known returns its document, if visible.

        Someone else's document that is not published is neither shown nor
        fetched again: the caller gets a sentence saying so.
        """
        submit = DocumentSubmitSerializer(data=request.data)
        submit.is_valid(raise_exception=True)
        hidden = Response({"detail": NOT_VISIBLE}, status=status.HTTP_409_CONFLICT)
        known = selectors.documents_at_url(submit.validated_data["url"])
        if any(not policy.can_view(request.user, document) for document in known):
            return hidden
        try:
            document = document_submit(
                url=submit.validated_data["url"],
                kind=submit.validated_data.get("kind"),
                title=submit.validated_data.get("title", ""),
                submitted_by=request.user,
            )
        except IngestError as exc:
            raise ValidationError({"url": [exc.message]}) from exc
        if not policy.can_view(request.user, document):  # another submission won a race
            return hidden
        body = DocumentDetailSerializer(document, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="A document's processing status and error", responses=DocumentStatusSerializer
    )
    @action(detail=True, methods=["get"], url_path="status", url_name="status")
    def status_(self, request: Request, pk=None, format=None) -> Response:
        return Response(DocumentStatusSerializer(self.get_object()).data)
