"""Cancelling an order: a queued or waiting one at once, a running one by
stopping its playbook.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from portal.orders import permissions
from portal.orders.choices import CANCELLABLE_STATUSES, OrderStatus
from portal.orders.errors import IllegalTransition, OrderNotAllowed
from portal.orders.execution import order_finish
from portal.orders.models import Order
from portal.orders.seen import Seen, refuse_if_stale
from portal.orders.transitions import order_locked, order_move, order_note
from runbooks.choices import CancelOutcome
from runbooks.services import (
    RunError,
    run_request_cancel,
)


def order_cancel(*, order: Order, actor: User, reason: str = "", seen: Seen | None = None) -> Order:
    """Cancel an open order. A queued one never starts; a running one has its
    playbook stopped (the executor kills the process group) and becomes
    ``cancelled`` when the run ends, within about a second. ``seen``: the
    order as the person saw it (``portal.orders.seen``)."""
    if not permissions.can_cancel(actor, order):
        raise OrderNotAllowed("You cannot cancel this order.")
    with transaction.atomic():
        locked = order_locked(order)
        refuse_if_stale(locked, seen)
        if locked.status != OrderStatus.RUNNING:
            return order_move(
                locked,
                to=OrderStatus.CANCELLED,
                allowed_from=CANCELLABLE_STATUSES - {OrderStatus.RUNNING},
                actor=actor,
                note=reason.strip() or "Cancelled",
                finished_at=timezone.now(),
                secret_inputs_ciphertext="",
            )
    order.refresh_from_db()
    note = reason.strip() or "Cancelled"
    if order.status == OrderStatus.RUNNING:
        if order.current_run is None:
            raise IllegalTransition(f"Order #{order.pk} is starting; try again in a moment.")
        try:
            outcome = run_request_cancel(run=order.current_run)
        except RunError:
            # Its run is over (cancelled by an earlier request, or just ended):
            # the order takes the outcome in a moment.
            raise IllegalTransition(
                f"Order #{order.pk} is already stopping or has just ended; it cannot be cancelled now."
            ) from None
        if outcome == CancelOutcome.ALREADY_REQUESTED:
            # Asking again while it stops changes nothing and says nothing twice.
            order.refresh_from_db()
            return order
        order_note(order, actor=actor, note=f"Cancellation requested: {note}")
        if outcome == CancelOutcome.CANCELLED:
            # The run had not started: nothing to wait for.
            finished = order_finish(order_id=order.pk, run=order.current_run)
            if finished is not None:
                return finished
        Order.objects.filter(pk=order.pk).update(updated_at=timezone.now())
        order.refresh_from_db()
        return order
    return order_move(
        order,
        to=OrderStatus.CANCELLED,
        allowed_from=CANCELLABLE_STATUSES - {OrderStatus.RUNNING},
        actor=actor,
        note=note,
        finished_at=timezone.now(),
        secret_inputs_ciphertext="",
    )
