"""Reads of instances that need care: who sees which, with what prefetched.
The pages and the API both go through these, so they show the same rows to
the same person."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from django.db.models import Count, Q, QuerySet

from catalogue.models import Operation, Product
from portal.instances.choices import OPERABLE_STATES, InstanceState, TransferState
from portal.instances.models import InstanceEvent, InstanceTransfer, ServiceInstance
from portal.instances.permissions import can_operate, is_platform_lead
from portal.orders.models import Order
from squads.selectors import AnyUser, squad_ids_of


def instances_visible_to(user: AnyUser) -> QuerySet[ServiceInstance]:
    """The instances a person owns, every instance of their squads'
    products and those offered to them (pending transfers); platform leads
    and superusers see all."""
    if not user.is_authenticated or not user.is_active:
        return ServiceInstance.objects.none()
    queryset = ServiceInstance.objects.select_related("product", "product__squad", "owner", "business_unit")
    if user.is_superuser or is_platform_lead(user):
        return queryset
    # A subquery, not a join: an instance with several past transfers would
    # come out once per transfer.
    offered = Q(
        pk__in=InstanceTransfer.objects.filter(to_user=user, state=TransferState.PENDING).values(
            "instance_id"
        )
    )
    squads = squad_ids_of(user)
    if not squads:
        return queryset.filter(Q(owner=user) | offered)
    return queryset.filter(Q(owner=user) | Q(product__squad_id__in=squads) | offered)


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


# --- Transfers ------------------------------------------------------------------------


def pending_transfer(instance: ServiceInstance) -> InstanceTransfer | None:
    """The instance's pending offer to someone, if any (at most one)."""
    return (
        InstanceTransfer.objects.select_related("from_user", "to_user")
        .filter(instance_id=instance.pk, state=TransferState.PENDING)
        .first()
    )


def pending_transfers_of(instance_ids: Iterable[int]) -> dict[int, InstanceTransfer]:
    """The pending offers of these instances, by instance id (one query, none
    for no instance)."""
    instance_ids = list(instance_ids)
    if not instance_ids:
        return {}
    return {
        transfer.instance_id: transfer
        for transfer in InstanceTransfer.objects.select_related("from_user", "to_user").filter(
            instance_id__in=instance_ids, state=TransferState.PENDING
        )
    }


def transfers_offered_to(user: AnyUser) -> QuerySet[InstanceTransfer]:
    """What others offer the person now, newest first (My services shows
    them at the top)."""
    if not user.is_authenticated or not user.is_active:
        return InstanceTransfer.objects.none()
    return (
        InstanceTransfer.objects.filter(to_user_id=user.pk, state=TransferState.PENDING)
        .select_related("instance__product", "from_user")
        .order_by("-created_at", "-id")
    )
