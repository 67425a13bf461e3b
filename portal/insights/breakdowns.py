"""Breakdowns of service quality for the dashboards: failures grouped by
reason, the weekly trend, the lead-time distribution, the products most
worth automating, and the lead time a product's page promises. The
definitions are those of ``quality``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from django.db.models import Avg, Count, Max, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, Left
from django.utils import timezone

from catalogue.choices import Fulfilment
from catalogue.models import Product
from portal.insights.aggregates import (
    WeekStart,
    microseconds_to_seconds,
    percentiles,
    safe_ratio,
)
from portal.insights.periods import Period
from portal.insights.quality import (
    COUNTS,
    FAILED_STATUSES,
    MEDIAN,
    P90,
    SUCCEEDED,
    lead_time_expression,
    orders_in,
    succeeded_leads,
    with_timings,
)
from portal.orders.choices import OrderStatus
from portal.orders.models import Order
from portal.timespans import MICROSECONDS

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
    weekly = with_timings(queryset).annotate(_week=WeekStart("created_at")).order_by()
    rows = {
        _week_start(row["_week"]): row
        for row in weekly.values("_week").annotate(
            orders=Count("pk"),
            finished=COUNTS["finished"],
            succeeded=COUNTS["succeeded"],
            failed=COUNTS["failed"],
            automated=COUNTS["automated"],
            within_sla=COUNTS["within_sla"],
        )
    }
    leads = {
        # Grouped by ``_week``: each key is the datetime its week starts.
        _week_start(cast(datetime, key)): value
        for key, value in percentiles(
            succeeded_leads(queryset).annotate(_week=WeekStart("created_at")),
            lead_time_expression(),
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
    row = succeeded_leads(queryset).annotate(_lead=lead_time_expression()).order_by().aggregate(**counts)
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
        with_timings(queryset)
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
    values = percentiles(recent, lead_time_expression(), (MEDIAN, P90))[None]
    return LeadTime(
        median=timedelta(microseconds=round(values[MEDIAN])),
        p90=timedelta(microseconds=round(values[P90])),
        sample_size=total,
        sla=timedelta(minutes=product.sla_minutes),
    )
