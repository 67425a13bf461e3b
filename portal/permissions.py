"""Who may act on an order. Services enforce these; views only use them to
decide which buttons to show."""

from __future__ import annotations

from portal.models import Order
from squads.choices import Role
from squads.models import Membership
from squads.selectors import AnyUser, is_squad_member

APPROVER_ROLES = (Role.PRODUCT_OWNER, Role.SME)


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
    """Product owners and SMEs of the owning squad approve; nobody approves
    their own order (separation of duties), not even a superuser."""
    if not user.is_authenticated or order.requester_id == user.pk:
        return False
    if user.is_superuser:
        return True
    return Membership.objects.filter(user=user, squad_id=order.squad_id, role__in=APPROVER_ROLES).exists()


def can_fulfil(user: AnyUser, order: Order) -> bool:
    return is_owner_side(user, order)
