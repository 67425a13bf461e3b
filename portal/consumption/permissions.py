"""Who may curate business units and quotas, and who sees a unit's usage.
Services and the admin enforce these; views use them to decide what to show."""

from __future__ import annotations

from portal.instances.permissions import is_platform_lead
from squads.selectors import AnyUser


def can_curate_business_units(user: AnyUser) -> bool:
    """Platform leads and superusers: units, members and quotas span squads."""
    if not user.is_authenticated or not user.is_active:
        return False
    return bool(user.is_superuser or is_platform_lead(user))


def sees_all_usage(user: AnyUser) -> bool:
    """Who sees every unit's usage: those who curate units."""
    return can_curate_business_units(user)
