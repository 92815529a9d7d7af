"""JSON shapes of research documents for the API."""

from __future__ import annotations

from django.urls import NoReverseMatch
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from research import policy
from research.models import Document, DocumentAgency, DocumentAgreement


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
