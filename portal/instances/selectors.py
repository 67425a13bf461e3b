"""Reads of instances that need care: who sees which, with what prefetched.
The pages and the API both go through these, so they show the same rows to
the same person."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Count, Q, QuerySet

from catalogue.models import Operation, Product
from portal.instances.choices import OPERABLE_STATES, InstanceState
from portal.instances.models import InstanceEvent, ServiceInstance
from portal.instances.permissions import can_operate, is_platform_lead
from portal.orders.models import Order
from squads.selectors import AnyUser, squad_ids_of


def instances_visible_to(user: AnyUser) -> QuerySet[ServiceInstance]:
    """The instances a person owns, and every instance of their squads'
    products; platform leads and superusers see all."""
    if not user.is_authenticated or not user.is_active:
        return ServiceInstance.objects.none()
    queryset = ServiceInstance.objects.select_related("product", "product__squad", "owner", "business_unit")
    if user.is_superuser or is_platform_lead(user):
        return queryset
    squads = squad_ids_of(user)
    if not squads:
        return queryset.filter(owner=user)
    return queryset.filter(Q(owner=user) | Q(product__squad_id__in=squads))


def instance_history(instance: ServiceInstance) -> QuerySet[InstanceEvent]:
    return instance.events.select_related("actor", "order", "order__operation").order_by("created_at", "id")


def instance_orders(instance: ServiceInstance) -> QuerySet[Order]:
    """Every order against the instance (its creation first), newest first."""
    return (
        Order.objects.filter(instance=instance)
        .select_related("product", "operation", "requester")
        .order_by("-created_at", "-id")
    )


def operations_offered(user: AnyUser, instance: ServiceInstance) -> list[Operation]:
    """The operations the person may order for the instance now (none while
    another order works on it)."""
    if instance.busy_with_id is not None or not can_operate(user, instance):
        return []
    return [
        operation
        for operation in instance.product.operations.select_related("runbook").order_by("position", "name")
        if instance.state in OPERABLE_STATES[operation.kind]
    ]


def monthly_cost(instance: ServiceInstance) -> Decimal | None:
    """What the instance costs a month while it lives (the product's unit cost)."""
    if instance.state == InstanceState.DECOMMISSIONED:
        return None
    return instance.product.unit_cost


def instance_counts(products: list[Product]) -> dict[int, int]:
    """How many active instances each product has now, by id."""
    rows = (
        ServiceInstance.objects.filter(product__in=products, state=InstanceState.ACTIVE)
        .values("product_id")
        .annotate(count=Count("id"))
        .order_by()
    )
    return {row["product_id"]: row["count"] for row in rows}
