"""JSON shapes of research documents and notes for the API."""

from __future__ import annotations

from django.urls import NoReverseMatch
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from portal.fields import MAX_ID
from research import policy, w3c
from research.models import Annotation, Document, DocumentAgency, DocumentAgreement


class DocumentAgencySerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(source="agency.id")
    slug = serializers.CharField(source="agency.slug")
    name = serializers.CharField(source="agency.name")
    state = serializers.CharField(source="agency.state")

    class Meta:
        model = DocumentAgency
        fields = ["id", "slug", "name", "state", "method", "status", "confidence"]


class DocumentAgreementSerializer(serializers.ModelSerializer):
    agreement = serializers.IntegerField(source="agreement_id")
    agency = serializers.CharField(source="agreement.agency.slug")
    model = serializers.CharField(source="agreement.model")
    signed_on = serializers.DateField(source="agreement.signed_on")

    class Meta:
        model = DocumentAgreement
        fields = ["agreement", "role", "agency", "model", "signed_on"]


class DocumentStatusSerializer(serializers.ModelSerializer):
    """Where a document is in processing, and why it failed."""

    class Meta:
        model = Document
        fields = [
            "id",
            "status",
            "status_message",
            "error_code",
            "duplicate_of",
            "attempts",
            "needs_ocr",
            "status_changed_at",
            "fetched_at",
        ]
        read_only_fields = fields


class DocumentSerializer(serializers.ModelSerializer):
    """A document as listed: metadata, confirmed agencies, tags and an excerpt."""

    api_url = serializers.HyperlinkedIdentityField(view_name="document-detail")
    page_url = serializers.SerializerMethodField()
    agencies = serializers.SerializerMethodField()
    tags = serializers.SlugRelatedField(many=True, read_only=True, slug_field="slug")
    excerpt = serializers.SerializerMethodField()
    full_text_available = serializers.SerializerMethodField()

    class Meta:
        model = Document
        fields = [
            "id",
            "api_url",
            "page_url",
            "kind",
            "title",
            "canonical_url",
            "publisher",
            "authors",
            "published_on",
            "language",
            "rights",
            "status",
            "status_message",
            "agencies",
            "tags",
            "excerpt",
            "full_text_available",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_page_url(self, document: Document) -> str | None:
        request = self.context.get("request")
        try:
            path = document.get_absolute_url()
        except NoReverseMatch:  # the public pages may not be wired yet
            return None
        return request.build_absolute_uri(path) if request else path

    def _user(self):
        return getattr(self.context.get("request"), "user", None)

    @extend_schema_field(DocumentAgencySerializer(many=True))
    def get_agencies(self, document: Document) -> list[dict]:
        """Links curators confirmed (everyone); curators also see open suggestions."""
        links = policy.visible_agency_links(self._user(), document.agency_links.all())
        return DocumentAgencySerializer(links, many=True).data

    def get_excerpt(self, document: Document) -> str:
        return policy.public_excerpt(document)

    def get_full_text_available(self, document: Document) -> bool:
        return policy.can_read_text(self._user(), document)


class DocumentDetailSerializer(DocumentSerializer):
    """One document: adds the full text where the rights or the reader allow it."""

    text = serializers.SerializerMethodField()
    urls = serializers.SlugRelatedField(many=True, read_only=True, slug_field="url")
    agreements = DocumentAgreementSerializer(source="agreement_links", many=True, read_only=True)

    class Meta(DocumentSerializer.Meta):
        fields = [
            *DocumentSerializer.Meta.fields,
            "summary",
            "source_url",
            "duplicate_of",
            "error_code",
            "urls",
            "agreements",
            "sha256",
            "content_type",
            "size",
            "needs_ocr",
            "page_offsets",
            "text",
            "attempts",
            "fetched_at",
            "status_changed_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_text(self, document: Document) -> str | None:
        """The extracted text, or null when the reader may only see the excerpt."""
        return policy.readable_text(self._user(), document)


class DocumentSubmitSerializer(serializers.Serializer):
    """A URL a researcher wants in the portal."""

    url = serializers.URLField(max_length=2000)
    kind = serializers.ChoiceField(choices=Document.Kind.choices, required=False)
    title = serializers.CharField(max_length=500, required=False, allow_blank=True)


# --- Notes ------------------------------------------------------------------------

_SELECTOR = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {
            "type": "string",
            "enum": ["TextQuoteSelector", "TextPositionSelector", "FragmentSelector"],
        },
        "exact": {"type": "string"},
        "prefix": {"type": "string"},
        "suffix": {"type": "string"},
        "start": {"type": "integer", "minimum": 0},
        "end": {"type": "integer", "minimum": 0},
        "conformsTo": {"type": "string"},
        "value": {"type": "string", "description": "page=N, the PDF page (1 for the first)."},
    },
}
# The shape research.w3c.to_w3c writes, for the OpenAPI schema.
W3C_ANNOTATION_SCHEMA = {
    "type": "object",
    "description": (
        "A W3C Web Annotation (https://www.w3.org/TR/annotation-model/). The target's source "
        "is the document's canonical URL when it has one, with the portal's page in "
        "state.cached; the selectors count characters of the text the portal extracted. "
        "portal: terms say what the W3C model has no word for."
    ),
    "required": ["@context", "id", "type", "motivation", "created", "body", "target"],
    "properties": {
        "@context": {"type": "array", "items": {"oneOf": [{"type": "string"}, {"type": "object"}]}},
        "id": {"type": "string", "format": "uri"},
        "type": {"type": "string", "enum": ["Annotation"]},
        "motivation": {"type": "string", "enum": list(w3c.MOTIVATIONS)},
        "created": {"type": "string", "format": "date-time"},
        "modified": {"type": "string", "format": "date-time"},
        "creator": {
            "type": "object",
            "properties": {
                "type": {"type": "string"},
                "nickname": {"type": "string"},
                "name": {"type": "string"},
            },
        },
        "body": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type", "value"],
                "properties": {
                    "type": {"type": "string", "enum": ["TextualBody"]},
                    "format": {"type": "string", "enum": [w3c.MARKDOWN]},
                    "purpose": {"type": "string", "enum": ["tagging"]},
                    "value": {"type": "string"},
                },
            },
        },
        "target": {
            "type": "object",
            "required": ["source", "selector"],
            "properties": {
                "source": {"type": "string", "format": "uri"},
                "state": {
                    "type": "object",
                    "properties": {
                        "type": {"type": "string"},
                        "cached": {"type": "string", "format": "uri"},
                    },
                },
                "selector": {"type": "array", "items": _SELECTOR},
            },
        },
        "portal:visibility": {"type": "string", "enum": list(w3c.VISIBILITIES)},
        "portal:groups": {
            "type": "array",
            "items": {"type": "string"},
            "description": "The groups a note is shared with, when its visibility is groups.",
        },
        "portal:review": {"type": "string", "enum": list(Annotation.Review.values)},
        "portal:anchor": {"type": "string", "enum": list(Annotation.Anchor.values)},
        "portal:document": {"type": "integer", "description": "The document's id in the API."},
    },
}
W3C_COLLECTION_SCHEMA = {
    "type": "object",
    "description": "A W3C AnnotationCollection with all its notes in its first page.",
    "required": ["@context", "id", "type", "total", "first"],
    "properties": {
        "@context": W3C_ANNOTATION_SCHEMA["properties"]["@context"],
        "id": {"type": "string", "format": "uri"},
        "type": {"type": "string", "enum": ["AnnotationCollection"]},
        "label": {"type": "string"},
        "total": {"type": "integer"},
        "first": {
            "type": "object",
            "properties": {
                "type": {"type": "string", "enum": ["AnnotationPage"]},
                "startIndex": {"type": "integer"},
                "items": {"type": "array", "items": W3C_ANNOTATION_SCHEMA},
            },
        },
    },
}


