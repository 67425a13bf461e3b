"""What the cost page, its CSV exports and ``GET /api/v1/cost/`` show, for
one reader's scope and one period: spend per business unit, product and
squad month by month, the trend and the largest instances; the request's
parameters; and the cells every table of instances shows (the utilization
page's too, ``utilization_report``).

The figures come from ``portal.consumption.cost``, where how a cost is
counted is said; each part is computed when first asked for, so a CSV
export computes its table only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any

from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString

from catalogue.models import Product
from portal.consumption import utilization
from portal.consumption.cost import (
    CostScope,
    CostWindow,
    InstanceCost,
    Spend,
    cents,
    largest_instances,
    month_start,
    spend,
)
from portal.consumption.models import BusinessUnit
from portal.insights import charts
from portal.insights.periods import Period, PeriodError, period_from_query
from portal.insights.tables import Column, Table
from portal.instances.models import ServiceInstance
from portal.instances.selectors import instances_visible_to
from squads.models import Squad
from squads.selectors import AnyUser, display_name

#: What ``group_by`` may name, in the API and on the page.
GROUPINGS = ("business_unit", "product", "squad")
UNASSIGNED = "Unassigned"


def default_period(now: datetime) -> Period:
    """The last twelve months: this month so far and the eleven before it,
    whole, so every month of the trend is a calendar month."""
    month = month_start(timezone.localtime(now).date())
    for _ in range(11):
        month = month_start(month - timedelta(days=1))
    since = timezone.make_aware(datetime.combine(month, time.min))
    return Period(since=since, until=now, now=now)


def cost_period(params: Mapping[str, str], *, now: datetime) -> Period:
    """The period a request names (``since``, ``until``, ``days`` as on
    every insight), the last twelve months when it names none."""
    if not any(params.get(name) for name in ("since", "until", "days")):
        return default_period(now)
    return period_from_query(params, now=now)


def idle_days_from_query(params: Mapping[str, str]) -> int:
    """``idle_days``: a whole number of days, ``DEFAULT_IDLE_DAYS`` when absent."""
    raw = params.get("idle_days")
    if raw in (None, ""):
        return utilization.DEFAULT_IDLE_DAYS
    try:
        days = int(str(raw))
        if not 1 <= days <= utilization.MAX_IDLE_DAYS:
            raise ValueError
    except ValueError:
        raise PeriodError(
            {"idle_days": [f"A whole number of days from 1 to {utilization.MAX_IDLE_DAYS}."]}
        ) from None
    return days


@dataclass
class SpendGroup:
    """One business unit, product or squad: its spend month by month."""

    key: str | None  # its slug; None for "unassigned"
    name: str
    months: dict[date, Decimal]
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def total(self) -> Decimal:
        return sum(self.months.values(), start=Decimal(0))


def _month_key(month: date) -> str:
    return f"month_{month:%Y_%m}"


def _month_label(month: date) -> str:
    return f"{month:%b %Y}"


INSTANCE_COLUMNS = [
    Column("instance", "Instance"),
    Column("product", "Product"),
    Column("squad", "Squad"),
    Column("business_unit", "Business unit"),
    Column("owner", "Owner"),
]


def instance_cells(viewer: AnyUser, instances: list[ServiceInstance], *, links: bool) -> list[dict[str, Any]]:
    """The cells every table of instances shows; with ``links``, a link to
    the instances whose page the reader may open (one query)."""
    visible: set[int] = set()
    if links and instances:
        visible = set(
            instances_visible_to(viewer)
            .filter(pk__in=[instance.pk for instance in instances])
            .values_list("pk", flat=True)
        )
    return [
        {
            "instance": instance.name,
            "product": instance.product.name,
            "squad": instance.product.squad.name,
            "business_unit": instance.business_unit.name if instance.business_unit else UNASSIGNED,
            "owner": display_name(instance.owner),
            "monthly_cost": instance.product.unit_cost,
            "_links": {"instance": reverse("instance-detail", args=[instance.pk])}
            if instance.pk in visible
            else {},
        }
        for instance in instances
    ]


class CostReport:
    """The cost page of one reader over one period."""

    TABLES = ("months", "business-units", "products", "squads", "instances")

    def __init__(self, *, viewer: AnyUser, scope: CostScope, period: Period) -> None:
        self.viewer = viewer
        self.scope = scope
        self.period = period
        self.window = CostWindow.between(period.since, period.until, now=period.now)

    # --- Spend -----------------------------------------------------------------------

    @cached_property
    def spend(self) -> Spend:
        return spend(self.window, self.scope)

    @property
    def by_product(self) -> dict[int, dict[date, Decimal]]:
        """Exact spend per product id and month."""
        return self.spend.by_product

    @property
    def by_unit(self) -> dict[int | None, dict[date, Decimal]]:
        """Exact spend per business unit id (``None``: unassigned) and month."""
        return self.spend.by_unit

    @property
    def months(self) -> list[date]:
        return self.window.months

    @cached_property
    def _products(self) -> dict[int, Product]:
        return Product.objects.select_related("squad").in_bulk(list(self.by_product))

    @cached_property
    def _units(self) -> dict[int, BusinessUnit]:
        units = BusinessUnit.objects.all()
        if not self.scope.everything:
            shown = {pk for pk in self.by_unit if pk is not None} | set(self.scope.business_unit_ids)
            units = units.filter(pk__in=shown)
        return {unit.pk: unit for unit in units}

    @cached_property
    def _squads(self) -> dict[int, Squad]:
        squads = Squad.objects.all()
        if not self.scope.everything:
            shown = {product.squad_id for product in self._products.values()} | set(self.scope.squad_ids)
            squads = squads.filter(pk__in=shown)
        return {squad.pk: squad for squad in squads}

    @property
    def scope_sentence(self) -> str:
        """Whose costs the report shows, in a sentence."""
        if self.scope.everything:
            return "Every business unit and every squad."
        units = sorted(unit.name for pk, unit in self._units.items() if pk in self.scope.business_unit_ids)
        squads = sorted(squad.name for pk, squad in self._squads.items() if pk in self.scope.squad_ids)
        parts = []
        if units:
            parts.append(f"what {' and '.join(units)} {'is' if len(units) == 1 else 'are'} charged")
        if squads:
            parts.append(f"what the products of {' and '.join(squads)} earn")
        sentence = " and ".join(parts)
        return sentence[:1].upper() + sentence[1:] + "."

    @cached_property
    def per_month(self) -> dict[date, Decimal]:
        """Exact spend per month."""
        grouped = self.by_product
        totals = dict.fromkeys(self.months, Decimal(0))
        for months in grouped.values():
            for month, amount in months.items():
                totals[month] += amount
        return totals

    @cached_property
    def total(self) -> Decimal:
        return sum(self.per_month.values(), start=Decimal(0))

    def groups(self, group_by: str) -> list[SpendGroup]:
        """Spend per business unit (with the unassigned), product or squad,
        biggest first, exact. Every unit and squad in the reader's scope is
        listed, spending or not; products only when they cost something."""
        zero = dict.fromkeys(self.months, Decimal(0))
        result: list[SpendGroup] = []
        if group_by == "business_unit":
            for unit in self._units.values():
                detail = {"cost_centre": unit.cost_centre}
                result.append(SpendGroup(unit.slug, unit.name, self.by_unit.get(unit.pk, dict(zero)), detail))
            if None in self.by_unit:
                result.append(SpendGroup(None, UNASSIGNED, self.by_unit[None], {"cost_centre": ""}))
        elif group_by == "product":
            for product_id, months in self.by_product.items():
                product = self._products[product_id]
                detail = {"squad": product.squad.slug, "squad_name": product.squad.name}
                result.append(SpendGroup(product.slug, product.name, months, detail))
        elif group_by == "squad":
            per_squad: dict[int, dict[date, Decimal]] = defaultdict(lambda: dict(zero))
            for product_id, months in self.by_product.items():
                squad_months = per_squad[self._products[product_id].squad_id]
                for month, amount in months.items():
                    squad_months[month] += amount
            for squad in self._squads.values():
                result.append(SpendGroup(squad.slug, squad.name, per_squad.get(squad.pk, dict(zero))))
        else:
            raise ValueError(f"Unknown grouping {group_by!r}: use one of {', '.join(GROUPINGS)}.")
        result.sort(key=lambda group: (-group.total, group.key is None, group.name.lower()))
        return result

    @cached_property
    def largest(self) -> list[InstanceCost]:
        return largest_instances(self.window, self.scope)

    # --- Chart -----------------------------------------------------------------------------

    @cached_property
    def trend_chart(self) -> SafeString:
        per_month = {month: cents(amount) for month, amount in self.per_month.items()}
        total = cents(self.total)
        values = [float(amount) for amount in per_month.values()]
        top = max(values, default=0)
        busiest = max(per_month.items(), key=lambda item: item[1]) if total else None
        return charts.bar_chart(
            "cost-trend",
            "Spend per month",
            f"{total:,.2f} over {len(self.months)} months"
            + (f"; the most in {_month_label(busiest[0])} ({busiest[1]:,.2f})." if busiest else "."),
            [
                charts.Bar(f"{month:%b %y}", float(amount), "bar", f"{_month_label(month)}: {amount:,.2f}")
                for month, amount in per_month.items()
            ],
            maximum=charts.nice_maximum(top),
        )

    # --- Tables ------------------------------------------------------------------------------

    def _month_columns(self) -> list[Column]:
        return [Column(_month_key(month), _month_label(month), "money") for month in self.months]

    def _month_cells(self, months: dict[date, Decimal]) -> dict[str, Any]:
        return {_month_key(month): cents(months.get(month, Decimal(0))) for month in self.months}

    def months_table(self) -> Table:
        return Table(
            slug="months",
            title="Spend per month",
            columns=[Column("month", "Month"), Column("spend", "Spend", "money")],
            rows=[
                {"month": f"{month:%Y-%m}", "spend": cents(amount)}
                for month, amount in self.per_month.items()
            ],
        )

    def _groups_table(self, slug: str, title: str, group_by: str, first: list[Column], empty: str) -> Table:
        rows = []
        for group in self.groups(group_by):
            rows.append(
                {
                    "name": group.name,
                    **group.detail,
                    **self._month_cells(group.months),
                    "total": cents(group.total),
                }
            )
        return Table(
            slug=slug,
            title=title,
            columns=[*first, *self._month_columns(), Column("total", "Total", "money")],
            rows=rows,
            empty=empty,
        )

    def units_table(self) -> Table:
        return self._groups_table(
            "business-units",
            "Spend per business unit",
            "business_unit",
            [Column("name", "Business unit"), Column("cost_centre", "Cost centre")],
            "No business unit spent anything in this period.",
        )

    def products_table(self) -> Table:
        return self._groups_table(
            "products",
            "Spend per product",
            "product",
            [Column("name", "Product"), Column("squad_name", "Squad")],
            "No product cost anything in this period.",
        )

    def squads_table(self) -> Table:
        return self._groups_table(
            "squads",
            "What each squad's products earn",
            "squad",
            [Column("name", "Squad")],
            "No squad's products cost anything in this period.",
        )

    def instances_table(self, *, links: bool = True) -> Table:
        cells = instance_cells(self.viewer, [row.instance for row in self.largest], links=links)
        return Table(
            slug="instances",
            title="The twelve largest instances",
            columns=[
                *INSTANCE_COLUMNS,
                Column("state", "State"),
                Column("days", "Days charged", "int"),
                Column("cost", "Cost in the period", "money"),
            ],
            rows=[
                {**cell, "state": row.instance.get_state_display(), "days": row.days, "cost": row.amount}
                for row, cell in zip(self.largest, cells, strict=True)
            ],
            empty="No instance cost anything in this period.",
        )

    def table(self, slug: str, *, csv: bool = False) -> Table | None:
        """A table of the page by its slug; a CSV links nowhere."""
        builders: dict[str, Callable[[], Table]] = {
            "months": self.months_table,
            "business-units": self.units_table,
            "products": self.products_table,
            "squads": self.squads_table,
            "instances": lambda: self.instances_table(links=not csv),
        }
        builder = builders.get(slug)
        return builder() if builder else None

    # --- The API ------------------------------------------------------------------------------

    def as_api(self, group_by: str) -> dict[str, Any]:
        """``GET /api/v1/cost/``: the spend per month of each group."""
        return {
            "period": {"since": self.period.since.isoformat(), "until": self.period.until.isoformat()},
            "first_day": self.window.first_day.isoformat(),
            "last_day": self.window.last_day.isoformat(),
            "group_by": group_by,
            "months": [f"{month:%Y-%m}" for month in self.months],
            "total": f"{cents(self.total):.2f}",
            "per_month": [
                {"month": f"{month:%Y-%m}", "amount": f"{cents(amount):.2f}"}
                for month, amount in self.per_month.items()
            ],
            "groups": [
                {
                    "key": group.key,
                    "name": group.name,
                    **{name: value for name, value in group.detail.items() if name != "squad_name"},
                    "total": f"{cents(group.total):.2f}",
                    "months": [
                        {"month": f"{month:%Y-%m}", "amount": f"{cents(amount):.2f}"}
                        for month, amount in group.months.items()
                    ],
                }
                for group in self.groups(group_by)
            ],
        }
