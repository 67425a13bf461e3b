"""``GET /api/v1/audit/``: the audit trail, filtered as ``/audit/`` filters
it, for platform leads and superusers (anyone else: 404, as the page)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, serializers
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from portal.api.base import ApiMixin, FilterBackend
from portal.api.pagination import asked_page_size, cursor_page_schema
from portal.audit.export import ENTRY_FIELDS, json_lines, rows
from portal.audit.models import AuditEntry
from portal.audit.selectors import AuditEntryFilter, can_read_audit
from portal.web.spreadsheet import csv_stream

EXPORTS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/jsonl; charset=utf-8"}


class ChangeSerializer(serializers.Serializer):
    before = serializers.JSONField(allow_null=True, help_text="The value before (null: it had none).")
    after = serializers.JSONField(allow_null=True, help_text="The value after (null: gone).")


class AuditEntrySerializer(serializers.ModelSerializer):
    changes = serializers.DictField(
        child=ChangeSerializer(),
        help_text="Each changed field, before and after. A secret's value never: "
        "'(secret)' → 'secret changed'. Many-to-many fields list what was added or removed.",
    )

    class Meta:
        model = AuditEntry
        fields = list(ENTRY_FIELDS)
        read_only_fields = fields


class AuditPagination(CursorPagination):
    """The trail grows without bound: pages by cursor, newest first."""

    ordering = ("-at", "-id")
    page_size_query_param = "page_size"

    def get_page_size(self, request: Request) -> int:
        return asked_page_size(request, 50)

    def get_paginated_response_schema(self, schema: dict) -> dict:
        # DRF's own carries an example link ending in a stray quote, which is
        # no URI (spectral: oas3-valid-schema-example).
        return cursor_page_schema(schema)


@extend_schema(
    summary="The audit trail (platform leads and superusers)",
    description=(
        "Every change of products, operations, runbooks and their versions, credentials (never their "
        "values), squads, memberships, chapters, business units, quotas, group mappings, webhooks, API "
        "tokens and accounts, and every login, failed login and lock-out: who (`actor`, `via`: web, admin, "
        "api, task, command or system), when, from where (`address`, the client's address as the trusted "
        "proxy reports it), what changed before → after. Newest first, by cursor. Entries are never "
        "changed or deleted. `export=csv` or `export=jsonl` downloads every entry the filters select "
        "instead of a page. Anyone but a platform lead or superuser gets 404."
    ),
    parameters=[
        OpenApiParameter(
            "export",
            OpenApiTypes.STR,
            enum=list(EXPORTS),
            description="Download every matching entry as CSV or JSON lines (one object a line).",
        ),
    ],
    responses={
        (200, "application/json"): AuditEntrySerializer(many=True),
        (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="With `export=csv`."),
        (200, "application/jsonl"): OpenApiResponse(OpenApiTypes.STR, description="With `export=jsonl`."),
        404: OpenApiResponse(description="Not a reader of the trail."),
    },
)
class AuditEntryListView(ApiMixin, generics.ListAPIView):
    serializer_class = AuditEntrySerializer
    filter_backends = [FilterBackend]
    filterset_class = AuditEntryFilter
    pagination_class = AuditPagination

    def get_queryset(self) -> QuerySet[AuditEntry]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request user
            return AuditEntry.objects.none()
        if not can_read_audit(self.request.user):
            raise exceptions.NotFound("No such API endpoint.")
        return AuditEntry.objects.order_by("-at", "-id")

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response | StreamingHttpResponse:  # type: ignore[override]
        export = request.query_params.get("export")
        if export is None:
            return super().list(request, *args, **kwargs)
        if export not in EXPORTS:
            raise exceptions.ValidationError({"export": [f"One of: {', '.join(EXPORTS)}."]})
        entries = self.filter_queryset(self.get_queryset())
        body = csv_stream(rows(entries)) if export == "csv" else json_lines(entries)
        response = StreamingHttpResponse(body, content_type=EXPORTS[export])
        response["Content-Disposition"] = f'attachment; filename="squadron-audit.{export}"'
        return response
