"""Reads of orders that need care: who may see what, with what prefetched.

The browser and the API both go through these so they always show the same
rows to the same person.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet

from portal.integrations.webhooks.delivery import iso
from portal.orders.approval_steps import decidable_by
from portal.orders.choices import OrderStatus
from portal.orders.models import Order, OrderApproval
from portal.orders.outcome import FINAL_FAILURE_KINDS
from squads.selectors import AnyUser, squad_ids_of


def orders_visible_to(user: AnyUser) -> QuerySet[Order]:
    """A requester sees their own orders; a squad member also sees every order
    for their squads' products; whoever an order's open approval step names
    (by role in the squad it asks, or by chapter) sees it while it waits, and
    whoever decided on an order keeps seeing it; a superuser sees all."""
    if not user.is_authenticated or not user.is_active:
        return Order.objects.none()
    queryset = Order.objects.select_related("product", "squad", "requester")
    if user.is_superuser:
        return queryset
    squads = squad_ids_of(user)
    decided = OrderApproval.objects.filter(approver=user).values("order_id")
    # Someone outside the owning squad sees an order while its open step
    # names them (their chapter, or their role in the squad it asks: not
    # every member of that squad, the order's inputs may be sensitive), and
    # the orders they decided. Plain columns of the order, so the list stays
    # one cheap query.
    return queryset.filter(
        Q(requester=user)
        | Q(squad_id__in=squads)
        | (Q(status=OrderStatus.PENDING_APPROVAL) & decidable_by(user))
        | Q(pk__in=decided)
    )


def orders_awaiting_approval_by(user: AnyUser) -> QuerySet[Order]:
    """Orders whose open approval step this user may decide, oldest first:
    the approvals inbox, in the browser and the API. Never their own orders,
    never one they already decided on (separation of duties)."""
    if not user.is_authenticated or not user.is_active:
        return Order.objects.none()
    return (
        Order.objects.select_related("product", "squad", "requester", "runbook_version__runbook")
        .filter(decidable_by(user), status=OrderStatus.PENDING_APPROVAL)
        .exclude(requester=user)
        .exclude(pk__in=OrderApproval.objects.filter(approver=user).values("order_id"))
        .order_by("created_at", "id")
    )


def orders_in_manual_queue_of(user: AnyUser) -> QuerySet[Order]:
    """Manual orders waiting in the queues of the user's squads, oldest first."""
    if not user.is_authenticated or not user.is_active:
        return Order.objects.none()
    queryset = (
        Order.objects.select_related("product", "squad", "requester", "claimed_by")
        .filter(status=OrderStatus.AWAITING_FULFILMENT)
        .order_by("created_at", "id")
    )
    if user.is_superuser:
        return queryset
    return queryset.filter(squad_id__in=squad_ids_of(user))


# --- REST API -----------------------------------------------------------------------


def orders_for_api(user: AnyUser) -> QuerySet[Order]:
    """``orders_visible_to`` with everything an order's API representation reads."""
    return orders_visible_to(user).select_related("claimed_by", "operation", "business_unit")


def order_run_events(order: Order) -> QuerySet:
    """The output of the order's runs (``RunEvent`` rows, each annotated with
    its ``attempt``) in the order it was emitted, attempt after attempt."""
    from django.db.models import F

    from runbooks.models import RunEvent

    return (
        RunEvent.objects.filter(run__order_run__order=order)
        .annotate(attempt=F("run__order_run__attempt"))
        .order_by("run__order_run__attempt", "counter")
    )


def order_webhook_payload(order_id: int) -> dict | None:
    """What a webhook receiver learns of an order (None once it is gone)."""
    order = (
        Order.objects.select_related(
            "product", "squad", "requester", "operation", "claimed_by", "business_unit"
        )
        .filter(pk=order_id)
        .first()
    )
    return order_payload(order) if order is not None else None


#: Keys the payload carried before it took the API's ``Order`` shape, kept so
#: receivers written for it keep working (``api_path``: ``url`` is absolute;
#: the rest are also in ``result``). The schema marks them deprecated.
LEGACY_ORDER_KEYS = ("api_path", "return_code", "failure_reason", "resolution_note")


def order_result(order: Order | Mapping[str, Any]) -> dict[str, Any]:
    """An order's ``result`` as the API and webhooks show it, from the order
    or from a row of its values (the API's list reads rows)."""

    def get(name: str) -> Any:
        return order[name] if isinstance(order, Mapping) else getattr(order, name)

    reported = get("result") or {}
    return {
        "summary": reported.get("summary", ""),
        "links": reported.get("links", []),
        "failed_step": get("failed_step"),
        "retry_can_help": get("failure_kind") not in FINAL_FAILURE_KINDS,
        "return_code": get("return_code"),
        "host_summary": get("host_summary") or {},
        "failure_reason": get("failure_reason"),
        "resolution_note": get("resolution_note"),
    }


def order_payload(order: Order) -> dict:
    """What a receiver learns of the order: every key of the API's ``Order``
    (a generated client's model reads it; secrets masked as there), with
    ``url`` absolute through ``SQUADRON_BASE_URL`` and times in UTC, plus
    ``LEGACY_ORDER_KEYS``. The OpenAPI document's ``webhooks`` describe it,
    and a test holds every event the suite sends to that description."""
    api_path = f"/api/v1/orders/{order.pk}/"
    return {
        "id": order.pk,
        "url": f"{settings.SQUADRON_BASE_URL}{api_path}",
        "status": order.status,
        "product": {"slug": order.product.slug, "name": order.product.name},
        "instance": order.instance_id,
        "operation": order.operation.slug if order.operation is not None else None,
        "business_unit": order.business_unit.slug if order.business_unit is not None else None,
        "quota_excess": order.quota_excess,
        "product_version": order.product_version,
        "squad": {"slug": order.squad.slug, "name": order.squad.name},
        "requester": order.requester.get_username(),
        "fulfilment": order.fulfilment,
        "approval_policy": order.approval_policy,
        "inputs": order.inputs,
        "attempts": order.attempts,
        "claimed_by": order.claimed_by.get_username() if order.claimed_by is not None else None,
        "created_at": iso(order.created_at),
        "updated_at": iso(order.updated_at),
        "approved_at": iso(order.approved_at),
        "queued_at": iso(order.queued_at),
        "started_at": iso(order.started_at),
        "claimed_at": iso(order.claimed_at),
        "finished_at": iso(order.finished_at),
        "result": order_result(order),
        # LEGACY_ORDER_KEYS
        "api_path": api_path,
        "return_code": order.return_code,
        "failure_reason": order.failure_reason,
        "resolution_note": order.resolution_note,
    }
