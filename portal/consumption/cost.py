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
- Every amount shown is rounded to the cent (half up) from the exact sum it
  stands for: a month's total from all that month's costs, not from the
  rounded cells of a table, which may then differ from it by a cent or so.

Everything here only reads. The costs are summed in the database, per
product or per business unit and month: the unit costs of the instances
starting and ending in it and their sums times the day of the month, from
which ``_instance_costs`` gets each month's cost exactly (one grouped scan
of the instances, regrouped into a few hundred rows however many instances
there are: rows are what a pure-Python database driver spends its time on;
docs/benchmarks.md has the figures).
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import (
    Case,
    Count,
    DateField,
    FloatField,
    IntegerField,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, ExtractDay, Greatest, Least, TruncMonth
from django.utils import timezone

from catalogue.models import Product
from portal.instances.models import ServiceInstance
from portal.orders.choices import OrderStatus
from portal.orders.models import Order
from portal.timespans import DAY_MICROSECONDS, Elapsed

CENT = Decimal("0.01")
#: PostgreSQL's memory for the grouping of ``_regrouped`` (``SET LOCAL``).
WORK_MEM = "32MB"
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
class Spend:
    """What a window cost, exactly (unrounded), per product and per
    business unit (``None``: unassigned), month by month; only the groups
    that cost something."""

    by_product: dict[int, dict[date, Decimal]]
    by_unit: dict[int | None, dict[date, Decimal]]


#: The groupings of every cost, by column (instances and orders have both).
GROUPS = ("product_id", "business_unit_id")


@dataclass
class _Edges:
    """Where the instances of one group start (or end) within the window,
    weighed by their unit cost in cents: the weight of all of them, and per
    month the weight of those starting (ending) in it and the sum of weight
    times day of the month."""

    total: int = 0
    months: dict[date, tuple[int, int]] = field(default_factory=dict)


def _window_instances(window: CostWindow, scope: CostScope) -> QuerySet[ServiceInstance]:
    """The instances charged something in the window (on the raw time
    stamps: no time zone arithmetic in the filter)."""
    return ServiceInstance.objects.filter(
        scope.q(),
        Q(decommissioned_at__isnull=True) | Q(decommissioned_at__gte=window.start),
        product__unit_cost__isnull=False,
        created_at__lt=window.end,
    )


def _day_of_month(moment: str) -> Cast:
    # An integer: PostgreSQL extracts a numeric, slower to sum and to weigh.
    return Cast(ExtractDay(moment), IntegerField())


def _lives(window: CostWindow, scope: CostScope, products: list[int]) -> QuerySet[Any, dict[str, Any]]:
    """Per product, business unit, month of creation and month of
    decommissioning within the window, how many instances and the sums of
    those days of the month; a creation before the window or an end after
    it has no month (the day and month are computed, in the portal's time
    zone, for those inside only). One scan; ``products`` (those with a unit
    cost) spares a join with the catalogue."""
    started = Q(created_at__gte=window.start)
    ended = Q(decommissioned_at__lt=window.end)
    return (
        ServiceInstance.objects.filter(
            scope.q(),
            Q(decommissioned_at__isnull=True) | Q(decommissioned_at__gte=window.start),
            product_id__in=products,
            created_at__lt=window.end,
        )
        .order_by()
        .values(
            "product_id",
            "business_unit_id",
            start_month=Case(When(started, then=TruncMonth("created_at", output_field=DateField()))),
            end_month=Case(When(ended, then=TruncMonth("decommissioned_at", output_field=DateField()))),
        )
        .annotate(
            count=Count("pk"),
            start_days=Sum(Case(When(started, then=_day_of_month("created_at")), default=Value(0))),
            end_days=Sum(Case(When(ended, then=_day_of_month("decommissioned_at")), default=Value(0))),
        )
    )


def _orders(window: CostWindow, scope: CostScope, products: list[int]) -> QuerySet[Any, dict[str, Any]]:
    """Succeeded orders of ``products`` (those that make no instance and
    have a unit cost: an index on product and finish), per product,
    business unit and month finished."""
    return (
        Order.objects.filter(
            scope.q(),
            product_id__in=products,
            status=OrderStatus.SUCCEEDED,
            operation__isnull=True,
            finished_at__gte=window.start,
            finished_at__lt=window.end,
        )
        .order_by()
        .values("product_id", "business_unit_id", month=TruncMonth("finished_at", output_field=DateField()))
        .annotate(count=Count("pk"))
    )


#: What ``_regrouped`` reads: (label, part, its month column, its count, the sum of its days).
_READINGS = (
    ("starts", "lives", "start_month", "count", "start_days"),
    ("ends", "lives", "end_month", "count", "end_days"),
    ("orders", "orders", "month", "count", "count"),  # an order has no days: the column is unread
)


def _regrouped(parts: dict[str, QuerySet[Any, dict[str, Any]]]) -> list[tuple[Any, ...]]:
    """Run ``parts`` as one statement that regroups them (``_READINGS``) by
    product and month and by business unit and month, weighing the counts
    and the days by the product's unit cost in cents.

    Thousands of groups of product, unit and months become a few hundred
    rows: the database driver in pure Python spends some microseconds on
    every value it reads, more than the database spends regrouping. Each
    part is compiled by the ORM for the database in use; what wraps them is
    plain SQL both PostgreSQL and SQLite run. Cents as integers keep the
    sums exact on SQLite too, which keeps decimals as floating point.
    """
    quote = connection.ops.quote_name
    # The unit costs in cents, computed once for the few products.
    cost = quote("unit_cost")
    named = [
        f"cents AS (SELECT {quote('id')} AS product, CAST(ROUND({cost} * 100) AS BIGINT) AS cents "  # noqa: S608
        f"FROM {quote(Product._meta.db_table)} WHERE {cost} IS NOT NULL)"
    ]
    params: list[Any] = []
    for name, queryset in parts.items():
        sql, part_params = queryset.query.sql_with_params()
        named.append(f"{name} AS ({sql})")
        params.extend(part_params)
    selects = [
        # Only names of this module and quoted identifiers: the values travel as parameters.
        f"SELECT '{label}', '{column}', e.{quote(column)}, e.{quote(month)}, "  # noqa: S608
        f"SUM(c.cents * e.{quote(count)}), SUM(c.cents * e.{quote(days)}) "
        f"FROM {part} e JOIN cents c ON c.product = e.{quote('product_id')} "
        f"GROUP BY e.{quote(column)}, e.{quote(month)}"
        for label, part, month, count, days in _READINGS
        if part in parts
        for column in GROUPS
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Tens of thousands of groups of product, unit and months outgrow
            # the default 4 MB, and PostgreSQL would sort them on disk rather
            # than hash them: for this statement only.
            cursor.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
        cursor.execute(f"WITH {', '.join(named)} {' UNION ALL '.join(selects)}", params)
        return cursor.fetchall()


def _instance_costs(
    window: CostWindow, edges: dict[str, dict[Any, _Edges]]
) -> dict[tuple[Any, date], Decimal]:
    """What the instances of each group cost per month, exactly.

    The days of month M an instance charged from day ``s`` to day ``e`` is
    charged for are the days of M up to ``e`` less the days of M before
    ``s``. The first depends on the end alone (all of M's days if it ends
    after M, ``e``'s day of the month if it ends in M, none if before), the
    second on the start alone: so the days of any number of instances are
    summed from how many start and end in each month and the sums of those
    days of the month, counted apart. Weighing each instance by its unit
    cost gives the cost times the days of the month, whatever the product.
    """
    charged = []
    for month in window.months:
        lower = max(month, window.first_day)
        upper = min(next_month(month) - timedelta(days=1), window.charged_until)
        if lower <= upper:
            charged.append((month, lower.day, (upper - lower).days + 1))
    costs: dict[tuple[Any, date], Decimal] = {}
    for key, started in edges["starts"].items():
        ended = edges["ends"].get(key, _Edges())
        ended_by = 0  # ended in this month or before
        starting_later = sum(weight for weight, _ in started.months.values())  # in a later month
        for month, first, length in charged:
            ending, end_days = ended.months.get(month, (0, 0))
            starting, start_days = started.months.get(month, (0, 0))
            ended_by += ending
            starting_later -= starting
            up_to_end = (started.total - ended_by) * length + end_days - ending * (first - 1)
            before_start = starting_later * length + start_days - starting * first
            if up_to_end != before_start:
                costs[key, month] = Decimal(up_to_end - before_start) / (100 * days_in_month(month))
    return costs


def _as_date(value: date | datetime | str) -> date:
    # As the database hands a truncated date back without the ORM's
    # converters: a date, a date-time at midnight, or text on SQLite.
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    return value.date() if isinstance(value, datetime) else value


def spend(window: CostWindow, scope: CostScope) -> Spend:
    """What every product and every business unit cost per month of the
    window, exactly (two queries; none when the window charges nothing)."""
    if window.charges_nothing or scope.empty:
        return Spend(by_product={}, by_unit={})
    costed = dict(Product.objects.filter(unit_cost__isnull=False).order_by().values_list("pk", "instance"))
    if not costed:
        return Spend(by_product={}, by_unit={})
    parts = {"lives": _lives(window, scope, list(costed))}
    one_shot = [pk for pk, instance in costed.items() if not instance]
    if one_shot:  # an empty IN () is no SQL at all
        parts["orders"] = _orders(window, scope, one_shot)
    rows = _regrouped(parts)
    edges: dict[str, dict[str, dict[Any, _Edges]]] = {
        column: {"starts": defaultdict(_Edges), "ends": defaultdict(_Edges)} for column in GROUPS
    }
    grouped: dict[str, dict[Any, dict[date, Decimal]]] = {
        column: defaultdict(lambda: dict.fromkeys(window.months, Decimal(0))) for column in GROUPS
    }
    for part, column, key, month, weight, days in rows:
        if part == "orders":
            grouped[column][key][_as_date(month)] += Decimal(weight) / 100
            continue
        found = edges[column][part][key]
        found.total += int(weight)
        if month is not None:
            found.months[_as_date(month)] = (int(weight), int(days))
    for column in GROUPS:
        for (key, month), amount in _instance_costs(window, edges[column]).items():
            grouped[column][key][month] += amount
    return Spend(by_product=dict(grouped["product_id"]), by_unit=dict(grouped["business_unit_id"]))


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
    lived = Cast(
        Elapsed(
            Least(Coalesce("decommissioned_at", Value(window.end)), Value(window.end)),
            Greatest("created_at", Value(window.start)),
        ),
        FloatField(),
    ) / Value(float(DAY_MICROSECONDS))
    # Narrow rows to rank (the sort carries no attributes), then the few listed in full.
    candidates = (
        _window_instances(window, scope)
        .annotate(rank=Cast("product__unit_cost", FloatField()) * lived)
        .order_by("-rank", "pk")
        .values_list("pk", "created_at", "decommissioned_at", "product__unit_cost")[
            : limit * CANDIDATES_PER_PLACE
        ]
    )
    costed = []
    for pk, created, decommissioned, unit_cost in candidates:
        days = window.charged_days(created, decommissioned)
        costed.append((cents(instance_amount(unit_cost or Decimal(0), days)), pk, sum(days.values())))
    costed.sort(key=lambda row: (-row[0], row[1]))
    listed = [row for row in costed[:limit] if row[0] > 0]
    instances = ServiceInstance.objects.select_related(
        "product", "product__squad", "business_unit", "owner"
    ).in_bulk([pk for _, pk, _ in listed])
    return [InstanceCost(instance=instances[pk], amount=amount, days=days) for amount, pk, days in listed]
