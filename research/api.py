"""The documents API (list, detail, processing status, submitting a URL) and the notes API
(read by the one visibility policy, written by their authors, exported and imported
as W3C Web Annotations)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotAuthenticated, ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from research import policy, selectors, w3c
from research.filters import AnnotationFilter, DocumentFilter
from research.models import Annotation
from research.serializers import (
    W3C_COLLECTION_SCHEMA,
    AnnotationCreateSerializer,
    AnnotationSerializer,
    AnnotationUpdateSerializer,
    DocumentDetailSerializer,
    DocumentSerializer,
    DocumentStatusSerializer,
    DocumentSubmitSerializer,
    ImportReportSerializer,
    base_url,
)
from research.services import annotation_exchange
from research.services.annotations import (
    ONLY_THE_AUTHOR,
    AnnotationRefused,
    annotate,
    delete_annotation,
    update_annotation,
)
from research.services.ingest import DocumentNotVisible, IngestError, document_submit_as


class JSONLDRenderer(JSONRenderer):
    """W3C annotations as JSON-LD: ``.jsonld`` or ``Accept: application/ld+json``."""

    media_type = w3c.MEDIA_TYPE
    format = "jsonld"


class JSONLDParser(JSONParser):
    media_type = w3c.MEDIA_TYPE


# An export is JSON-LD unless JSON is asked for.
EXPORT_RENDERERS = [JSONLDRenderer, JSONRenderer]


class CanSubmitDocuments(permissions.BasePermission):
    """Reading is open; submitting is for researchers and staff."""

    message = "Only researchers and curators may submit documents; log in with such an account."

    def has_permission(self, request, view) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return policy.can_submit_documents(request.user)


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
    def create(self, request: Request, *args, **kwargs) -> Response:
        """Queue a URL for fetching; a URL already known returns its document, if visible.

        Someone else's document that is not published is neither shown nor
        fetched again: the caller gets a sentence saying so.
        """
        submit = DocumentSubmitSerializer(data=request.data)
        submit.is_valid(raise_exception=True)
        try:
            document = document_submit_as(
                request.user,
                url=submit.validated_data["url"],
                kind=submit.validated_data.get("kind"),
                title=submit.validated_data.get("title", ""),
            )
        except DocumentNotVisible as exc:
            return Response({"detail": exc.message}, status=status.HTTP_409_CONFLICT)
        except IngestError as exc:
            raise ValidationError({"url": [exc.message]}) from exc
        body = DocumentDetailSerializer(document, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="A document's processing status and error", responses=DocumentStatusSerializer
    )
    @action(detail=True, methods=["get"], url_path="status", url_name="status")
    def status_(self, request: Request, pk=None, format=None) -> Response:
        return Response(DocumentStatusSerializer(self.get_object()).data)

    @extend_schema(
        summary="A document's notes that the reader may see, as a W3C AnnotationCollection",
        responses={200: OpenApiResponse(W3C_COLLECTION_SCHEMA, "The notes, in one page.")},
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="annotations",
        url_name="annotations",
        renderer_classes=EXPORT_RENDERERS,
        filterset_class=None,
        pagination_class=None,
    )
    def annotations(self, request: Request, pk=None, format=None) -> Response:
        """The notes on this document that the reader may see, in the W3C form that
        /api/v1/annotations/import/ reads back."""
        document = self.get_object()
        notes = selectors.annotation_list(request.user).filter(document=document)
        return Response(_collection(request, notes, f"Notes on {document}"))


def _collection(request: Request, notes, label: str) -> dict:
    items = AnnotationSerializer(notes, many=True, context={"request": request}).data
    url = request.build_absolute_uri(request.path)
    return w3c.to_collection(list(items), url, label, base_url(request))


# --- Notes ---------------------------------------------------------------------------

# Fields the portal sets: sent by a client, they are refused rather than ignored,
# so that nobody believes they set an author, an approval or an anchor.
PORTAL_FIELDS = frozenset(
    {
        "author",
        "creator",
        "review",
        "reviewed_by",
        "reviewed_at",
        "anchor",
        "text_sha256",
        "id",
        "uuid",
        "created",
        "modified",
        "created_at",
        "updated_at",
        "prefix",
        "suffix",
        "page",
        "carried_from",
        "previous_exact",
        "portal:review",
        "portal:anchor",
    }
)
# The passage of a note is chosen once; to move it, delete the note and select again.
PASSAGE_FIELDS = frozenset({"document", "start", "end", "exact", "target"})


def _refuse_fields(data, fields: frozenset[str], sentence: str) -> None:
    sent = sorted(fields.intersection(data)) if isinstance(data, dict) else []
    if sent:
        raise ValidationError({name: [sentence] for name in sent})


def _refused(exc: AnnotationRefused) -> ValidationError:
    """The service's refusal in the API's error format: a sentence for each field."""
    return ValidationError(
        {
            ("detail" if name == "__all__" else name): [sentence]
            for name, sentence in exc.errors.items()
        }
    )


class CanWriteNotes(permissions.BasePermission):
    """Everyone reads what the policy lets them; researchers and curators write their own."""

    message = "Only researchers and curators may write notes; log in with such an account."

    def has_permission(self, request, view) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return policy.can_annotate(request.user)

    def has_object_permission(self, request, view, obj) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        self.message = ONLY_THE_AUTHOR
        return policy.can_edit_annotation(request.user, obj)


@extend_schema_view(
    list=extend_schema(summary="The notes the reader may see, by document and place"),
    retrieve=extend_schema(summary="One note, as a W3C Web Annotation"),
)
class AnnotationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Researchers' notes on documents, as W3C Web Annotations, with the pages' visibility.

    A private note is its author's alone; one shared with researchers is read by
    those who may annotate; a public one reaches everyone once a curator approves it.
    """

    lookup_field = "uuid"
    lookup_value_regex = "[0-9a-fA-F-]{32,36}"
    filterset_class = AnnotationFilter
    permission_classes = [CanWriteNotes]
    serializer_class = AnnotationSerializer
    renderer_classes = [JSONRenderer, JSONLDRenderer, BrowsableAPIRenderer]

    def get_queryset(self):
        return selectors.annotation_list(self.request.user)

    def _note(self, annotation: Annotation, code: int = status.HTTP_200_OK) -> Response:
        return Response(
            AnnotationSerializer(annotation, context={"request": self.request}).data, status=code
        )

    @extend_schema(
        summary="Write a note on a passage of a document (researchers and curators)",
        request=AnnotationCreateSerializer,
        responses={201: AnnotationSerializer},
    )
    def create(self, request: Request, *args, **kwargs) -> Response:
        """The passage is ``start`` to ``end`` in the document's extracted text (its
        ``text`` in /api/v1/documents/{id}/). A public note waits for a curator."""
        _refuse_fields(request.data, PORTAL_FIELDS, "The portal sets this field: leave it out.")
        given = AnnotationCreateSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        fields = given.validated_data
        document = policy.visible_documents(request.user).filter(pk=fields["document"]).first()
        if document is None:
            raise ValidationError(
                {"document": ["There is no document with this id that you may see."]}
            )
        try:
            note = annotate(
                document,
                request.user,
                start=fields["start"],
                end=fields["end"],
                exact=fields.get("exact"),
                body=fields.get("body", ""),
                tags=fields.get("tags", ()),
                groups=fields.get("groups", ()),
                visibility=fields["visibility"],
                motivation=fields["motivation"],
            )
        except AnnotationRefused as exc:
            raise _refused(exc) from exc
        return self._note(note, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change your note's words, tags, visibility or motivation",
        request=AnnotationUpdateSerializer,
        responses={200: AnnotationSerializer},
    )
    def update(self, request: Request, *args, **kwargs) -> Response:
        """PUT and PATCH alike change only the fields sent. A changed public note
        goes back to the curators' queue."""
        _refuse_fields(request.data, PORTAL_FIELDS, "The portal sets this field: leave it out.")
        _refuse_fields(
            request.data,
            PASSAGE_FIELDS,
            "A note stays on its passage: to move it, delete it and select the passage again.",
        )
        note = self.get_object()
        given = AnnotationUpdateSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            note = update_annotation(note, request.user, **given.validated_data)
        except AnnotationRefused as exc:
            raise _refused(exc) from exc
        return self._note(note)

    @extend_schema(
        summary="Change your note's words, tags, visibility or motivation",
        request=AnnotationUpdateSerializer,
        responses={200: AnnotationSerializer},
    )
    def partial_update(self, request: Request, *args, **kwargs) -> Response:
        return self.update(request, *args, **kwargs)

    @extend_schema(summary="Delete your note", responses={204: None})
    def destroy(self, request: Request, *args, **kwargs) -> Response:
        note = self.get_object()
        try:
            delete_annotation(note, request.user)
        except AnnotationRefused as exc:
            raise _refused(exc) from exc
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Your own notes, as a W3C AnnotationCollection",
        responses={200: OpenApiResponse(W3C_COLLECTION_SCHEMA, "Your notes, in one page.")},
        filters=False,
    )
    @action(
        detail=False,
        methods=["get"],
        url_path="export",
        url_name="export",
        renderer_classes=EXPORT_RENDERERS,
        filterset_class=None,
        pagination_class=None,
    )
    def export(self, request: Request, format=None) -> Response:
        """All your notes on documents you may see, orphaned ones included: a file that
        /api/v1/annotations/import/ reads back."""
        if not request.user.is_authenticated:
            raise NotAuthenticated("Log in to export your notes.")
        notes = selectors.own_annotations(request.user)
        return Response(_collection(request, notes, f"Notes by {request.user.get_username()}"))

    @extend_schema(
        summary="Import W3C annotations (JSON-LD) or a Hypothesis export as your notes",
        request={
            w3c.MEDIA_TYPE: {"oneOf": [{"type": "object"}, {"type": "array"}]},
            "application/json": {"oneOf": [{"type": "object"}, {"type": "array"}]},
        },
        responses={200: ImportReportSerializer},
        filters=False,
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        url_name="import",
        parser_classes=[JSONLDParser, JSONParser],
        filterset_class=None,
        pagination_class=None,
    )
    def import_(self, request: Request, format=None) -> Response:
        """The body is the file: one annotation, a list, a W3C AnnotationCollection or
        AnnotationPage, or Hypothesis's list (or search answer). Each annotation goes
        on the document at its address; those that cannot are listed with the reason.
        A file that cannot be read is refused whole."""
        stream = request.stream
        raw = stream.read(annotation_exchange.MAX_IMPORT_BYTES + 1) if stream else b""
        try:
            report = annotation_exchange.annotations_import(
                user=request.user, raw=raw, base_url=base_url(request)
            )
        except annotation_exchange.ExchangeRefused as exc:
            raise ValidationError({"detail": [str(exc)]}) from exc
        body = {
            "summary": report.summary(),
            "imported": [w3c.note_url(note, base_url(request)) for note in report.imported],
            "already_imported": report.already_imported,
            "refused": [refusal.as_dict() for refusal in report.refused],
        }
        return Response(ImportReportSerializer(body).data)
