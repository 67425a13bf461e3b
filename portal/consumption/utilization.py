"""Utilization: instances that are kept but not used, read in the database.

- *Idle*: an instance that is not decommissioned, was created more than N
  days ago, and has had no order against it (its creation, an update, an
  extension) for N days.
- *Past its expiry*: an instance that is not decommissioned although its
  ``expires_at`` has passed (the automatic decommissioning failed, or waits).

Both read the instances in a ``CostScope``, biggest monthly cost first: what
an idle instance keeps costing is what giving it up would save.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, Exists, F, Max, OuterRef, QuerySet, Sum

from portal.consumption.cost import CostScope
from portal.instances.choices import InstanceState
from portal.instances.models import ServiceInstance
from portal.orders.models import Order

#: What "idle" means when a request does not say: no order for this many days.
DEFAULT_IDLE_DAYS = 30
MAX_IDLE_DAYS = 3650


def _kept(scope: CostScope) -> QuerySet[ServiceInstance]:
    return ServiceInstance.objects.filter(scope.q()).exclude(state=InstanceState.DECOMMISSIONED)


def _biggest_first(queryset: QuerySet[ServiceInstance], *then: str) -> QuerySet[ServiceInstance]:
    return queryset.order_by(F("product__unit_cost").desc(nulls_last=True), *then, "pk")


def listed(queryset: QuerySet[ServiceInstance], limit: int) -> list[ServiceInstance]:
    """The first ``limit`` instances of ``queryset`` with what a table shows
    of them: the ids are sorted on narrow rows (thousands of instances'
    attributes never go through the sort), then the few fetched in full."""
    ids = list(queryset.values_list("pk", flat=True)[:limit])
    found = ServiceInstance.objects.select_related(
        "product", "product__squad", "business_unit", "owner"
    ).in_bulk(ids)
    return [found[pk] for pk in ids]


@dataclass(frozen=True)
class Tally:
    """How many instances, and what they cost together a month."""

    count: int
    monthly_cost: Decimal


def _tally(queryset: QuerySet[ServiceInstance]) -> Tally:
    row = queryset.order_by().aggregate(count=Count("pk"), monthly=Sum("product__unit_cost"))
    return Tally(count=row["count"], monthly_cost=row["monthly"] or Decimal(0))


def idle_instances(scope: CostScope, *, now: datetime, days: int) -> QuerySet[ServiceInstance]:
    """Instances no order has touched for ``days`` days, biggest monthly
    cost first, then the oldest."""
    cutoff = now - timedelta(days=days)
    recent = Order.objects.filter(instance_id=OuterRef("pk"), created_at__gte=cutoff)
    return _biggest_first(_kept(scope).filter(created_at__lt=cutoff).exclude(Exists(recent)), "created_at")


def idle_tally(scope: CostScope, *, now: datetime, days: int) -> Tally:
    return _tally(idle_instances(scope, now=now, days=days))


def last_orders(instances: list[ServiceInstance]) -> dict[int, datetime]:
    """When the last order against each of ``instances`` was placed (one
    query, for the rows a page shows)."""
    rows: Any = (
        Order.objects.filter(instance_id__in=[instance.pk for instance in instances])
        .order_by()
        .values_list("instance_id")
        .annotate(last=Max("created_at"))
    )
    return dict(rows)


def expired_instances(scope: CostScope, *, now: datetime) -> QuerySet[ServiceInstance]:
    """Instances still kept after their expiry, longest overdue first."""
    return _kept(scope).filter(expires_at__lt=now).order_by("expires_at", "pk")


def expired_tally(scope: CostScope, *, now: datetime) -> Tally:
    return _tally(expired_instances(scope, now=now))


def running_tally(scope: CostScope) -> Tally:
    """Every instance not decommissioned, and what they cost a month."""
    return _tally(_kept(scope))
