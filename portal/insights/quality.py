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

import re
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Avg, Case, Count, F, Max, Q, QuerySet, Sum, When
from django.db.models.functions import Coalesce, Left
from django.utils import timezone

from catalogue.choices import ApprovalPolicy, Fulfilment
from catalogue.models import Product
from portal.insights.aggregates import (
    MICROSECONDS,
    Elapsed,
    WeekStart,
    microseconds_to_seconds,
    minutes_as_microseconds,
    percentiles,
    safe_ratio,
)
from portal.insights.periods import Period
from portal.orders.choices import OPEN_STATUSES, TERMINAL_STATUSES, OrderStatus
from portal.orders.models import Order

MEDIAN = 0.5
P90 = 0.9
FAILED_STATUSES = (OrderStatus.FAILED, OrderStatus.TIMED_OUT)
#: Failure reasons longer than this are grouped by their beginning.
REASON_LENGTH = 160
#: The lead time histogram's buckets: (upper bound, label); the last is open.
LEAD_TIME_BUCKETS: tuple[tuple[timedelta | None, str], ...] = (
    (timedelta(minutes=5), "< 5 min"),
    (timedelta(minutes=15), "5-15 min"),
    (timedelta(minutes=30), "15-30 min"),
    (timedelta(hours=1), "30-60 min"),
    (timedelta(hours=2), "1-2 h"),
    (timedelta(hours=4), "2-4 h"),
    (timedelta(hours=8), "4-8 h"),
    (timedelta(days=1), "8-24 h"),
    (timedelta(days=3), "1-3 days"),
    (None, "> 3 days"),
)


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


def _lead_time() -> Elapsed:
    return Elapsed("finished_at", "created_at")


