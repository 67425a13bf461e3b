"""Who may see an instance and who may order its operations. Services
enforce these; views only use them to decide what to show."""

from __future__ import annotations

from portal.instances.models import ServiceInstance
from squads.choices import Role
from squads.models import Membership
from squads.selectors import AnyUser, is_squad_member


def is_platform_lead(user: AnyUser) -> bool:
    """A platform lead in any squad (one query, cached on the user)."""
    if not user.is_authenticated:
        return False
    cached = getattr(user, "_squadron_is_platform_lead", None)
    if cached is None:
        cached = Membership.objects.filter(user_id=user.pk, role=Role.PLATFORM_LEAD).exists()
        # A cache for the request that the User model does not declare.
        user._squadron_is_platform_lead = cached  # type: ignore[attr-defined]
    return cached


def can_view(user: AnyUser, instance: ServiceInstance) -> bool:
    """Its owner, the members of its product's squad, platform leads and
    superusers; for anyone else it does not exist."""
    if not user.is_authenticated or not user.is_active:
        return False
    return bool(
        instance.owner_id == user.pk
        or user.is_superuser
        or is_squad_member(user, instance.product.squad_id)
        or is_platform_lead(user)
    )


def can_operate(user: AnyUser, instance: ServiceInstance) -> bool:
    """Its owner and the members of its product's squad (who run the
    service) may order its operations; a platform lead only looks."""
    if not user.is_authenticated or not user.is_active:
        return False
    return bool(
        instance.owner_id == user.pk or user.is_superuser or is_squad_member(user, instance.product.squad_id)
    )
