"""Manual fulfilment: a squad member claims an order from the squad's queue,
releases it, completes it or fails it.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from portal.notifications.choices import NotificationKind
from portal.notifications.services import QUEUE_KINDS, notifications_settle, notify
from portal.orders import permissions
from portal.orders.choices import OrderStatus
from portal.orders.errors import IllegalTransition, OrderError, OrderNotAllowed
from portal.orders.models import Order
from portal.orders.seen import Seen, refuse_if_stale
from portal.orders.transitions import order_locked, order_move, order_note, refreshed, status_label
from runbooks.crypto import decrypt_json
from squads.selectors import display_name


def order_claim(*, order: Order, actor: User, seen: Seen | None = None, note: str = "") -> Order:
    """Take a manual order: one claimer at a time, everyone sees who.
    ``seen``: the order as the person saw it (``portal.orders.seen``)."""
    if not permissions.can_fulfil(actor, order):
        raise OrderNotAllowed("Only members of the owning squad work its queue.")
    now = timezone.now()
    with transaction.atomic():
        refuse_if_stale(order_locked(order), seen)
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
        order_note(order, actor=actor, note=note or f"Claimed by {display_name(actor)}")
        notifications_settle(order=order, kinds=QUEUE_KINDS)
        notify(
            recipients=[order.requester],
            kind=NotificationKind.ORDER_PROGRESS,
            title=f"Order #{order.pk} ({order.product.name}) is being worked on",
            body=f"{display_name(actor)} of the {order.squad.name} claimed it.",
            order=order,
            exclude=actor,
        )
    return order


def order_release(*, order: Order, actor: User, seen: Seen | None = None) -> Order:
    """Give a claimed manual order back to the queue: its claimer may, and so
    may the squad's product owners (someone fell ill)."""
    if not permissions.can_fulfil(actor, order):
        raise OrderNotAllowed("Only members of the owning squad work its queue.")
    with transaction.atomic():
        order = order_locked(order)
        refuse_if_stale(order, seen)
        if order.status != OrderStatus.AWAITING_FULFILMENT or order.claimed_by_id is None:
            raise IllegalTransition(f"Order #{order.pk} is not claimed; nothing to release.")
        if not permissions.can_release(actor, order):
            raise OrderNotAllowed(
                f"Order #{order.pk} is claimed by {display_name(order.claimed_by)}; "
                "only they or a product owner release it."
            )
        released = Order.objects.filter(
            pk=order.pk, status=OrderStatus.AWAITING_FULFILMENT, claimed_by_id=order.claimed_by_id
        ).update(claimed_by=None, claimed_at=None, updated_at=timezone.now())
        if not released:
            raise IllegalTransition(f"Order #{order.pk} was changed by someone else just now; reload it.")
        order_note(order, actor=actor, note=f"Released by {display_name(actor)}; back in the queue")
    return refreshed(order)


def order_complete(
    *, order: Order, actor: User, note: str = "", claim: bool = False, seen: Seen | None = None
) -> Order:
    """Close a manual order as done, by the person who claimed it. An
    unclaimed order is completed only when they say so (``claim``: "Claim
    and complete", recorded as a claim on completion) and with a note for
    the requester: "completed" with no word of what was done explains
    nothing to them."""
    note = note.strip()
    with transaction.atomic():
        order = _claimed_by_actor(order, actor, seen=seen, claim=claim, note=note, closing="complete")
        return order_move(
            order,
            to=OrderStatus.SUCCEEDED,
            allowed_from={OrderStatus.AWAITING_FULFILMENT},
            actor=actor,
            note=note or "Fulfilled",
            finished_at=timezone.now(),
            resolution_note=note,
            secret_inputs_ciphertext="",
        )


def order_fail(
    *, order: Order, actor: User, reason: str, claim: bool = False, seen: Seen | None = None
) -> Order:
    """Close a manual order as failed, with the reason the requester reads.
    Its secret inputs go with it: nobody fulfils a failed order."""
    reason = (reason or "").strip()
    if not reason:
        raise OrderError("Say why the order could not be fulfilled.")
    with transaction.atomic():
        order = _claimed_by_actor(order, actor, seen=seen, claim=claim, note=reason, closing="fail")
        return order_move(
            order,
            to=OrderStatus.FAILED,
            allowed_from={OrderStatus.AWAITING_FULFILMENT},
            actor=actor,
            note=reason,
            finished_at=timezone.now(),
            failure_reason=reason,
            secret_inputs_ciphertext="",
        )


def _claimed_by_actor(
    order: Order, actor: User, *, seen: Seen | None, claim: bool, note: str, closing: str
) -> Order:
    """The order, locked, claimed by ``actor``: claimed now if it was
    unclaimed and they chose to claim it as they close it."""
    if not permissions.can_fulfil(actor, order):
        raise OrderNotAllowed("Only members of the owning squad work its queue.")
    order = order_locked(order)
    refuse_if_stale(order, seen)
    if order.status == OrderStatus.AWAITING_FULFILMENT and order.claimed_by_id is None:
        verb = "complete" if closing == "complete" else "mark failed"
        if not claim:
            raise IllegalTransition(
                f"Order #{order.pk} is not claimed: claim it first, or choose Claim and {verb}."
            )
        if not note:
            raise OrderError(f"Say what was done for the requester to claim and {verb} it in one step.")
        on = "completion" if closing == "complete" else "failure"
        order = order_claim(order=order, actor=actor, note=f"Claimed by {display_name(actor)} on {on}")
    if order.claimed_by_id not in (None, actor.pk):
        raise OrderNotAllowed(f"Order #{order.pk} is claimed by {display_name(order.claimed_by)}.")
    return order


def order_secrets_reveal(*, order: Order, actor: User) -> dict[str, str]:
    """The secret inputs of a manual order, in clear, for the squad member
    who claimed it and needs them to fulfil it (nobody else: not the rest of
    the squad, not an admin). Every reveal is recorded on the order's
    timeline: who saw them, and when."""
    if not permissions.can_fulfil(actor, order):
        raise OrderNotAllowed("Only members of the owning squad work its queue.")
    with transaction.atomic():
        locked = order_locked(order)
        if locked.status != OrderStatus.AWAITING_FULFILMENT or locked.claimed_by_id != actor.pk:
            raise OrderNotAllowed("Only the person who claimed the order sees its secret inputs, while open.")
        if not locked.secret_inputs_ciphertext:
            raise OrderError(f"Order #{locked.pk} has no secret inputs to show.")
        secrets = decrypt_json(locked.secret_inputs_ciphertext)
        if not isinstance(secrets, dict):
            raise OrderError(f"Order #{locked.pk} has no secret inputs to show.")
        names = ", ".join(sorted(secrets))
        order_note(locked, actor=actor, note=f"Secret inputs shown to {display_name(actor)} ({names})")
    return {str(name): str(value) for name, value in secrets.items()}
