"""JSON shapes of the agreements API (read-only)."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from agreements.models import (
    Agency,
    AgencyAlias,
    Agreement,
    AgreementEvent,
    ListSnapshot,
    SnapshotRow,
)
from agreements.selectors import KIND_LABELS


def _absolute(context: dict, path: str) -> str:
    request = context.get("request")
    return request.build_absolute_uri(path) if request else path


class AgencyAliasSerializer(serializers.ModelSerializer):
    class Meta:
        model = AgencyAlias
        fields = ["name", "state", "source"]


class AgencyRefSerializer(serializers.ModelSerializer):
    """An agency as named from another object."""

    class Meta:
        model = Agency
        fields = ["id", "slug", "name", "state"]


class _AgreementStatusSerializer(serializers.ModelSerializer):
    """An agreement's status as a filter reads it and as the public reads it."""

    status = serializers.CharField(
        read_only=True,
        help_text="pending, active or ended: stable values, as the status filter takes them. "
        "An ended agreement whose ending is in question is selected by no status filter.",
    )
    ending_in_question = serializers.BooleanField(
        read_only=True,
        help_text="true when the list that dropped it added a similar name (a possible "
        "rename no curator has settled yet): status stays ended, status_label reads "
        '"Name changed?".',
    )
    status_label = serializers.CharField(
        read_only=True,
        help_text='What the public reads: Pending, Active, Ended, or "Name changed?".',
    )


class AgreementInAgencySerializer(_AgreementStatusSerializer):
    class Meta:
        model = Agreement
        fields = [
            "id",
            "model",
            "status",
            "ending_in_question",
            "status_label",
            "signed_on",
            "signed_raw",
            "moa_url",
            "addendum_url",
            "first_listed_at",
            "last_listed_at",
            "predecessor",
        ]


class AgencySerializer(serializers.ModelSerializer):
    aliases = AgencyAliasSerializer(many=True, read_only=True)
    agreements = AgreementInAgencySerializer(many=True, read_only=True)
    agreement_count = serializers.IntegerField(read_only=True)
    active_agreement_count = serializers.IntegerField(read_only=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = Agency
        fields = [
            "id",
            "slug",
            "name",
            "state",
            "kind",
            "agency_type",
            "county_name",
            "county_fips",
            "ori",
            "needs_review",
            "agreement_count",
            "active_agreement_count",
            "aliases",
            "agreements",
            "url",
        ]

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, agency: Agency) -> str:
        """The agency's public page."""
        return _absolute(self.context, agency.get_absolute_url())


class AgreementSerializer(_AgreementStatusSerializer):
    agency = AgencyRefSerializer(read_only=True)
    model_label = serializers.CharField(source="get_model_display", read_only=True)

    class Meta:
        model = Agreement
        fields = [
            "id",
            "agency",
            "model",
            "model_label",
            "status",
            "ending_in_question",
            "status_label",
            "signed_on",
            "signed_raw",
            "moa_url",
            "addendum_url",
            "first_listed_at",
            "last_listed_at",
            "predecessor",
        ]


class AgreementRefSerializer(_AgreementStatusSerializer):
    class Meta:
        model = Agreement
        fields = [
            "id",
            "model",
            "status",
            "ending_in_question",
            "status_label",
            "signed_on",
            "predecessor",
        ]


class AgreementEventSerializer(serializers.ModelSerializer):
    """One change; ``old_value`` and ``new_value`` hold the old and new name of a rename."""

    agency = AgencyRefSerializer(read_only=True)
    agreement = AgreementRefSerializer(read_only=True)
    kind_label = serializers.SerializerMethodField(
        help_text="What the public reads: Ended, Renamed, Name changed?, Re-signed..."
    )
    predecessor = AgreementRefSerializer(
        source="agreement.predecessor",
        read_only=True,
        allow_null=True,
        help_text="The agreement a re-signed or switched agreement replaces.",
    )

    class Meta:
        model = AgreementEvent
        fields = [
            "id",
            "kind",
            "kind_label",
            "occurred_at",
            "agency",
            "agreement",
            "snapshot",
            "previous_snapshot",
            "predecessor",
            "field",
            "old_value",
            "new_value",
        ]

    def get_kind_label(self, event: AgreementEvent) -> str:
        return KIND_LABELS[event.kind]