def base_url(request) -> str:
    """The portal's scheme and host as the client reached it, for the ids of notes."""
    return request.build_absolute_uri("/").rstrip("/")


class AnnotationSerializer(serializers.BaseSerializer):
    """A note as a W3C Web Annotation (research.w3c): the one form the API and exports give."""

    def to_representation(self, annotation: Annotation) -> dict:
        request = self.context["request"]
        quote = policy.annotation_quote(request.user, annotation)
        return w3c.to_w3c(annotation, base_url(request), quote=quote)


class AnnotationSerializerSchema(OpenApiSerializerExtension):
    target_class = AnnotationSerializer

    def map_serializer(self, auto_schema, direction):
        return W3C_ANNOTATION_SCHEMA


class AnnotationCreateSerializer(serializers.Serializer):
    """A new note on ``document``'s extracted text from ``start`` to ``end``.

    ``exact``, when sent, must be the text at that place: a check that the
    client's copy of the text is the portal's.
    """

    document = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    start = serializers.IntegerField(min_value=0, max_value=MAX_ID)
    end = serializers.IntegerField(min_value=0, max_value=MAX_ID)
    exact = serializers.CharField(required=False, trim_whitespace=False)
    body = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, help_text="Tag names or slugs."
    )
    groups = serializers.ListField(
        child=serializers.CharField(max_length=150),
        required=False,
        help_text="Names of your groups to share the note with (visibility groups).",
    )
    visibility = serializers.ChoiceField(
        choices=Annotation.Visibility.choices, default=Annotation.Visibility.PRIVATE
    )
    motivation = serializers.ChoiceField(
        choices=Annotation.Motivation.choices, default=Annotation.Motivation.COMMENTING
    )


class AnnotationUpdateSerializer(serializers.Serializer):
    """What its author may change in a note; what is left out stays as it is."""

    body = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=100), required=False)
    groups = serializers.ListField(child=serializers.CharField(max_length=150), required=False)
    visibility = serializers.ChoiceField(choices=Annotation.Visibility.choices, required=False)
    motivation = serializers.ChoiceField(choices=Annotation.Motivation.choices, required=False)


class ImportRefusalSerializer(serializers.Serializer):
    item = serializers.IntegerField(help_text="1 for the file's first annotation.")
    id = serializers.CharField(allow_blank=True)
    source = serializers.CharField(allow_blank=True)
    reason = serializers.CharField()


class ImportReportSerializer(serializers.Serializer):
    """What an import did: the notes written, those already here, and each refusal."""

    summary = serializers.CharField()
    imported = serializers.ListField(child=serializers.URLField(), help_text="The new notes.")
    already_imported = serializers.ListField(child=serializers.CharField())
    refused = ImportRefusalSerializer(many=True)
