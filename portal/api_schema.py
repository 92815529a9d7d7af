"""The OpenAPI schema of the API: drf-spectacular's, with the errors each route can answer.

drf-spectacular documents the answers a view declares; the errors that DRF itself
gives (a refused filter value, a failed log-in, a missing page or object, a
throttled client) are added here once, so the schema lists every status the API
can answer and its body.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    """An error in one sentence."""

    detail = serializers.CharField()


# A refused query string or body: a sentence, or the sentences for each field.
FIELD_ERRORS = {
    "type": "object",
    "additionalProperties": {
        "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
    },
}


def _may_be_blank(field: serializers.Field) -> bool:
    """Whether a read-only field of a model serializer shows a model field that may be blank.

    DRF drops ``allow_blank`` from read-only fields, so drf-spectacular would
    document a blank URL as a URI, which "" is not.
    """
    if not field.read_only:
        return False
    model = getattr(getattr(field.parent, "Meta", None), "model", None)
    try:
        return bool(model and model._meta.get_field(field.source).blank)
    except Exception:  # not a model field (a method, a property, a dotted source)
        return False


class AutoSchema(SpectacularAutoSchema):
    """Every operation also documents 400, 401, 403, 404 and 429 where DRF can answer them,
    and a string of a format (a URI) that may be blank says so."""

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if schema.get("type") == "string" and "format" in schema and _may_be_blank(field):
            outer = {"readOnly", "writeOnly", "nullable", "deprecated", "description", "title"}
            inner = {key: schema.pop(key) for key in list(schema) if key not in outer}
            schema["oneOf"] = [inner, {"type": "string", "maxLength": 0}]
        return schema

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code, response in self._errors().items():
            if code not in responses:
                responses[code] = self._get_response_for_code(response, code, direction=direction)
        return responses

    def _errors(self) -> dict[str, OpenApiResponse]:
        errors = {
            "401": OpenApiResponse(
                ErrorSerializer,
                "The API token sent is unknown, revoked or expired; the sentence says which.",
            ),
            "403": OpenApiResponse(
                ErrorSerializer,
                "The credentials sent are wrong, or this account may not do this.",
            ),
            "429": OpenApiResponse(ErrorSerializer, "Too many requests; try again later."),
        }
        takes_input = bool(self._get_filter_parameters()) or self.method not in ("GET", "HEAD")
        if takes_input or self._get_paginator():
            errors["400"] = OpenApiResponse(
                FIELD_ERRORS, "A value sent is not valid; each says why."
            )
        # DRF also answers 404 to a ?format= that names none of the view's renderers.
        if self._get_paginator() or "{" in self.path or self._get_format_parameters():
            errors["404"] = OpenApiResponse(
                ErrorSerializer, "No such object, no such page, or no such format."
            )
        return errors
