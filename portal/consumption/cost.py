"""Showback: what the instances and orders of a period cost, summed in the
database.

How a cost is counted (the README's "Cost and utilization" says the same):

- An instance of a product with a ``unit_cost`` is charged that amount per
  month, pro rata by day. A day costs ``unit_cost / days in its month`` (a
  January day 1/31 of it, a February day 1/28 or 1/29), so a whole month
  costs exactly ``unit_cost`` whatever its length. An instance is charged
  for every day, in the portal's time zone (``TIME_ZONE``), on which it
  existed and was not yet decommissioned: the day it was created and the
  day it was decommissioned both count, whatever its state in between
  (provisioning, failed and updating instances hold their resources too).
- Days after today are never charged: a period that reaches into the future
  stops today.
- A product that makes no instance (a one-shot automation, a manual
  service) charges ``unit_cost`` once per succeeded order, in the month the
  order finished. Operations on an instance cost nothing of their own.
- A product without a unit cost costs nothing; a period with no data costs
  zero.
- A cost is charged to the business unit the instance (or the order)
  belongs to now, empty meaning "unassigned", and to the squad that owns
  the product now: a transferred instance takes its past cost along.
- Amounts are rounded to cents per product, business unit and month (half
  up); every total is a sum of those, so the tables add up.

Everything here only reads. The days are summed in the database: per
product, business unit, first month and last month charged, how many
instances and the sum of their first and last days of the month, from
which ``_spread`` gets each month's days exactly (one scan of the
instances, a few thousand rows back, however many instances there are).
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import (
    Count,
    DateField,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, ExtractDay, Greatest, Least, TruncDate, TruncMonth
from django.utils import timezone

from catalogue.models import Product
from portal.instances.models import ServiceInstance
from portal.orders.choices import OrderStatus
from portal.orders.models import Order

CENT = Decimal("0.01")
#: How many instances ``largest_instances`` ranks exactly, per one it lists.
CANDIDATES_PER_PLACE = 5


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def days_in_month(month: date) -> int:
    return calendar.monthrange(month.year, month.month)[1]


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


@dataclass(frozen=True)
class CostScope:
    """Whose costs a reader may see: everything (platform and chapter
    leads), or what is charged to their business units plus what their
    squads' products earn."""

    everything: bool = False
    business_unit_ids: frozenset[int] = frozenset()
    squad_ids: frozenset[int] = frozenset()

    @property
    def empty(self) -> bool:
        return not (self.everything or self.business_unit_ids or self.squad_ids)

    def q(self) -> Q:
        """The rows in scope, for instances and orders alike (both have a
        ``business_unit`` and a ``product``)."""
        if self.everything:
            return Q()
        if self.empty:
            return Q(pk__in=[])
        return Q(business_unit_id__in=self.business_unit_ids) | Q(product__squad_id__in=self.squad_ids)


@dataclass(frozen=True)
class CostWindow:
    """The days a cost report charges: ``first_day`` to ``last_day``
    included, in the portal's time zone, never after ``today``."""

    first_day: date
    last_day: date
    today: date

    @classmethod
    def between(cls, since: datetime, until: datetime, *, now: datetime) -> CostWindow:
        """The days a period ``[since, until)`` touches."""
        return cls(
            first_day=timezone.localtime(since).date(),
            last_day=timezone.localtime(until - timedelta(microseconds=1)).date(),
            today=timezone.localtime(now).date(),
        )

    @property
    def charged_until(self) -> date:
        return min(self.last_day, self.today)

    @property
    def charges_nothing(self) -> bool:
        return self.charged_until < self.first_day

    @property
    def months(self) -> list[date]:
        """The first day of every month the window touches, in order."""
        months, month = [], month_start(self.first_day)
        while month <= self.last_day:
            months.append(month)
            month = next_month(month)
        return months

    @property
    def start(self) -> datetime:
        """The first charged moment: midnight, local time, of ``first_day``."""
        return timezone.make_aware(datetime.combine(self.first_day, time.min))

    @property
    def end(self) -> datetime:
        """Just after the last charged day (exclusive)."""
        return timezone.make_aware(datetime.combine(self.charged_until + timedelta(days=1), time.min))

    def charged_days(self, created: datetime, decommissioned: datetime | None) -> dict[date, int]:
        """Days charged for an instance alive from ``created`` to
        ``decommissioned`` (``None``: still alive), per month: the rule of
        this module for one instance, which the database sums for many."""
        first = max(timezone.localtime(created).date(), self.first_day)
        last = self.charged_until
        if decommissioned is not None:
            last = min(last, timezone.localtime(decommissioned).date())
        days: dict[date, int] = {}
        month = month_start(first)
        while first <= last and month <= last:
            upper = min(last, next_month(month) - timedelta(days=1))
            lower = max(first, month)
            if lower <= upper:
                days[month] = (upper - lower).days + 1
            month = next_month(month)
        return days


