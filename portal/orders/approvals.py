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
from portal.orders.errors import IllegalTransition, OrderError, OrderNotAllowed, StaleDecision
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
from squads.selectors import display_name


def _stale(order: Order, actor: User, seen: int) -> StaleDecision:
    """The refusal of a decision made on step ``seen`` while ``order`` (locked,
    waiting) has moved on: what happened meanwhile and what waits now."""
    steps = order.approval_steps or []
    now = order.approval_step
    if not 0 <= seen < len(steps):
        return StaleDecision(f"Order #{order.pk} has no approval step {seen + 1}.", current_step=now)
    deciders = OrderApproval.objects.filter(
        order=order, step=seen, decision=OrderApproval.Decision.APPROVED
    ).select_related("approver")
    names = ", ".join(display_name(approval.approver) for approval in deciders) or "someone else"
    happened = f"Step {seen + 1} ({steps[seen]['name']}) was approved by {names} meanwhile"
    step = approval_steps.current_step(order)
    if step is None:
        return StaleDecision(f"{happened}.", current_step=None)
    if approval_steps.refusal(actor, order) is None:
        who = "you — review it before you decide"
    else:
        squad_names, chapter_names = approval_steps.names_of(steps)
        who = approval_steps.describe_approvers(step, squad_names, chapter_names)
    return StaleDecision(
        f"{happened}; step {now + 1} ({step['name']}) now waits for {who}. Nothing was recorded.",
        current_step=now,
    )


def _decide(order: Order, actor: User, decision: str, comment: str, seen: int | None) -> Order:
    """Lock a waiting order and record ``actor``'s decision on its open step,
    or refuse (nothing written) if they may not decide it, or if ``seen``,
    the step they decided on, is no longer the open one."""
    locked = order_locked(order)
    if locked.status != OrderStatus.PENDING_APPROVAL:
        raise IllegalTransition(
            f"Order #{order.pk} is {status_label(locked.status)}; it is not waiting for approval."
        )
    if seen is not None and seen != locked.approval_step:
        raise _stale(locked, actor, seen)
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


def order_approve(*, order: Order, actor: User, note: str = "", step: int | None = None) -> Order:
    """Approve the open step of a waiting order. When the step has all the
    approvals it needs the next step opens; after the last step the order is
    queued (automated) or lands in the squad's manual queue.

    ``step`` is the index of the step the approver saw: a decision made on a
    page that showed an earlier step must not count for a later one, a
    question its approver never saw (``StaleDecision``). None: the open one.

    Separation of duties: nobody approves their own order, and a person
    counts once across all the steps of an order.
    """
    note = note.strip()
    now = timezone.now()
    with transaction.atomic():
        locked = _decide(order, actor, OrderApproval.Decision.APPROVED, note, step)
        steps = locked.approval_steps
        index = locked.approval_step
        open_step = steps[index]
        approved = OrderApproval.objects.filter(
            order=locked, step=index, decision=OrderApproval.Decision.APPROVED
        ).count()
        where = f"step {index + 1}/{len(steps)} ({open_step['name']})"
        said = f": {note.strip()}" if note.strip() else ""
        if approved < open_step["required"]:
            required = open_step["required"]
            order_note(locked, actor=actor, note=f"Approved {where}, {approved} of {required}{said}")
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
            # The requester hears of every step, not only of the last one.
            step_name = open_step["name"]
            notify(
                recipients=[locked.requester],
                kind=NotificationKind.ORDER_PROGRESS,
                title=f"Order #{locked.pk} ({locked.product.name}): "
                f"step {index + 1} of {len(steps)} approved",
                body=f"{sentence(f'{display_name(actor)} approved {step_name}{said}')} {opens}",
                order=locked,
                exclude=actor,
            )
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


def order_reject(*, order: Order, actor: User, reason: str, step: int | None = None) -> Order:
    """Reject a waiting order: one rejection, at any step, ends it. ``step``
    as for ``order_approve``: a rejection is bound to the step it was made on."""
    reason = (reason or "").strip()
    if not reason:
        raise OrderError("Give the requester a reason for the rejection.")
    with transaction.atomic():
        locked = _decide(order, actor, OrderApproval.Decision.REJECTED, reason, step)
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
