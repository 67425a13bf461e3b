"""``GET /api/v1/cost/``: spend per month grouped by business unit, product
or squad, for what the caller may see (the cost page's figures)."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.api.base import ApiMixin
from portal.insights import access
from portal.insights.cost_report import GROUPINGS, CostReport, cost_period
from portal.insights.periods import PeriodError


class MonthAmountSerializer(serializers.Serializer):
    month = serializers.CharField(help_text="The month, YYYY-MM.")
    amount = serializers.DecimalField(max_digits=16, decimal_places=2)


class CostGroupSerializer(serializers.Serializer):
    key = serializers.CharField(
        allow_null=True, help_text="The business unit's, product's or squad's slug; null for unassigned."
    )
    name = serializers.CharField()
    cost_centre = serializers.CharField(required=False, help_text="A business unit's cost centre.")
    squad = serializers.CharField(required=False, help_text="The slug of a product's squad.")
    total = serializers.DecimalField(max_digits=16, decimal_places=2)
    months = MonthAmountSerializer(many=True)


class PeriodSerializer(serializers.Serializer):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()


class CostSerializer(serializers.Serializer):
    period = PeriodSerializer()
    first_day = serializers.DateField(help_text="The first day charged.")
    last_day = serializers.DateField(help_text="The last day of the period (days after today cost nothing).")
    group_by = serializers.ChoiceField(choices=GROUPINGS)
    months = serializers.ListField(
        child=serializers.CharField(), help_text="Every month of the period, YYYY-MM."
    )
    total = serializers.DecimalField(max_digits=16, decimal_places=2)
    per_month = MonthAmountSerializer(many=True)
    groups = CostGroupSerializer(many=True)


@extend_schema(
    summary="Spend per month by business unit, product or squad (showback)",
    description=(
        "What instances and orders cost over a period, month by month, grouped by `group_by`. "
        "An instance costs its product's unit cost per month, pro rata by day (a day is the unit cost "
        "divided by the days of its month; the days of creation and decommissioning count); a product "
        "that makes no instance costs its unit cost per succeeded order, in the month it finished. "
        "Platform and chapter leads see everything; a business unit's members what their unit is "
        "charged; a squad's members what its products earn. Amounts are decimal strings, rounded to "
        "the cent per product, unit and month. A period with no data costs zero."
    ),
    parameters=[
        OpenApiParameter(
            "since",
            OpenApiTypes.STR,
            description="Start of the period: an ISO date or date-time (default: the first day of "
            "the month eleven months ago, so twelve months with this one).",
        ),
        OpenApiParameter(
            "until",
            OpenApiTypes.STR,
            description="End of the period: an ISO date (that whole day included) or date-time "
            "(default: now).",
        ),
        OpenApiParameter("days", OpenApiTypes.INT, description="The last N days, instead of since."),
        OpenApiParameter(
            "group_by",
            OpenApiTypes.STR,
            enum=list(GROUPINGS),
            description="How to group the spend (default: business_unit, with the unassigned as key null).",
        ),
    ],
    responses=CostSerializer,
    tags=["cost"],
)
class CostView(ApiMixin, APIView):
    """Spend per month; someone who may see no cost gets a 404, as on the page."""

    def get(self, request: Request) -> Response:
        scope = access.cost_scope(request.user)
        if scope.empty:
            raise exceptions.NotFound("No cost you may see: it is for leads, business units and squads.")
        errors: dict[str, list[str]] = {}
        period = None
        group_by = request.query_params.get("group_by") or GROUPINGS[0]
        if group_by not in GROUPINGS:
            errors["group_by"] = [f"Unknown grouping {group_by!r}: use one of {', '.join(GROUPINGS)}."]
        try:
            period = cost_period(request.query_params, now=timezone.now())
        except PeriodError as error:
            errors.update(error.errors)
        if errors or period is None:
            raise exceptions.ValidationError(errors, code="invalid")
        report = CostReport(viewer=request.user, scope=scope, period=period)
        return Response(report.as_api(group_by))