def instance_amount(unit_cost: Decimal, days: dict[date, int]) -> Decimal:
    """What ``days`` (charged days per month) of an instance cost, unrounded."""
    return sum((unit_cost * count / days_in_month(month) for month, count in days.items()), start=Decimal(0))


@dataclass(frozen=True)
class CostLine:
    """What one product cost one business unit (``None``: unassigned) in
    one month: instance days and succeeded orders, rounded to cents."""

    month: date
    product_id: int
    business_unit_id: int | None
    amount: Decimal
    instance_days: int
    orders: int


def _spread(first_month: date, last_month: date, row: dict[str, Any]) -> Iterator[tuple[date, int]]:
    """Each month's charged days of a group of instances whose charged days
    run from a day of ``first_month`` to a day of ``last_month``, from the
    group's count and its sums of those first and last days of the month.

    In one month, an instance charged from day ``a`` to day ``b`` counts
    ``b - a + 1`` days. Across months it counts ``length - a + 1`` days of
    the first, every day of those between and ``b`` days of the last.
    """
    count, first_days, last_days = row["count"], int(row["first_days"]), int(row["last_days"])
    if first_month == last_month:
        yield first_month, last_days - first_days + count
        return
    yield first_month, count * (days_in_month(first_month) + 1) - first_days
    month = next_month(first_month)
    while month < last_month:
        yield month, count * days_in_month(month)
        month = next_month(month)
    yield last_month, last_days


def _as_date(value: date | datetime) -> date:
    # SQLite may hand a truncated date back as a date-time at midnight.
    return value.date() if isinstance(value, datetime) else value


def _instance_rows(window: CostWindow, scope: CostScope) -> QuerySet[ServiceInstance, dict[str, Any]]:
    """Per product, business unit, first and last month charged: how many
    instances and the sums of their first and last charged days of the
    month (one scan; the filter on the raw time stamps needs no time
    zone arithmetic)."""
    first_day = Greatest(TruncDate("created_at"), Value(window.first_day))
    last_day = Least(TruncDate(Coalesce("decommissioned_at", Value(window.end))), Value(window.charged_until))
    return (
        ServiceInstance.objects.filter(
            scope.q(),
            Q(decommissioned_at__isnull=True) | Q(decommissioned_at__gte=window.start),
            product__unit_cost__isnull=False,
            created_at__lt=window.end,
        )
        .order_by()
        .values(
            "product_id",
            "business_unit_id",
            first_month=TruncMonth(first_day),
            last_month=TruncMonth(last_day),
        )
        .annotate(
            count=Count("pk"), first_days=Sum(ExtractDay(first_day)), last_days=Sum(ExtractDay(last_day))
        )
    )


def _order_rows(window: CostWindow, scope: CostScope) -> QuerySet[Order, dict[str, Any]]:
    """Succeeded orders of products that make no instance, per product,
    business unit and month finished."""
    return (
        Order.objects.filter(
            scope.q(),
            status=OrderStatus.SUCCEEDED,
            operation__isnull=True,
            product__instance=False,
            product__unit_cost__isnull=False,
            finished_at__gte=window.start,
            finished_at__lt=window.end,
        )
        .order_by()
        .values("product_id", "business_unit_id", month=TruncMonth("finished_at", output_field=DateField()))
        .annotate(count=Count("pk"))
    )


