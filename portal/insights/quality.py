"""Service quality and automation rate, per product, per squad or overall,
for any period: one aggregate query per table, percentiles in the database.

Definitions (shown on the pages too, so that nobody has to guess):

- An order belongs to the period in which it was *submitted*.
- **Success rate**: succeeded / finished (every final status: succeeded,
  failed, timed out, rejected, cancelled). Orders still open do not count yet.
- **Lead time**: submitted to finished, over *succeeded* orders: what the
  requester waited for what they asked.
- **SLA attainment**: succeeded orders whose lead time is at most the
  product's SLA (finishing exactly at the SLA attains it), over succeeded
  orders. Each order is held to its own product's SLA.
- **Automation rate**: succeeded orders fulfilled by a runbook (no manual
  fulfilment step), over succeeded orders.
- **Zero-touch rate**: succeeded orders that were automated *and* needed no
  approval: no person touched them at all.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Case, Count, F, Q, QuerySet, Sum, When
from django.db.models.functions import Coalesce

from catalogue.choices import ApprovalPolicy, Fulfilment
from catalogue.models import Product
from portal.insights.aggregates import (
    microseconds_to_seconds,
    minutes_as_microseconds,
    percentiles,
    safe_ratio,
)
from portal.insights.periods import Period
from portal.orders.choices import OPEN_STATUSES, TERMINAL_STATUSES, OrderStatus
from portal.orders.models import Order
from portal.timespans import MICROSECONDS, Elapsed

MEDIAN = 0.5
P90 = 0.9
FAILED_STATUSES = (OrderStatus.FAILED, OrderStatus.TIMED_OUT)


def orders_in(
    period: Period, *, squad_id: int | None = None, product_id: int | None = None
) -> QuerySet[Order]:
    """Orders submitted in the period, of one squad or product if named."""
    queryset = Order.objects.filter(created_at__gte=period.since, created_at__lt=period.until)
    if squad_id is not None:
        queryset = queryset.filter(squad_id=squad_id)
    if product_id is not None:
        queryset = queryset.filter(product_id=product_id)
    return queryset


def lead_time_expression() -> Elapsed:
    return Elapsed("finished_at", "created_at")


def with_timings(queryset: QuerySet[Order]) -> QuerySet[Order]:
    """Orders with their lead time and the time they spent in each phase."""
    decided_at = Case(
        When(approved_at__isnull=False, then=F("approved_at")),
        When(status=OrderStatus.REJECTED, then=F("finished_at")),
    )
    return queryset.annotate(
        _lead=lead_time_expression(),
        _sla=minutes_as_microseconds("product__sla_minutes"),
        _approval_wait=Elapsed(decided_at, "created_at"),
        _queue_wait=Case(
            When(fulfilment=Fulfilment.AUTOMATED, then=Elapsed("started_at", "queued_at")),
        ),
        _running=Case(
            When(fulfilment=Fulfilment.AUTOMATED, then=Elapsed("finished_at", "started_at")),
        ),
        _manual_wait=Case(
            When(
                fulfilment=Fulfilment.MANUAL,
                then=Elapsed("claimed_at", Coalesce("approved_at", "created_at")),
            ),
        ),
        _manual_work=Case(
            When(
                fulfilment=Fulfilment.MANUAL,
                status__in=[OrderStatus.SUCCEEDED, OrderStatus.FAILED],
                then=Elapsed("finished_at", "claimed_at"),
            ),
        ),
    )


SUCCEEDED = Q(status=OrderStatus.SUCCEEDED)
PHASES = (
    ("approval_wait", "Waiting for approval"),
    ("queue_wait", "Queued for a worker"),
    ("running", "Running the runbook"),
    ("manual_wait", "In the manual queue, unclaimed"),
    ("manual_work", "Being fulfilled by hand"),
)

# Only counts and sums (no averages): rows of groups add up to the total
# exactly, and the means are sums over counts.
COUNTS: dict[str, Any] = {
    "orders": Count("pk"),
    "finished": Count("pk", filter=Q(status__in=list(TERMINAL_STATUSES))),
    "open": Count("pk", filter=Q(status__in=list(OPEN_STATUSES))),
    "succeeded": Count("pk", filter=SUCCEEDED),
    "failed": Count("pk", filter=Q(status__in=FAILED_STATUSES)),
    "rejected": Count("pk", filter=Q(status=OrderStatus.REJECTED)),
    "cancelled": Count("pk", filter=Q(status=OrderStatus.CANCELLED)),
    "within_sla": Count("pk", filter=SUCCEEDED & Q(_lead__lte=F("_sla"))),
    "automated": Count("pk", filter=SUCCEEDED & Q(fulfilment=Fulfilment.AUTOMATED)),
    "zero_touch": Count(
        "pk",
        filter=SUCCEEDED & Q(fulfilment=Fulfilment.AUTOMATED, approval_policy=ApprovalPolicy.NONE),
    ),
    "lead_total": Sum("_lead", filter=SUCCEEDED),
    "lead_count": Count("_lead", filter=SUCCEEDED),
    **{f"{key}_total": Sum(f"_{key}") for key, _label in PHASES},
    **{f"{key}_count": Count(f"_{key}") for key, _label in PHASES},
}


@dataclass
class Phase:
    """Time orders spent in one phase: how many went through it, on average
    and in total (seconds)."""

    key: str
    label: str
    orders: int
    mean_seconds: float | None
    total_seconds: float | None


@dataclass
class Quality:
    """Service quality of a set of orders (one product, one squad, everything)."""

    orders: int = 0
    finished: int = 0
    open: int = 0
    succeeded: int = 0
    failed: int = 0
    rejected: int = 0
    cancelled: int = 0
    within_sla: int = 0
    automated: int = 0
    zero_touch: int = 0
    lead_mean_seconds: float | None = None
    lead_median_seconds: float | None = None
    lead_p90_seconds: float | None = None
    phases: list[Phase] = field(default_factory=list)

    @property
    def success_rate(self) -> float | None:
        return safe_ratio(self.succeeded, self.finished)

    @property
    def sla_attainment(self) -> float | None:
        return safe_ratio(self.within_sla, self.succeeded)

    @property
    def automation_rate(self) -> float | None:
        return safe_ratio(self.automated, self.succeeded)

    @property
    def zero_touch_rate(self) -> float | None:
        return safe_ratio(self.zero_touch, self.succeeded)

    def as_dict(self) -> dict[str, Any]:
        return {
            "orders": self.orders,
            "finished": self.finished,
            "open": self.open,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "rejected": self.rejected,
            "cancelled": self.cancelled,
            "success_rate": self.success_rate,
            "lead_time_seconds": {
                "mean": self.lead_mean_seconds,
                "median": self.lead_median_seconds,
                "p90": self.lead_p90_seconds,
            },
            "sla": {"within": self.within_sla, "attainment": self.sla_attainment},
            "automation": {
                "automated": self.automated,
                "rate": self.automation_rate,
                "zero_touch": self.zero_touch,
                "zero_touch_rate": self.zero_touch_rate,
            },
            "phases": {
                phase.key: {
                    "orders": phase.orders,
                    "mean_seconds": phase.mean_seconds,
                    "total_seconds": phase.total_seconds,
                }
                for phase in self.phases
            },
        }


def _mean(total: int | None, count: int) -> float | None:
    return total / count / MICROSECONDS if total is not None and count else None


def _quality_from_row(row: dict[str, Any], lead: dict[float, float] | None) -> Quality:
    phases = [
        Phase(
            key=key,
            label=label,
            orders=row[f"{key}_count"],
            mean_seconds=_mean(row[f"{key}_total"], row[f"{key}_count"]),
            total_seconds=microseconds_to_seconds(row[f"{key}_total"]),
        )
        for key, label in PHASES
    ]
    return Quality(
        orders=row["orders"],
        finished=row["finished"],
        open=row["open"],
        succeeded=row["succeeded"],
        failed=row["failed"],
        rejected=row["rejected"],
        cancelled=row["cancelled"],
        within_sla=row["within_sla"],
        automated=row["automated"],
        zero_touch=row["zero_touch"],
        lead_mean_seconds=_mean(row["lead_total"], row["lead_count"]),
        lead_median_seconds=microseconds_to_seconds(lead[MEDIAN]) if lead else None,
        lead_p90_seconds=microseconds_to_seconds(lead[P90]) if lead else None,
        phases=phases,
    )


def _sum_rows(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Groups' counts and sums added up; a sum of nothing stays None."""
    total: dict[str, Any] = {}
    for key in COUNTS:
        values = [row[key] for row in rows if row[key] is not None]
        total[key] = sum(values) if values or not key.endswith("_total") else None
    return total


