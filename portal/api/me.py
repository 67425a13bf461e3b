"""``/api/v1/me/``: who the API takes you for."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.api.base import ApiMixin
from portal.consumption.membership import business_units_of
from portal.integrations.models import ApiToken


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    is_superuser = serializers.BooleanField()
    token = serializers.DictField(
        child=serializers.CharField(allow_null=True),
        allow_null=True,
        help_text="The token this request authenticated with (name, prefix, expires_at), "
        "or null for a browser session.",
    )
    business_units = serializers.ListField(
        child=serializers.DictField(child=serializers.CharField()),
        help_text="The business units you belong to (slug, name): an order names one of them "
        "(`business_unit`) when there are several.",
    )


class MeView(ApiMixin, APIView):
    """Who the API takes you for: a cheap call to check a token."""

    @extend_schema(
        responses=MeSerializer,
        operation_id="me_retrieve",
        tags=["me"],
        summary="Who the API takes you for (a cheap way to check a token)",
    )
    def get(self, request: Request) -> Response:
        token = request.auth if isinstance(request.auth, ApiToken) else None
        return Response(
            {
                "username": request.user.get_username(),
                "is_superuser": request.user.is_superuser,
                "token": {
                    "name": token.name,
                    "prefix": token.prefix,
                    "expires_at": token.expires_at.isoformat() if token.expires_at else None,
                }
                if token
                else None,
                "business_units": [
                    {"slug": slug, "name": name}
                    for slug, name in business_units_of(request.user).values_list("slug", "name")
                ],
            }
        )