def cost_lines(window: CostWindow, scope: CostScope) -> list[CostLine]:
    """Every product's cost to every business unit, month by month, over
    the window (three queries; none when the window charges nothing)."""
    if window.charges_nothing or scope.empty:
        return []
    days: dict[tuple[date, int, int | None], int] = defaultdict(int)
    for row in _instance_rows(window, scope):
        first, last = _as_date(row["first_month"]), _as_date(row["last_month"])
        for month, count in _spread(first, last, row):
            days[month, row["product_id"], row["business_unit_id"]] += count
    orders: dict[tuple[date, int, int | None], int] = {
        (_as_date(row["month"]), row["product_id"], row["business_unit_id"]): row["count"]
        for row in _order_rows(window, scope)
    }
    product_ids = {key[1] for key in days} | {key[1] for key in orders}
    unit_costs = dict(Product.objects.filter(pk__in=product_ids).values_list("pk", "unit_cost"))
    lines = []
    for key in sorted(days.keys() | orders.keys(), key=lambda key: (key[0], key[1], key[2] or 0)):
        month, product_id, unit_id = key
        unit_cost = unit_costs.get(product_id) or Decimal(0)
        amount = unit_cost * days.get(key, 0) / days_in_month(month) + unit_cost * orders.get(key, 0)
        lines.append(
            CostLine(
                month=month,
                product_id=product_id,
                business_unit_id=unit_id,
                amount=cents(amount),
                instance_days=days.get(key, 0),
                orders=orders.get(key, 0),
            )
        )
    return lines


class DaysBetween(Func):
    """``end - start`` in (fractional) days, for two date-times: the
    database's own arithmetic on PostgreSQL and SQLite, the two engines
    Squadron runs on."""

    output_field = FloatField()

    def __init__(self, end: Any, start: Any) -> None:
        super().__init__(end, start)

    def as_sql(
        self,
        compiler: Any,
        connection: Any,
        function: str | None = None,
        template: str | None = None,
        arg_joiner: str | None = None,
        **extra_context: Any,
    ) -> Any:
        raise NotImplementedError(
            f"DaysBetween is written for PostgreSQL and SQLite, not {connection.vendor}."
        )

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self._two(compiler, connection, "(EXTRACT(EPOCH FROM ({end} - {start})) / 86400.0)")

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self._two(compiler, connection, "(julianday({end}) - julianday({start}))")

    def _two(self, compiler: Any, connection: Any, template: str) -> tuple[str, list[Any]]:
        end_sql, end_params = compiler.compile(self.source_expressions[0])
        start_sql, start_params = compiler.compile(self.source_expressions[1])
        return template.format(end=end_sql, start=start_sql), [*end_params, *start_params]


@dataclass(frozen=True)
class InstanceCost:
    """One instance's cost over a window."""

    instance: ServiceInstance
    amount: Decimal
    days: int


def largest_instances(window: CostWindow, scope: CostScope, *, limit: int = 12) -> list[InstanceCost]:
    """The ``limit`` instances that cost most over the window, most first.

    The database ranks them by unit cost times the time they lived in the
    window (one query, a top-N sort); the first ``limit *
    CANDIDATES_PER_PLACE`` of that ranking are then costed exactly, day by
    day, and ranked again. The two rankings differ only by the months'
    lengths (28 to 31 days) and the partial first and last days, so an
    instance could only be missed if dozens of others were within a few
    percent of it, and then the list is as fair a choice among near-equals.
    """
    if window.charges_nothing or scope.empty:
        return []
    lived = DaysBetween(
        Least(Coalesce("decommissioned_at", Value(window.end)), Value(window.end)),
        Greatest("created_at", Value(window.start)),
    )
    candidates = (
        ServiceInstance.objects.filter(
            scope.q(),
            Q(decommissioned_at__isnull=True) | Q(decommissioned_at__gte=window.start),
            product__unit_cost__isnull=False,
            created_at__lt=window.end,
        )
        .select_related("product", "product__squad", "business_unit", "owner")
        .annotate(rank=ExpressionWrapper(F("product__unit_cost") * lived, output_field=FloatField()))
        .order_by("-rank", "pk")[: limit * CANDIDATES_PER_PLACE]
    )
    costed = []
    for instance in candidates:
        days = window.charged_days(instance.created_at, instance.decommissioned_at)
        unit_cost = instance.product.unit_cost or Decimal(0)
        costed.append(
            InstanceCost(
                instance=instance, amount=cents(instance_amount(unit_cost, days)), days=sum(days.values())
            )
        )
    costed.sort(key=lambda row: (-row.amount, row.instance.pk))
    return [row for row in costed[:limit] if row.amount > 0]
