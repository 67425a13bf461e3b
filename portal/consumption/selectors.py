"""Reads of business units and quotas that need care: whose units, whose
usage. The pages and the API both go through these."""

from __future__ import annotations

from django.db.models import QuerySet

from catalogue.models import Product
from portal.consumption.membership import UnitRef, choose_unit, unit_refs_of
from portal.consumption.models import Quota
from portal.consumption.permissions import sees_all_usage
from portal.consumption.quotas import QuotaUse, quota_usage
from squads.selectors import AnyUser, squad_ids_of


def unit_for_order(user: AnyUser, chosen: str | None) -> UnitRef | None:
    """The unit an order by ``user`` would be for (``choose_unit``'s rules,
    which the placement applies again): for the review step, before placing."""
    return choose_unit(unit_refs_of(user), chosen or None)


def _quotas() -> QuerySet[Quota]:
    return Quota.objects.select_related("business_unit", "product").order_by(
        "business_unit__name", "product__name", "attribute"
    )


def unit_usage(user: AnyUser) -> list[QuotaUse]:
    """The quotas of the person's units, with their use now."""
    if not user.is_authenticated or not user.is_active:
        return []
    return quota_usage(_quotas().filter(business_unit__memberships__user_id=user.pk))


def product_usage_for_member(user: AnyUser, product: Product) -> list[QuotaUse]:
    """The quotas of the person's units on ``product`` (the order form's box)."""
    if not user.is_authenticated or not product.instance:
        return []
    return quota_usage(_quotas().filter(product=product, business_unit__memberships__user_id=user.pk))


def squad_product_usage(user: AnyUser) -> list[QuotaUse]:
    """Every unit's quotas on the products of the person's squads (what the
    owning squad sees); everyone's for those who curate units."""
    if not user.is_authenticated or not user.is_active:
        return []
    quotas = _quotas()
    if not sees_all_usage(user):
        squads = squad_ids_of(user)
        if not squads:
            return []
        quotas = quotas.filter(product__squad_id__in=squads)
    return quota_usage(quotas)


def product_usage_for_squad(user: AnyUser, product: Product) -> list[QuotaUse]:
    """Every unit's quotas on ``product``, for its owning squad's members
    (and those who curate units); nothing for anyone else."""
    if not user.is_authenticated or not user.is_active or not product.instance:
        return []
    if not (sees_all_usage(user) or product.squad_id in squad_ids_of(user)):
        return []
    return quota_usage(_quotas().filter(product=product))
