"""State changes of business units, their members and quotas: the one path
that the admin and the catalogue import both take.

Every service validates the row with the model's ``full_clean`` before it
is saved and lets its ``ValidationError`` through, so each caller reports it
in its own words (a form error, a file location). Members are added, never
removed, by the catalogue file (as squads' are); the admin sets them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.models import User

from catalogue.models import Product
from portal.consumption.models import BusinessUnit, BusinessUnitMembership, Quota


def business_unit_create(*, slug: str, name: str, cost_centre: str = "") -> BusinessUnit:
    unit = BusinessUnit(slug=slug, name=name, cost_centre=cost_centre)
    unit.full_clean()
    unit.save()
    return unit


def business_unit_update(*, unit: BusinessUnit, slug: str, name: str, cost_centre: str) -> BusinessUnit:
    unit.slug, unit.name, unit.cost_centre = slug, name, cost_centre
    unit.full_clean()
    unit.save(update_fields=["slug", "name", "cost_centre", "updated_at"])
    return unit


def business_unit_add_members(*, unit: BusinessUnit, users: Iterable[User]) -> list[BusinessUnitMembership]:
    """Add people to the unit; those already in it stay, nobody is removed."""
    present = set(unit.memberships.values_list("user_id", flat=True))
    added = []
    for user in users:
        if user.pk in present:
            continue
        membership = BusinessUnitMembership(business_unit=unit, user=user)
        membership.full_clean(exclude=["business_unit", "user"])
        membership.save()
        present.add(user.pk)
        added.append(membership)
    return added


@dataclass(frozen=True)
class QuotaLimit:
    """One quota as the catalogue file or a caller gives it: a count of
    instances (no attribute) or an attribute's total."""

    product: Product
    max_instances: int | None = None
    attribute: str = ""
    max_total: Decimal | None = None

    def key(self) -> tuple[int, str]:
        return (self.product.pk, self.attribute)


def quota_set(*, unit: BusinessUnit, limit: QuotaLimit) -> Quota:
    """Create or change the unit's quota of that product and attribute."""
    quota = Quota.objects.filter(
        business_unit=unit, product=limit.product, attribute=limit.attribute
    ).first() or Quota(business_unit=unit, product=limit.product, attribute=limit.attribute)
    quota.max_instances = limit.max_instances
    quota.max_total = limit.max_total
    quota.full_clean()
    quota.save()
    return quota


def quotas_replace(*, unit: BusinessUnit, limits: Iterable[QuotaLimit]) -> list[Quota]:
    """Make ``limits`` exactly the unit's quotas: those not listed go (a
    quota holds nothing back but future orders)."""
    limits = list(limits)
    kept = [quota_set(unit=unit, limit=limit) for limit in limits]
    unit.quotas.exclude(pk__in=[quota.pk for quota in kept]).delete()
    return kept
