"""The insights' numbers in the API: a squad's dashboard and a product's
service quality, over a period."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalogue.models import Product
from portal.api.base import ApiMixin
from portal.insights import access
from portal.insights.api import product_metrics, squad_metrics
from portal.insights.periods import Period, PeriodError, period_from_query
from portal.insights.reports import SquadReport
from squads.models import Squad

PERIOD_PARAMETERS = [
    OpenApiParameter(
        "since",
        OpenApiTypes.STR,
        description="Start of the period: an ISO date or date-time (default: 90 days ago).",
    ),
    OpenApiParameter(
        "until",
        OpenApiTypes.STR,
        description="End of the period: an ISO date (that whole day included) or date-time (default: now).",
    ),
    OpenApiParameter("days", OpenApiTypes.INT, description="The last N days, instead of since."),
]


def _period(request: Request) -> Period:
    try:
        return period_from_query(request.query_params, now=timezone.now())
    except PeriodError as error:
        raise exceptions.ValidationError(error.errors, code="invalid_period") from None


@extend_schema(
    summary="A squad's service quality, automation, load, dependencies and debt (its members and leads)",
    parameters=PERIOD_PARAMETERS,
    responses=OpenApiTypes.OBJECT,
    tags=["squads"],
)
class SquadMetricsView(ApiMixin, APIView):
    """The numbers of the squad's dashboard; another squad's are not found."""

    def get(self, request: Request, slug: str) -> Response:
        squad = Squad.objects.filter(slug=slug).first()
        if squad is None or not access.can_see_squad(request.user, squad):
            raise exceptions.NotFound("No such squad.")
        return Response(squad_metrics(SquadReport(squad, _period(request))))


@extend_schema(
    summary="A published product's service quality and expected lead time",
    parameters=PERIOD_PARAMETERS,
    responses=OpenApiTypes.OBJECT,
    tags=["products"],
)
class ProductMetricsView(ApiMixin, APIView):
    """Failure reasons only for the product's squad and leads."""

    def get(self, request: Request, slug: str) -> Response:
        product = Product.objects.select_related("squad").filter(slug=slug).first()
        if product is None or not access.can_see_product_metrics(request.user, product):
            raise exceptions.NotFound("No such product.")
        details = access.sees_product_details(request.user, product)
        return Response(product_metrics(product, _period(request), details=details))
