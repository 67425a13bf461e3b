"""Deciding on an order waiting for approval: approve, reject, and the
reminders and escalations of steps that wait too long. Who may decide a step
is ``portal.orders.approval_steps``'s one rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from catalogue.choices import Fulfilment
from portal.notifications.choices import NotificationKind
from portal.notifications.services import APPROVAL_KINDS, notifications_settle, notify
from portal.orders import approval_steps
from portal.orders.choices import OrderStatus
from portal.orders.errors import IllegalTransition, OrderError, OrderNotAllowed
from portal.orders.execution import dispatch_on_commit
from portal.orders.models import Order, OrderApproval
from portal.orders.transitions import (
    notify_approvers,
    order_locked,
    order_move,
    order_note,
    refreshed,
    sentence,
    status_label,
)
from squads.choices import Role
from squads.models import Membership


def _decide(order: Order, actor: User, decision: str, comment: str) -> Order:
    """Lock a waiting order and record ``actor``'s decision on its open step,
    or refuse (nothing written) if they may not decide it."""
    locked = order_locked(order)
    if locked.status != OrderStatus.PENDING_APPROVAL:
        raise IllegalTransition(
            f"Order #{order.pk} is {status_label(locked.status)}; it is not waiting for approval."
        )
    reason = approval_steps.refusal(actor, locked)
    if reason:
        raise OrderNotAllowed(reason)
    try:
        with transaction.atomic():
            OrderApproval.objects.create(
                order=locked, step=locked.approval_step, approver=actor, decision=decision, comment=comment
            )
    except IntegrityError:
        # The same person deciding twice at once: the constraint lets one in.
        raise OrderNotAllowed("You already decided on this order.") from None
    return locked


def order_approve(*, order: Order, actor: User, note: str = "") -> Order:
    """Approve the open step of a waiting order. When the step has all the
    approvals it needs the next step opens; after the last step the order is
    queued (automated) or lands in the squad's manual queue.

    Separation of duties: nobody approves their own order, and a person
    counts once across all the steps of an order.
    """
    note = note.strip()
    now = timezone.now()
    with transaction.atomic():
        locked = _decide(order, actor, OrderApproval.Decision.APPROVED, note)
        steps = locked.approval_steps
        index = locked.approval_step
        step = steps[index]
        approved = OrderApproval.objects.filter(
            order=locked, step=index, decision=OrderApproval.Decision.APPROVED
        ).count()
        where = f"step {index + 1}/{len(steps)} ({step['name']})"
        said = f": {note.strip()}" if note.strip() else ""
        if approved < step["required"]:
            order_note(locked, actor=actor, note=f"Approved {where}, {approved} of {step['required']}{said}")
            return refreshed(locked)
        if index + 1 < len(steps):
            Order.objects.filter(pk=locked.pk).update(
                approval_step=index + 1,
                approval_step_opened_at=now,
                approval_reminded_at=None,
                approval_escalated_at=None,
                updated_at=now,
                **approval_steps.open_step_fields(steps, index + 1),
            )
            locked = refreshed(locked)
            opens = f"Step {index + 2} ({steps[index + 1]['name']}) opens."
            order_note(locked, actor=actor, note=f"{sentence(f'Approved {where}{said}')} {opens}")
            notifications_settle(order=locked, kinds=APPROVAL_KINDS)  # this step is decided
            notify_approvers(locked, NotificationKind.APPROVAL_REQUESTED, actor=actor)
            return locked
        automated = locked.fulfilment == Fulfilment.AUTOMATED
        locked = order_move(
            locked,
            to=OrderStatus.QUEUED if automated else OrderStatus.AWAITING_FULFILMENT,
            allowed_from={OrderStatus.PENDING_APPROVAL},
            actor=actor,
            note=f"Approved {where}{said}",
            approved_at=now,
            queued_at=now if automated else None,
            **approval_steps.open_step_fields(steps, len(steps)),
        )
        if automated:
            dispatch_on_commit(locked.pk)
    return locked


def order_reject(*, order: Order, actor: User, reason: str) -> Order:
    """Reject a waiting order: one rejection, at any step, ends it."""
    reason = (reason or "").strip()
    if not reason:
        raise OrderError("Give the requester a reason for the rejection.")
    with transaction.atomic():
        locked = _decide(order, actor, OrderApproval.Decision.REJECTED, reason)
        return order_move(
            locked,
            to=OrderStatus.REJECTED,
            allowed_from={OrderStatus.PENDING_APPROVAL},
            actor=actor,
            note=reason,
            finished_at=timezone.now(),
            failure_reason=reason,
            secret_inputs_ciphertext="",
            **approval_steps.open_step_fields(locked.approval_steps, len(locked.approval_steps)),
        )


@dataclass
class ReminderReport:
    reminded: list[int] = field(default_factory=list)
    escalated: list[int] = field(default_factory=list)


def approvals_remind(*, now: datetime | None = None) -> ReminderReport:
    """Remind the approvers of steps that wait too long, then escalate to the
    owning squad's product owners (beat runs this every few minutes; ``now``
    lets tests move the clock). Each happens once per step, whoever runs it."""
    now = now or timezone.now()
    report = ReminderReport()
    waiting = Order.objects.select_related("product", "squad", "requester").filter(
        status=OrderStatus.PENDING_APPROVAL, approval_step_opened_at__isnull=False
    )
    for order in waiting.filter(approval_reminded_at__isnull=True, approval_remind_after_hours__gt=0):
        opened = order.approval_step_opened_at
        assert opened is not None  # filtered on approval_step_opened_at__isnull=False
        if now - opened < timedelta(hours=order.approval_remind_after_hours):
            continue
        with transaction.atomic():
            if not Order.objects.filter(
                pk=order.pk,
                status=OrderStatus.PENDING_APPROVAL,
                approval_step=order.approval_step,
                approval_reminded_at__isnull=True,
            ).update(approval_reminded_at=now):
                continue
            notify_approvers(order, NotificationKind.APPROVAL_REMINDER)
            order_note(
                order, actor=None, note=f"Reminder sent to the approvers of step {order.approval_step + 1}"
            )
        report.reminded.append(order.pk)
    for order in waiting.filter(approval_escalated_at__isnull=True, approval_escalate_after_hours__gt=0):
        hours = order.approval_escalate_after_hours
        opened = order.approval_step_opened_at
        assert opened is not None  # filtered on approval_step_opened_at__isnull=False
        if now - opened < timedelta(hours=hours):
            continue
        with transaction.atomic():
            if not Order.objects.filter(
                pk=order.pk,
                status=OrderStatus.PENDING_APPROVAL,
                approval_step=order.approval_step,
                approval_escalated_at__isnull=True,
            ).update(approval_escalated_at=now):
                continue
            _escalate(order, hours)
        report.escalated.append(order.pk)
    return report


def _escalate(order: Order, hours: int) -> None:
    """Tell the owning squad's product owners that the open step of ``order``
    has waited ``hours`` without a decision."""
    owners = [
        membership.user
        for membership in Membership.objects.select_related("user").filter(
            squad_id=order.squad_id, role=Role.PRODUCT_OWNER
        )
    ]
    step = approval_steps.current_step(order)
    notify(
        recipients=owners,
        kind=NotificationKind.APPROVAL_ESCALATED,
        title=f"Order #{order.pk} ({order.product.name}) waits for approval for over {hours} h",
        body=f"Step {order.approval_step + 1} ({step['name'] if step else '?'}) has had no "
        f"decision since {order.approval_step_opened_at:%Y-%m-%d %H:%M} UTC. "
        f"Requested by {order.requester}.",
        order=order,
    )
    order_note(order, actor=None, note=f"Escalated to {order.squad.name}'s product owners after {hours} h")
