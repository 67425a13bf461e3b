"""Who belongs to which business unit, and which unit their order (or an
instance handed to them) is charged to. Below both the quota checks and the
selectors, which each need it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import QuerySet

from portal.consumption.errors import BusinessUnitChoiceError
from portal.consumption.models import BusinessUnit
from squads.selectors import AnyUser


@dataclass(frozen=True)
class UnitRef:
    """A business unit as a placement finds it."""

    pk: int
    slug: str
    name: str


def business_units_of(user: AnyUser) -> QuerySet[BusinessUnit]:
    """The units the person belongs to, by name."""
    if not user.is_authenticated or not user.is_active:
        return BusinessUnit.objects.none()
    return BusinessUnit.objects.filter(memberships__user_id=user.pk).order_by("name", "pk")


def unit_refs_of(user: AnyUser) -> list[UnitRef]:
    """The person's units, as the order form offers them."""
    return [
        UnitRef(pk, slug, name)
        for pk, slug, name in business_units_of(user).values_list("pk", "slug", "name")
    ]


def choose_unit(
    units: Sequence[UnitRef], chosen: str | None, *, purpose: str = "this order is for"
) -> UnitRef | None:
    """The unit a member's order (or a handed-over instance: ``purpose``) is
    for, out of ``units`` (theirs): the one chosen, their only one, or none
    when they belong to none. Refused when they chose one that is not
    theirs, or belong to several and chose none."""
    if chosen is not None:
        found = next((unit for unit in units if unit.slug == chosen), None)
        if found is None:
            raise BusinessUnitChoiceError(f"You are not a member of a business unit {chosen!r}.")
        return found
    if len(units) > 1:
        names = ", ".join(f"{unit.slug} ({unit.name})" for unit in units)
        raise BusinessUnitChoiceError(
            f"You belong to several business units: choose the one {purpose} ({names})."
        )
    return units[0] if units else None
