"""Who may see an instance and who may order its operations. Services
enforce these; views only use them to decide what to show."""

from __future__ import annotations

from portal.instances.choices import TransferState
from portal.instances.models import InstanceTransfer, ServiceInstance
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


def is_offered_to(user: AnyUser, instance: ServiceInstance) -> bool:
    """Whether its owner offers the instance to ``user`` now (a pending transfer)."""
    return InstanceTransfer.objects.filter(
        instance_id=instance.pk, to_user_id=user.pk, state=TransferState.PENDING
    ).exists()


def can_view(user: AnyUser, instance: ServiceInstance) -> bool:
    """Its owner, the members of its product's squad, platform leads and
    superusers, and the person it is offered to while the offer is pending
    (to judge it); for anyone else it does not exist."""
    if not user.is_authenticated or not user.is_active:
        return False
    return bool(
        instance.owner_id == user.pk
        or user.is_superuser
        or is_squad_member(user, instance.product.squad_id)
        or is_platform_lead(user)
        or is_offered_to(user, instance)
    )


def can_operate(user: AnyUser, instance: ServiceInstance) -> bool:
    """Its owner and the members of its product's squad (who run the
    service) may order its operations; a platform lead, and the person it is
    offered to until they accept, only look."""
    if not user.is_authenticated or not user.is_active:
        return False
    return bool(
        instance.owner_id == user.pk or user.is_superuser or is_squad_member(user, instance.product.squad_id)
    )
