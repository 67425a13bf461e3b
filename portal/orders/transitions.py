"""The one path of every change of an order's status.

``order_move`` is the only place an order's status is written: it guards the
move with a conditional UPDATE on the status read just before (of two
concurrent callers exactly one wins, the other gets ``IllegalTransition``),
records the event, notifies the people concerned and fires the webhooks, so
that no move can forget one of them. The other helpers here record what
happens to an order without a status change.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from portal.integrations.webhooks.delivery import webhooks_order_changed
from portal.notifications.choices import NotificationKind
from portal.notifications.services import APPROVAL_KINDS, QUEUE_KINDS, notifications_settle, notify
from portal.orders import approval_steps
from portal.orders.choices import TERMINAL_STATUSES, OrderStatus
from portal.orders.errors import IllegalTransition
from portal.orders.hooks import OrderMove, order_moved
from portal.orders.models import Order, OrderEvent
from portal.orders.selectors import order_webhook_payload
from squads.selectors import display_name

#: How a notification says what happened to an order.
STATUS_PHRASES: dict[str, str] = {
    OrderStatus.PENDING_APPROVAL: "waits for approval",
    OrderStatus.REJECTED: "was rejected",
    OrderStatus.QUEUED: "is queued to run",
    OrderStatus.RUNNING: "is running",
    OrderStatus.AWAITING_FULFILMENT: "is in the squad's queue",
    OrderStatus.SUCCEEDED: "succeeded",
    OrderStatus.FAILED: "failed",
    OrderStatus.TIMED_OUT: "timed out",
    OrderStatus.CANCELLED: "was cancelled",
}


def sentence(text: str) -> str:
    """``text`` ending as a sentence, whatever punctuation the person typed."""
    text = text.strip()
    return text if text.endswith((".", "!", "?", "…")) else f"{text}."


def order_move(
    order: Order,
    *,
    to: str,
    allowed_from: frozenset[str] | set[str],
    actor: User | None,
    note: str = "",
    **fields: object,
) -> Order:
    """Move ``order`` to ``to`` if its current status allows, recording the event.

    The UPDATE matches the exact status read just before, so a concurrent move
    makes it match no row and this one is refused rather than both winning.
    """
    now = timezone.now()
    if to in TERMINAL_STATUSES:
        # A finished order waits on nobody: a question left unanswered is over.
        fields.setdefault("waiting_on_requester_since", None)
    with transaction.atomic():
        current = Order.objects.filter(pk=order.pk).values_list("status", flat=True).first()
        if current is None or current not in allowed_from:
            raise IllegalTransition(
                f"Order #{order.pk} is {status_label(current)}; it cannot become {status_label(to)}."
            )
        updated = Order.objects.filter(pk=order.pk, status=current).update(
            status=to, updated_at=now, **fields
        )
        if updated != 1:
            raise IllegalTransition(f"Order #{order.pk} was changed by someone else just now; reload it.")
        OrderEvent.objects.create(
            order_id=order.pk, actor=actor, from_status=current, to_status=to, note=note
        )
        order.refresh_from_db()
        order_changed(order, from_status=current or "", to_status=to, actor=actor, note=note)
    return order


def order_changed(order: Order, *, from_status: str, to_status: str, actor: User | None, note: str) -> None:
    """Tell the people concerned that an order changed status (inside the
    transaction of the change: the notifications commit with it or not at all).
    The domains observing orders hear first (``portal.orders.hooks``): one of
    them may still refuse the move."""
    order_moved(OrderMove(order=order, from_status=from_status, to_status=to_status, actor=actor, note=note))
    webhooks_order_changed(
        order_id=order.pk, from_status=from_status, to_status=to_status, payload_of=order_webhook_payload
    )
    product = order.product
    title = f"Order #{order.pk} ({product.name}) {STATUS_PHRASES[to_status]}"
    if from_status:
        finished = to_status in TERMINAL_STATUSES
        kind = NotificationKind.ORDER_FINISHED if finished else NotificationKind.ORDER_PROGRESS
        notify(recipients=[order.requester], kind=kind, title=title, body=note, order=order, exclude=actor)
    if from_status == OrderStatus.PENDING_APPROVAL:
        notifications_settle(order=order, kinds=APPROVAL_KINDS)
    elif from_status == OrderStatus.AWAITING_FULFILMENT:
        notifications_settle(order=order, kinds=QUEUE_KINDS)
    if to_status == OrderStatus.PENDING_APPROVAL:
        notify_approvers(order, NotificationKind.APPROVAL_REQUESTED, actor=actor)
    elif to_status == OrderStatus.AWAITING_FULFILMENT:
        notify(
            recipients=order.squad.members.all(),
            kind=NotificationKind.MANUAL_QUEUED,
            title=f"Order #{order.pk} ({product.name}) waits in {order.squad.name}'s queue",
            body=f"Requested by {display_name(order.requester)}. Claim it in the squad queue.",
            order=order,
            exclude=actor,
        )


def notify_approvers(order: Order, kind: NotificationKind, *, actor: User | None = None) -> None:
    step = approval_steps.current_step(order)
    if step is None:
        return
    what = {
        NotificationKind.APPROVAL_REQUESTED: "waits for your approval",
        NotificationKind.APPROVAL_REMINDER: "still waits for your approval",
    }[kind]
    notify(
        recipients=approval_steps.approvers_of_step(order),
        kind=kind,
        title=f"Order #{order.pk} ({order.product.name}) {what}",
        body=f"Step {order.approval_step + 1} of {len(order.approval_steps)}: {step['name']}. "
        f"Requested by {order.requester}.",
        order=order,
        exclude=actor,
    )


def refreshed(order: Order) -> Order:
    order.refresh_from_db()
    return order


def order_note(order: Order, *, actor: User | None, note: str) -> None:
    """Record something that happened to the order without a status change."""
    OrderEvent.objects.create(
        order_id=order.pk, actor=actor, from_status=order.status, to_status=order.status, note=note
    )


def status_label(status: str | None) -> str:
    return OrderStatus(status).label.lower() if status in OrderStatus.values else "gone"


def order_locked(order: Order) -> Order:
    """The order's row, locked until the transaction ends, so that deciding
    callers queue behind each other (SQLite's IMMEDIATE transactions do the
    same for the whole database)."""
    return Order.objects.select_for_update().select_related("product", "squad", "requester").get(pk=order.pk)
