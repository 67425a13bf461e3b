"""Who may act on an order. Services enforce these; views only use them to
decide which buttons to show."""

from __future__ import annotations

from catalogue.choices import Fulfilment
from catalogue.schema import secret_fields
from portal.orders.approval_steps import can_decide
from portal.orders.choices import CANCELLABLE_STATUSES, RETRYABLE_STATUSES, OrderStatus
from portal.orders.models import Order
from portal.orders.outcome import FINAL_FAILURE_KINDS
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
        and order.current_run is not None
        and order.current_run.cancel_requested_at is not None
    )


def retryable(order: Order) -> bool:
    """Whether the order's status and fulfilment let it run again (whoever asks)."""
    return order.status in RETRYABLE_STATUSES and order.fulfilment == Fulfilment.AUTOMATED


# --- What an order offers now: the rules of the commands' table (``portal.orders.commands``)


def offers_cancel(user: AnyUser, order: Order) -> bool:
    return order.status in CANCELLABLE_STATUSES and not stopping(order) and can_cancel(user, order)


def inputs_at_fault(order: Order) -> bool:
    """Whether the run failed on the inputs themselves (the playbook refused
    them, or Ansible cannot be given them): the same inputs fail again."""
    return order.failure_kind in FINAL_FAILURE_KINDS


def offers_retry(user: AnyUser, order: Order) -> bool:
    return (
        retryable(order)
        and not secrets_erased(order)
        and not inputs_at_fault(order)
        and can_retry(user, order)
    )


def offers_decision(user: AnyUser, order: Order) -> bool:
    """Approve and reject, both: whoever may decide the open step."""
    return order.status == OrderStatus.PENDING_APPROVAL and can_approve(user, order)


def offers_dry_run(user: AnyUser, order: Order) -> bool:
    return (
        order.status == OrderStatus.PENDING_APPROVAL
        and order.runbook_version is not None
        and order.runbook_version.runbook.supports_check_mode
        and can_dry_run(user, order)
    )


def offers_claim(user: AnyUser, order: Order) -> bool:
    return (
        order.status == OrderStatus.AWAITING_FULFILMENT
        and order.claimed_by_id is None
        and can_fulfil(user, order)
    )


def offers_closing(user: AnyUser, order: Order) -> bool:
    """Complete and fail, both: the squad member who claimed the order. (On
    an unclaimed one the claim offers "Claim and complete", a choice made
    explicitly; see ``offers_claim``.)"""
    return (
        order.status == OrderStatus.AWAITING_FULFILMENT
        and order.claimed_by_id is not None
        and order.claimed_by_id == user.pk
        and can_fulfil(user, order)
    )


def offers_release(user: AnyUser, order: Order) -> bool:
    return order.status == OrderStatus.AWAITING_FULFILMENT and can_release(user, order)
