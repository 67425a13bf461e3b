"""Helpers of the business unit and quota tests: units with members, and
quotas set through the service the admin and the catalogue file use."""

from __future__ import annotations

from decimal import Decimal

from portal.consumption.models import BusinessUnit, Quota
from portal.consumption.services import (
    QuotaLimit,
    business_unit_add_members,
    business_unit_create,
    quota_set,
)


def unit(slug: str, *members, name: str | None = None, cost_centre: str = "") -> BusinessUnit:
    created = business_unit_create(slug=slug, name=name or slug.title(), cost_centre=cost_centre)
    business_unit_add_members(unit=created, users=members)
    return created


def count_quota(business_unit: BusinessUnit, product, limit: int) -> Quota:
    return quota_set(unit=business_unit, limit=QuotaLimit(product=product, max_instances=limit))


def total_quota(business_unit: BusinessUnit, product, attribute: str, limit: int | str) -> Quota:
    return quota_set(
        unit=business_unit,
        limit=QuotaLimit(product=product, attribute=attribute, max_total=Decimal(str(limit))),
    )