def succeeded_leads(queryset: QuerySet[Order]) -> QuerySet[Order]:
    return queryset.filter(status=OrderStatus.SUCCEEDED, finished_at__isnull=False)


def quality(queryset: QuerySet[Order]) -> Quality:
    """Service quality of all the orders of ``queryset`` (two queries)."""
    row = with_timings(queryset).order_by().aggregate(**COUNTS)
    lead = percentiles(succeeded_leads(queryset), lead_time_expression(), (MEDIAN, P90)).get(None)
    return _quality_from_row(row, lead)


def quality_with_groups(queryset: QuerySet[Order], group_by: str) -> tuple[Quality, dict[Hashable, Quality]]:
    """The total and the quality per value of ``group_by`` (``product_id``,
    ``squad_id``) in three queries whatever the number of groups: the
    total's counts and sums are the groups' added up."""
    rows = list(with_timings(queryset).order_by().values(group_by).annotate(**COUNTS))
    leads = percentiles(succeeded_leads(queryset), lead_time_expression(), (MEDIAN, P90), group_by=group_by)
    total_lead = percentiles(succeeded_leads(queryset), lead_time_expression(), (MEDIAN, P90)).get(None)
    groups = {row[group_by]: _quality_from_row(row, leads.get(row[group_by])) for row in rows}
    return _quality_from_row(_sum_rows(rows), total_lead), groups


def quality_by(queryset: QuerySet[Order], group_by: str) -> dict[Hashable, Quality]:
    """Service quality per value of ``group_by`` in two queries."""
    rows = with_timings(queryset).order_by().values(group_by).annotate(**COUNTS)
    leads = percentiles(succeeded_leads(queryset), lead_time_expression(), (MEDIAN, P90), group_by=group_by)
    return {row[group_by]: _quality_from_row(row, leads.get(row[group_by])) for row in rows}


# --- Per product ------------------------------------------------------------------


@dataclass
class ProductQuality:
    product: Product
    quality: Quality


def product_quality_table(
    period: Period, *, squad_id: int | None = None, by_product: dict[Hashable, Quality] | None = None
) -> list[ProductQuality]:
    """One row per product with orders in the period (or owned by the squad),
    busiest first. ``by_product`` saves computing the figures again."""
    if by_product is None:
        by_product = quality_by(orders_in(period, squad_id=squad_id), "product_id")
    products = Product.objects.select_related("squad")
    if squad_id is not None:
        products = products.filter(Q(squad_id=squad_id) | Q(pk__in=list(by_product)))
    else:
        products = products.filter(pk__in=list(by_product))
    rows = [
        ProductQuality(product=product, quality=by_product.get(product.pk, Quality())) for product in products
    ]
    rows.sort(key=lambda row: (-row.quality.orders, row.product.name))
    return rows
