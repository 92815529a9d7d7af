"""The API's own endpoint about its caller: who you are to the API and what you have left."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.models import ApiToken
from portal.throttling import usage


class LimitSerializer(serializers.Serializer):
    scope = serializers.CharField(
        help_text="user: your account; token: this token; anon: your address."
    )
    limit = serializers.IntegerField(help_text="Requests allowed per period.")
    remaining = serializers.IntegerField(
        help_text="Requests left in this period, this one counted."
    )
    period_seconds = serializers.IntegerField()
    resets_in_seconds = serializers.IntegerField(
        help_text="Seconds until the oldest request counted leaves the period."
    )


class TokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "key_prefix", "created_at", "last_used_at", "expires_at"]


class UsageSerializer(serializers.Serializer):
    username = serializers.CharField()
    token = TokenSerializer(allow_null=True, help_text="The token this request came with, if any.")
    limits = LimitSerializer(many=True)


class UsageView(APIView):
    """Your account, the token you used, and what each rate limit leaves you.

    The same figures, for the limit closest to running out, come with every
    answer as ``X-RateLimit-Limit`` and ``X-RateLimit-Remaining``.
    """

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(summary="Your own usage of the API and its limits", responses=UsageSerializer)
    def get(self, request: Request) -> Response:
        token = request.auth if isinstance(request.auth, ApiToken) else None
        body = {
            "username": request.user.get_username(),
            "token": token,
            "limits": usage(request, self),
        }
        return Response(UsageSerializer(body).data)
