"""Who may curate group mappings: platform leads and superusers, as for
business units (a mapping grants seats in any squad, unit or chapter)."""

from __future__ import annotations

from portal.instances.permissions import is_platform_lead
from squads.selectors import AnyUser


def can_curate_group_mappings(user: AnyUser) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    return bool(user.is_superuser or is_platform_lead(user))
