"""Reads of orders that need care: who may see what, with what prefetched.

The browser and the API both go through these so they always show the same
rows to the same person.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from portal.models import Order
from squads.selectors import AnyUser, squad_ids_of


def orders_visible_to(user: AnyUser) -> QuerySet[Order]:
    """A requester sees their own orders; a squad member also sees every order
    for their squads' products; a superuser sees all."""
    if not user.is_authenticated or not user.is_active:
        return Order.objects.none()
    queryset = Order.objects.select_related("product", "squad", "requester")
    if user.is_superuser:
        return queryset
    return queryset.filter(Q(requester=user) | Q(squad_id__in=squad_ids_of(user)))
