"""Who may act on an order. Services enforce these; views only use them to
decide which buttons to show."""

from __future__ import annotations

from catalogue.choices import Fulfilment
from catalogue.schema import secret_fields
from portal.orders.approval_steps import can_decide
from portal.orders.choices import CANCELLABLE_STATUSES, RETRYABLE_STATUSES, OrderStatus
from portal.orders.models import Order
from squads.choices import Role
from squads.selectors import AnyUser, is_squad_member, roles_of


def is_owner_side(user: AnyUser, order: Order) -> bool:
    """A member of the squad that owns the ordered product, or a superuser."""
    return bool(user.is_authenticated and (user.is_superuser or is_squad_member(user, order.squad_id)))


def can_view(user: AnyUser, order: Order) -> bool:
    return bool(user.is_authenticated and (order.requester_id == user.pk or is_owner_side(user, order)))


def can_cancel(user: AnyUser, order: Order) -> bool:
    return can_view(user, order)


def can_retry(user: AnyUser, order: Order) -> bool:
    return can_view(user, order)


def can_approve(user: AnyUser, order: Order) -> bool:
    """Whether the user may approve or reject the order's open approval step
    (``portal.orders.approval_steps``: the step's approvers, never the
    requester, a person once per order — superusers included)."""
    return can_decide(user, order)


def can_dry_run(user: AnyUser, order: Order) -> bool:
    """Whether the user may preview the order in check mode before deciding."""
    return can_approve(user, order) or is_owner_side(user, order)


def can_fulfil(user: AnyUser, order: Order) -> bool:
    return is_owner_side(user, order)


def can_release(user: AnyUser, order: Order) -> bool:
    """Whether the user may give a claimed manual order back to the queue: its
    claimer, and the squad's product owners (the claimer fell ill)."""
    if order.claimed_by_id is None or not can_fulfil(user, order):
        return False
    return bool(
        order.claimed_by_id == user.pk
        or user.is_superuser
        or (order.squad_id, Role.PRODUCT_OWNER) in roles_of(user)
    )


def secrets_erased(order: Order) -> bool:
    """Whether the order had secret inputs that are gone: it cannot run again."""
    return bool(secret_fields(order.form_schema) & set(order.inputs)) and not order.secret_inputs_ciphertext


def stopping(order: Order) -> bool:
    """Whether the order's running playbook is already being stopped."""
    return (
        order.status == OrderStatus.RUNNING
        and order.current_run_id is not None
        and order.current_run.cancel_requested_at is not None
    )


def retryable(order: Order) -> bool:
    """Whether the order's status and fulfilment let it run again (whoever asks)."""
    return order.status in RETRYABLE_STATUSES and order.fulfilment == Fulfilment.AUTOMATED


#: Every command an order may offer, in the order they are listed.
ACTIONS = ["cancel", "retry", "approve", "reject", "dry-run", "claim", "complete", "fail", "release"]


def order_actions(user: AnyUser, order: Order) -> list[str]:
    """The commands ``user`` may give ``order`` now: the buttons of its page
    and the ``actions`` of its API detail, so both offer only what will work."""
    actions = []
    if order.status in CANCELLABLE_STATUSES and not stopping(order) and can_cancel(user, order):
        actions.append("cancel")
    if retryable(order) and not secrets_erased(order) and can_retry(user, order):
        actions.append("retry")
    if order.status == OrderStatus.PENDING_APPROVAL and can_approve(user, order):
        actions += ["approve", "reject"]
    if (
        order.status == OrderStatus.PENDING_APPROVAL
        and order.runbook_version is not None
        and order.runbook_version.runbook.supports_check_mode
        and can_dry_run(user, order)
    ):
        actions.append("dry-run")
    if order.status == OrderStatus.AWAITING_FULFILMENT and can_fulfil(user, order):
        if order.claimed_by_id is None:
            actions.append("claim")
        if order.claimed_by_id in (None, user.pk):
            actions += ["complete", "fail"]
        if can_release(user, order):
            actions.append("release")
    return actions
