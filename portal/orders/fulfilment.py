"""Manual fulfilment: a squad member claims an order from the squad's queue,
releases it, completes it or fails it.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from portal.notifications.services import QUEUE_KINDS, notifications_settle
from portal.orders import permissions
from portal.orders.choices import OrderStatus
from portal.orders.errors import IllegalTransition, OrderError, OrderNotAllowed
from portal.orders.models import Order
from portal.orders.transitions import order_move, order_note, refreshed, status_label
from squads.selectors import display_name


def order_claim(*, order: Order, actor: User) -> Order:
    """Take a manual order: one claimer at a time, everyone sees who."""
    if not permissions.can_fulfil(actor, order):
        raise OrderNotAllowed("Only members of the owning squad work its queue.")
    now = timezone.now()
    with transaction.atomic():
        updated = Order.objects.filter(
            pk=order.pk, status=OrderStatus.AWAITING_FULFILMENT, claimed_by__isnull=True
        ).update(claimed_by=actor, claimed_at=now, updated_at=now)
        order.refresh_from_db()
        if not updated:
            if order.status != OrderStatus.AWAITING_FULFILMENT:
                raise IllegalTransition(
                    f"Order #{order.pk} is {status_label(order.status)}; nothing to claim."
                )
            raise IllegalTransition(
                f"Order #{order.pk} is already claimed by {display_name(order.claimed_by)}."
            )
        order_note(order, actor=actor, note=f"Claimed by {display_name(actor)}")
        notifications_settle(order=order, kinds=QUEUE_KINDS)
    return order


def order_release(*, order: Order, actor: User) -> Order:
    """Give a claimed manual order back to the queue: its claimer may, and so
    may the squad's product owners (someone fell ill)."""
    if not permissions.can_fulfil(actor, order):
        raise OrderNotAllowed("Only members of the owning squad work its queue.")
    order.refresh_from_db()
    if order.status != OrderStatus.AWAITING_FULFILMENT or order.claimed_by_id is None:
        raise IllegalTransition(f"Order #{order.pk} is not claimed; nothing to release.")
    if not permissions.can_release(actor, order):
        raise OrderNotAllowed(
            f"Order #{order.pk} is claimed by {display_name(order.claimed_by)}; "
            "only they or a product owner release it."
        )
    with transaction.atomic():
        released = Order.objects.filter(
            pk=order.pk, status=OrderStatus.AWAITING_FULFILMENT, claimed_by_id=order.claimed_by_id
        ).update(claimed_by=None, claimed_at=None, updated_at=timezone.now())
        if not released:
            raise IllegalTransition(f"Order #{order.pk} was changed by someone else just now; reload it.")
        order_note(order, actor=actor, note=f"Released by {display_name(actor)}; back in the queue")
    return refreshed(order)


def order_complete(*, order: Order, actor: User, note: str = "") -> Order:
    """Close a manual order as done. Whoever completes an unclaimed order
    claims it first, so claim and completion times are always recorded."""
    order = _claimed_by_actor(order, actor)
    return order_move(
        order,
        to=OrderStatus.SUCCEEDED,
        allowed_from={OrderStatus.AWAITING_FULFILMENT},
        actor=actor,
        note=note.strip() or "Fulfilled",
        finished_at=timezone.now(),
        resolution_note=note.strip(),
        secret_inputs_ciphertext="",
    )


def order_fail(*, order: Order, actor: User, reason: str) -> Order:
    if not reason or not reason.strip():
        raise OrderError("Say why the order could not be fulfilled.")
    order = _claimed_by_actor(order, actor)
    return order_move(
        order,
        to=OrderStatus.FAILED,
        allowed_from={OrderStatus.AWAITING_FULFILMENT},
        actor=actor,
        note=reason.strip(),
        finished_at=timezone.now(),
        failure_reason=reason.strip(),
    )


def _claimed_by_actor(order: Order, actor: User) -> Order:
    if not permissions.can_fulfil(actor, order):
        raise OrderNotAllowed("Only members of the owning squad work its queue.")
    order.refresh_from_db()
    if order.status == OrderStatus.AWAITING_FULFILMENT and order.claimed_by_id is None:
        order = order_claim(order=order, actor=actor)
    if order.claimed_by_id not in (None, actor.pk):
        raise OrderNotAllowed(f"Order #{order.pk} is claimed by {display_name(order.claimed_by)}.")
    return order
