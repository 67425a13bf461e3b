"""Which commands a user may give an order now: the ``actions`` of an order's
detail, so a client shows only the buttons that will work."""

from __future__ import annotations

from catalogue.choices import Fulfilment
from portal import permissions
from portal.choices import CANCELLABLE_STATUSES, RETRYABLE_STATUSES, OrderStatus
from portal.models import Order
from squads.selectors import AnyUser

#: Every command an order may offer, in the order they are listed.
ACTIONS = ["cancel", "retry", "approve", "reject", "dry-run", "claim", "complete", "fail", "release"]


def allowed_actions(user: AnyUser, order: Order) -> list[str]:
    actions = []
    if order.status in CANCELLABLE_STATUSES and permissions.can_cancel(user, order):
        actions.append("cancel")
    if (
        order.status in RETRYABLE_STATUSES
        and order.fulfilment == Fulfilment.AUTOMATED
        and permissions.can_retry(user, order)
    ):
        actions.append("retry")
    if order.status == OrderStatus.PENDING_APPROVAL and permissions.can_approve(user, order):
        actions += ["approve", "reject"]
    if (
        order.status == OrderStatus.PENDING_APPROVAL
        and order.runbook_version is not None
        and order.runbook_version.runbook.supports_check_mode
        and permissions.can_dry_run(user, order)
    ):
        actions.append("dry-run")
    if order.status == OrderStatus.AWAITING_FULFILMENT and permissions.can_fulfil(user, order):
        if order.claimed_by_id is None:
            actions.append("claim")
        if order.claimed_by_id in (None, user.pk):
            actions += ["complete", "fail"]
        if permissions.can_release(user, order):
            actions.append("release")
    return actions