def _with_timings(queryset: QuerySet[Order]) -> QuerySet[Order]:
    """Orders with their lead time and the time they spent in each phase."""
    decided_at = Case(
        When(approved_at__isnull=False, then=F("approved_at")),
        When(status=OrderStatus.REJECTED, then=F("finished_at")),
    )
    return queryset.annotate(
        _lead=_lead_time(),
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
_COUNTS: dict[str, Any] = {
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
    for key in _COUNTS:
        values = [row[key] for row in rows if row[key] is not None]
        total[key] = sum(values) if values or not key.endswith("_total") else None
    return total


def _succeeded_leads(queryset: QuerySet[Order]) -> QuerySet[Order]:
    return queryset.filter(status=OrderStatus.SUCCEEDED, finished_at__isnull=False)


def quality(queryset: QuerySet[Order]) -> Quality:
    """Service quality of all the orders of ``queryset`` (two queries)."""
    row = _with_timings(queryset).order_by().aggregate(**_COUNTS)
    lead = percentiles(_succeeded_leads(queryset), _lead_time(), (MEDIAN, P90)).get(None)
    return _quality_from_row(row, lead)


def quality_with_groups(queryset: QuerySet[Order], group_by: str) -> tuple[Quality, dict[Hashable, Quality]]:
    """The total and the quality per value of ``group_by`` (``product_id``,
    ``squad_id``) in three queries whatever the number of groups: the
    total's counts and sums are the groups' added up."""
    rows = list(_with_timings(queryset).order_by().values(group_by).annotate(**_COUNTS))
    leads = percentiles(_succeeded_leads(queryset), _lead_time(), (MEDIAN, P90), group_by=group_by)
    total_lead = percentiles(_succeeded_leads(queryset), _lead_time(), (MEDIAN, P90)).get(None)
    groups = {row[group_by]: _quality_from_row(row, leads.get(row[group_by])) for row in rows}
    return _quality_from_row(_sum_rows(rows), total_lead), groups


def quality_by(queryset: QuerySet[Order], group_by: str) -> dict[Hashable, Quality]:
    """Service quality per value of ``group_by`` in two queries."""
    rows = _with_timings(queryset).order_by().values(group_by).annotate(**_COUNTS)
    leads = percentiles(_succeeded_leads(queryset), _lead_time(), (MEDIAN, P90), group_by=group_by)
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


# --- Failure reasons ----------------------------------------------------------------


@dataclass
class FailureReason:
    """Failed orders whose reasons say the same thing: ``reason`` is the
    text, or its pattern (varying parts as "…") when the orders' reasons
    differ only by addresses, numbers or ids; ``example`` is the latest."""

    reason: str
    orders: int
    products: int
    last_seen: datetime | None
    example: str = ""
    variants: int = 1


# What varies between two failures of the same kind: addresses (with their
# prefix length), long hexadecimal ids, and numbers standing on their own
# (so "par1" stays, "VLAN 120" becomes "VLAN …").
_VARYING = re.compile(
    r"\b\d{1,3}(?:\.\d{1,3}){3}(?:/\d{1,2})?\b"
    r"|\b[0-9a-fA-F]{8,}(?:-[0-9a-fA-F]{4,})*\b"
    r"|(?<![\w.])\d+(?:\.\d+)?(?![\w.])"
)
#: At most this many distinct (reason, product) pairs are read per report.
REASON_ROWS = 5000


def reason_pattern(reason: str) -> str:
    return _VARYING.sub("…", reason)


def failure_reasons(queryset: QuerySet[Order], *, limit: int = 10) -> list[FailureReason]:
    """Why orders failed or timed out, most frequent first, the same failure
    with different values counted together. The database counts per exact
    reason and product; only those rows are merged here."""
    rows = (
        queryset.filter(status__in=FAILED_STATUSES)
        .annotate(_reason=Left("failure_reason", REASON_LENGTH))
        .order_by()
        .values("_reason", "product_id")
        .annotate(orders=Count("pk"), last_seen=Max("finished_at"))
        .order_by("-orders", "_reason", "product_id")[:REASON_ROWS]
    )
    groups: dict[str, dict[str, Any]] = {}
    for row in rows:
        text = row["_reason"] or "(no reason recorded)"
        group = groups.setdefault(
            reason_pattern(text), {"orders": 0, "products": set(), "texts": set(), "last": None}
        )
        group["orders"] += row["orders"]
        group["products"].add(row["product_id"])
        group["texts"].add(text)
        if row["last_seen"] is not None and (group["last"] is None or row["last_seen"] > group["last"][0]):
            group["last"] = (row["last_seen"], text)
    reasons = [
        FailureReason(
            reason=pattern if len(group["texts"]) > 1 else next(iter(group["texts"])),
            orders=group["orders"],
            products=len(group["products"]),
            last_seen=group["last"][0] if group["last"] else None,
            example=group["last"][1] if group["last"] else next(iter(group["texts"])),
            variants=len(group["texts"]),
        )
        for pattern, group in groups.items()
    ]
    reasons.sort(key=lambda row: (-row.orders, row.reason))
    return reasons[:limit]


# --- Weekly trend ---------------------------------------------------------------------


@dataclass
class Week:
    start: datetime
    orders: int = 0
    finished: int = 0
    succeeded: int = 0
    failed: int = 0
    automated: int = 0
    within_sla: int = 0
    lead_median_seconds: float | None = None
    lead_p90_seconds: float | None = None

    @property
    def success_rate(self) -> float | None:
        return safe_ratio(self.succeeded, self.finished)

    @property
    def automation_rate(self) -> float | None:
        return safe_ratio(self.automated, self.succeeded)

    @property
    def sla_attainment(self) -> float | None:
        return safe_ratio(self.within_sla, self.succeeded)

    def as_dict(self) -> dict[str, Any]:
        return {
            "week": self.start.date().isoformat(),
            "orders": self.orders,
            "finished": self.finished,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "success_rate": self.success_rate,
            "automation_rate": self.automation_rate,
            "sla_attainment": self.sla_attainment,
            "lead_time_median_seconds": self.lead_median_seconds,
            "lead_time_p90_seconds": self.lead_p90_seconds,
        }


def _week_start(moment: datetime) -> datetime:
    local = timezone.localtime(moment)
    monday = local - timedelta(days=local.weekday())
    return monday.replace(hour=0, minute=0, second=0, microsecond=0)


def weekly_trend(queryset: QuerySet[Order], period: Period) -> list[Week]:
    """Per calendar week (Monday first) of the period: orders, outcomes,
    automation and lead time; weeks without orders are present with zeros."""
    weekly = _with_timings(queryset).annotate(_week=WeekStart("created_at")).order_by()
    rows = {
        _week_start(row["_week"]): row
        for row in weekly.values("_week").annotate(
            orders=Count("pk"),
            finished=_COUNTS["finished"],
            succeeded=_COUNTS["succeeded"],
            failed=_COUNTS["failed"],
            automated=_COUNTS["automated"],
            within_sla=_COUNTS["within_sla"],
        )
    }
    leads = {
        _week_start(key): value
        for key, value in percentiles(
            _succeeded_leads(queryset).annotate(_week=WeekStart("created_at")),
            _lead_time(),
            (MEDIAN, P90),
            group_by="_week",
        ).items()
    }
    weeks = []
    start = _week_start(period.since)
    while start < period.until:
        row = rows.get(start, {})
        lead = leads.get(start)
        weeks.append(
            Week(
                start=start,
                orders=row.get("orders", 0),
                finished=row.get("finished", 0),
                succeeded=row.get("succeeded", 0),
                failed=row.get("failed", 0),
                automated=row.get("automated", 0),
                within_sla=row.get("within_sla", 0),
                lead_median_seconds=microseconds_to_seconds(lead[MEDIAN]) if lead else None,
                lead_p90_seconds=microseconds_to_seconds(lead[P90]) if lead else None,
            )
        )
        # Add a week in local time: DST changes must not drift the Mondays.
        start = _week_start(start + timedelta(days=7, hours=12))
    return weeks


# --- Lead time distribution --------------------------------------------------------------


@dataclass
class Bucket:
    label: str
    upper_seconds: float | None
    orders: int


def lead_time_histogram(queryset: QuerySet[Order]) -> list[Bucket]:
    """How many succeeded orders took how long, in one query."""
    counts = {}
    lower = None
    for index, (upper, _label) in enumerate(LEAD_TIME_BUCKETS):
        condition = Q()
        if lower is not None:
            condition &= Q(_lead__gte=int(lower.total_seconds() * MICROSECONDS))
        if upper is not None:
            condition &= Q(_lead__lt=int(upper.total_seconds() * MICROSECONDS))
        counts[f"b{index}"] = Count("pk", filter=condition)
        lower = upper
    row = _succeeded_leads(queryset).annotate(_lead=_lead_time()).order_by().aggregate(**counts)
    return [
        Bucket(label=label, upper_seconds=upper.total_seconds() if upper else None, orders=row[f"b{index}"])
        for index, (upper, label) in enumerate(LEAD_TIME_BUCKETS)
    ]


# --- Automation candidates ----------------------------------------------------------------


@dataclass
class AutomationCandidate:
    """A manual product and what its manual fulfilment cost the squad."""

    product: Product
    orders: int
    fulfilled: int
    hands_on_orders: int
    hands_on_total_seconds: float
    hands_on_mean_seconds: float | None
    waiting_mean_seconds: float | None

    @property
    def hands_on_hours(self) -> float:
        return self.hands_on_total_seconds / 3600


def automation_candidates(
    period: Period, *, squad_id: int | None = None, limit: int = 20
) -> list[AutomationCandidate]:
    """Products still fulfilled by hand, ranked by the time they cost: orders
    x measured minutes of manual work (claimed to finished), i.e. the total
    of that work, in the period."""
    queryset = orders_in(period, squad_id=squad_id).filter(
        fulfilment=Fulfilment.MANUAL, product__fulfilment=Fulfilment.MANUAL
    )
    rows = list(
        _with_timings(queryset)
        .order_by()
        .values("product_id")
        .annotate(
            orders=Count("pk"),
            fulfilled=Count("pk", filter=SUCCEEDED),
            hands_on_orders=Count("_manual_work"),
            hands_on_total=Coalesce(Sum("_manual_work"), 0),
            hands_on_mean=Avg("_manual_work"),
            waiting_mean=Avg("_manual_wait"),
        )
        .order_by("-hands_on_total", "-orders")[:limit]
    )
    products = Product.objects.select_related("squad").in_bulk([row["product_id"] for row in rows])
    return [
        AutomationCandidate(
            product=products[row["product_id"]],
            orders=row["orders"],
            fulfilled=row["fulfilled"],
            hands_on_orders=row["hands_on_orders"],
            hands_on_total_seconds=row["hands_on_total"] / MICROSECONDS,
            hands_on_mean_seconds=microseconds_to_seconds(row["hands_on_mean"]),
            waiting_mean_seconds=microseconds_to_seconds(row["waiting_mean"]),
        )
        for row in rows
    ]


# --- Expected lead time (product page) -----------------------------------------------------

#: The product page's estimate looks at orders finished this recently.
EXPECTED_LEAD_TIME_DAYS = 90


@dataclass(frozen=True)
class LeadTime:
    """What a requester can expect to wait for a product, from its recent
    succeeded orders: the median (not the mean: one order that waited a
    weekend for approval must not make everyone expect days) and the p90."""

    median: timedelta
    p90: timedelta
    sample_size: int
    sla: timedelta

    @property
    def within_sla(self) -> bool:
        return self.median <= self.sla


def expected_lead_time(
    product: Product, *, now: datetime | None = None, days: int = EXPECTED_LEAD_TIME_DAYS
) -> LeadTime | None:
    """The median lead time of the product's orders that succeeded in the last
    ``days``, or None while there are none."""
    now = now or timezone.now()
    recent = Order.objects.filter(
        product_id=product.pk,
        status=OrderStatus.SUCCEEDED,
        finished_at__gte=now - timedelta(days=days),
        finished_at__lte=now,
    )
    total = recent.count()
    if not total:
        return None
    values = percentiles(recent, _lead_time(), (MEDIAN, P90))[None]
    return LeadTime(
        median=timedelta(microseconds=round(values[MEDIAN])),
        p90=timedelta(microseconds=round(values[P90])),
        sample_size=total,
        sla=timedelta(minutes=product.sla_minutes),
    )