class SnapshotSerializer(serializers.ModelSerializer):
    file_url = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    warning_count = serializers.SerializerMethodField()
    held_reasons = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="Why a held list is left out of the history until a curator applies it.",
    )

    class Meta:
        model = ListSnapshot
        fields = [
            "id",
            "kind",
            "held",
            "held_reasons",
            "published_at",
            "published_at_source",
            "sha256",
            "original_filename",
            "source_url",
            "row_count",
            "warning_count",
            "imported_at",
            "file_url",
            "url",
        ]

    @extend_schema_field(OpenApiTypes.URI)
    def get_file_url(self, snapshot: ListSnapshot) -> str:
        """Where to download the original ICE file, byte for byte."""
        if not snapshot.file:
            return ""
        return _absolute(self.context, reverse("agreements:snapshot-file", args=[snapshot.pk]))

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, snapshot: ListSnapshot) -> str:
        """The snapshot's public page."""
        return _absolute(self.context, snapshot.get_absolute_url())

    def get_warning_count(self, snapshot: ListSnapshot) -> int:
        return len(snapshot.warnings or [])


class SnapshotWarningSerializer(serializers.Serializer):
    """One oddity found in the file (keys beyond these may appear)."""

    row = serializers.IntegerField(allow_null=True, required=False)
    column = serializers.CharField(allow_blank=True, required=False)
    value = serializers.CharField(allow_blank=True, required=False)
    message = serializers.CharField()
    code = serializers.CharField(required=False, help_text="A short machine-readable kind.")


class SnapshotDetailSerializer(SnapshotSerializer):
    header = serializers.ListField(child=serializers.CharField(allow_blank=True))
    warnings = serializers.SerializerMethodField()

    class Meta(SnapshotSerializer.Meta):
        fields = [*SnapshotSerializer.Meta.fields, "sheet_name", "header", "warnings"]

    @extend_schema_field(SnapshotWarningSerializer(many=True))
    def get_warnings(self, snapshot: ListSnapshot) -> list[dict]:
        return list(snapshot.warnings or [])


class SnapshotRowSerializer(serializers.ModelSerializer):
    class Meta:
        model = SnapshotRow
        fields = [
            "row_number",
            "raw",
            "state",
            "agency_name",
            "model",
            "signed_on",
            "agency",
            "agreement",
            "is_duplicate",
        ]


# --- Statistics -----------------------------------------------------------------


class StatsSnapshotSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    published_at = serializers.DateTimeField()
    sha256 = serializers.CharField()
    row_count = serializers.IntegerField()


class StatsPendingSerializer(serializers.Serializer):
    snapshot_id = serializers.IntegerField()
    published_at = serializers.DateTimeField()
    sha256 = serializers.CharField()
    agreements = serializers.IntegerField()


class StatsSerializer(serializers.Serializer):
    """Counts for the participating list in force on ``as_of``."""

    as_of = serializers.DateField(allow_null=True)
    snapshot = StatsSnapshotSerializer()
    agreements = serializers.IntegerField(help_text="Rows (agreements) on the list.")
    agencies = serializers.IntegerField(help_text="Distinct agencies on the list.")
    by_model = serializers.DictField(child=serializers.IntegerField())
    by_state = serializers.DictField(child=serializers.IntegerField())
    by_state_model = serializers.DictField(
        child=serializers.DictField(child=serializers.IntegerField())
    )
    share_by_state_model = serializers.DictField(
        child=serializers.DictField(child=serializers.FloatField(allow_null=True)),
        help_text="Each state's share of each model's agreements on the list, in percent "
        "to one decimal.",
    )
    pending = StatsPendingSerializer(allow_null=True)
