"""The insights' numbers in the API: a squad's dashboard and a product's
service quality, over a period."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalogue.models import Product
from portal.api.base import ApiMixin
from portal.api.cost import PeriodSerializer
from portal.insights import access
from portal.insights.api import product_metrics, squad_metrics
from portal.insights.periods import Period, PeriodError, period_from_query
from portal.insights.quality import PHASES
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


# --- What the answers hold (``portal.insights.api`` builds them) -------------
# Described for the OpenAPI document only: the views answer the builders'
# dictionaries, and tests/api/test_metrics_schema.py holds real answers to
# these descriptions so neither drifts alone.


def _seconds() -> serializers.FloatField:
    return serializers.FloatField(allow_null=True, help_text="Seconds; null when no order counts.")


def _rate() -> serializers.FloatField:
    return serializers.FloatField(allow_null=True, help_text="From 0 to 1; null when nothing counts.")


class LeadTimeSerializer(serializers.Serializer):
    mean = _seconds()
    median = _seconds()
    p90 = _seconds()


class SlaSerializer(serializers.Serializer):
    within = serializers.IntegerField(help_text="Succeeded orders done within their product's SLA.")
    attainment = _rate()


class AutomationSerializer(serializers.Serializer):
    automated = serializers.IntegerField()
    rate = _rate()
    zero_touch = serializers.IntegerField(help_text="Succeeded orders nobody had to touch.")
    zero_touch_rate = _rate()


class PhaseSerializer(serializers.Serializer):
    orders = serializers.IntegerField()
    mean_seconds = serializers.FloatField(allow_null=True)
    total_seconds = serializers.FloatField(allow_null=True)


PhasesSerializer = type(
    "PhasesSerializer",
    (serializers.Serializer,),
    # Absent from a report with no order at all.
    {key: PhaseSerializer(required=False, help_text=label) for key, label in PHASES},
)


class QualitySerializer(serializers.Serializer):
    """Service quality of the orders placed in the period."""

    orders = serializers.IntegerField()
    finished = serializers.IntegerField()
    open = serializers.IntegerField()
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField()
    rejected = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    success_rate = _rate()
    lead_time_seconds = LeadTimeSerializer()
    sla = SlaSerializer()
    automation = AutomationSerializer()
    phases = PhasesSerializer(help_text="Where the time went, phase by phase.")


class ProductQualitySerializer(QualitySerializer):
    product = serializers.SlugField()
    name = serializers.CharField()
    sla_minutes = serializers.IntegerField()


class WeekSerializer(serializers.Serializer):
    week = serializers.DateField(help_text="Its Monday.")
    orders = serializers.IntegerField()
    finished = serializers.IntegerField()
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField()
    success_rate = _rate()
    automation_rate = _rate()
    sla_attainment = _rate()
    lead_time_median_seconds = _seconds()
    lead_time_p90_seconds = _seconds()


class BucketSerializer(serializers.Serializer):
    bucket = serializers.CharField()
    upper_seconds = serializers.FloatField(allow_null=True, help_text="Null for the last, open bucket.")
    orders = serializers.IntegerField()


class FailureReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(help_text="The reason, its varying parts shown as '…'.")
    orders = serializers.IntegerField()
    products = serializers.IntegerField()
    last_seen = serializers.DateTimeField(allow_null=True)
    example = serializers.CharField(allow_blank=True)
    variants = serializers.IntegerField()


class CandidateSerializer(serializers.Serializer):
    product = serializers.SlugField()
    orders = serializers.IntegerField()
    fulfilled = serializers.IntegerField()
    hands_on_hours = serializers.FloatField()
    hands_on_mean_seconds = serializers.FloatField(allow_null=True)
    waiting_mean_seconds = serializers.FloatField(allow_null=True)


class QueueFlowSerializer(serializers.Serializer):
    open_now = serializers.IntegerField()
    arrived = serializers.IntegerField()
    left = serializers.IntegerField()
    days = serializers.IntegerField()
    growing = serializers.BooleanField()
    warning = serializers.CharField(allow_blank=True)


class MemberLoadSerializer(serializers.Serializer):
    username = serializers.CharField()
    role = serializers.CharField()
    claimed_open = serializers.IntegerField()
    approvals_waiting = serializers.IntegerField()
    fulfilled = serializers.IntegerField()
    failed_by_hand = serializers.IntegerField()
    approvals_decided = serializers.IntegerField()
    throughput = serializers.IntegerField()


class LoadSerializer(serializers.Serializer):
    approvals_open = serializers.IntegerField()
    manual_open = serializers.IntegerField()
    manual_unclaimed = serializers.IntegerField()
    manual_oldest_waiting_since = serializers.DateTimeField(allow_null=True)
    approval_oldest_waiting_since = serializers.DateTimeField(allow_null=True)
    flows = serializers.DictField(child=QueueFlowSerializer(), help_text="By queue.")
    warnings = serializers.ListField(child=serializers.CharField())
    instances_running = serializers.IntegerField()
    instances_per_member = serializers.FloatField(allow_null=True)
    members = MemberLoadSerializer(many=True)


class NeedSerializer(serializers.Serializer):
    product = serializers.SlugField()
    depends_on = serializers.SlugField()
    owner = serializers.SlugField(help_text="The squad of the product depended on.")
    failing = serializers.BooleanField()
    retired = serializers.BooleanField()


class NeededBySerializer(serializers.Serializer):
    product = serializers.SlugField()
    needed_by = serializers.SlugField()
    owner = serializers.SlugField(help_text="The squad of the product that depends on it.")
    open_orders = serializers.IntegerField()


class DependenciesSerializer(serializers.Serializer):
    needs = NeedSerializer(many=True)
    needed_by = NeededBySerializer(many=True)
    alerts = serializers.ListField(child=serializers.CharField())


class DuplicateSerializer(serializers.Serializer):
    runbook = serializers.SlugField()
    squad = serializers.SlugField()
    similar_runbook = serializers.SlugField()
    similar_squad = serializers.SlugField()
    score = serializers.FloatField()
    by_facet = serializers.DictField(child=serializers.FloatField())


class DebtFactorSerializer(serializers.Serializer):
    key = serializers.CharField()
    # A declared field, which DRF's metaclass takes out of the class: Field.label stays.
    label = serializers.CharField()  # type: ignore[assignment]
    detail = serializers.CharField(allow_blank=True)
    points = serializers.IntegerField()


class DebtSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["runbook", "product"])
    slug = serializers.SlugField()
    name = serializers.CharField()
    squad = serializers.SlugField()
    products = serializers.ListField(child=serializers.SlugField())
    score = serializers.IntegerField()
    factors = DebtFactorSerializer(many=True)


class DebtItemSerializer(serializers.Serializer):
    title = serializers.CharField()
    product = serializers.SlugField()
    severity = serializers.CharField()
    estimated_effort_days = serializers.FloatField()
    status = serializers.CharField()
    created_at = serializers.DateTimeField()


class SquadMetricsSerializer(serializers.Serializer):
    squad = serializers.SlugField()
    period = PeriodSerializer()
    summary = QualitySerializer()
    products = ProductQualitySerializer(many=True)
    weekly = WeekSerializer(many=True)
    lead_time_histogram = BucketSerializer(many=True)
    failure_reasons = FailureReasonSerializer(many=True)
    automation_candidates = CandidateSerializer(many=True)
    load = LoadSerializer()
    dependencies = DependenciesSerializer()
    duplicates = DuplicateSerializer(many=True)
    debt = DebtSerializer(many=True)
    debt_register = DebtItemSerializer(many=True)


class ExpectedLeadTimeSerializer(serializers.Serializer):
    median_seconds = serializers.FloatField()
    p90_seconds = serializers.FloatField()
    sample_size = serializers.IntegerField()
    within_sla = serializers.BooleanField()


class DependencyAlertSerializer(serializers.Serializer):
    product = serializers.SlugField(help_text="The product depended on.")
    kind = serializers.ChoiceField(choices=["failing", "retired"])
    direct = serializers.BooleanField()
    message = serializers.CharField()


class ProductMetricsSerializer(serializers.Serializer):
    product = serializers.SlugField()
    squad = serializers.SlugField()
    sla_minutes = serializers.IntegerField()
    period = PeriodSerializer()
    summary = QualitySerializer()
    weekly = WeekSerializer(many=True)
    lead_time_histogram = BucketSerializer(many=True)
    expected_lead_time = ExpectedLeadTimeSerializer(allow_null=True)
    dependency_alerts = DependencyAlertSerializer(many=True)
    failure_reasons = FailureReasonSerializer(
        many=True, required=False, help_text="Only for the product's squad and leads."
    )


def _period(request: Request) -> Period:
    try:
        return period_from_query(request.query_params, now=timezone.now())
    except PeriodError as error:
        raise exceptions.ValidationError(error.errors, code="invalid_period") from None


@extend_schema(
    summary="A squad's service quality, automation, load, dependencies and debt (its members and leads)",
    parameters=PERIOD_PARAMETERS,
    responses=SquadMetricsSerializer,
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
    responses=ProductMetricsSerializer,
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
