"""Who sees which insights.

- A squad's dashboard: its members, leads and superusers. Anybody else gets
  a 404, as for any object they may not see.
- The overview across squads: leads, i.e. a platform or chapter lead in any
  squad, the lead of a chapter, or a superuser.
- The dependency graph and impact analysis: leads and squad members (it is
  how squads coordinate); business users order, they do not need it.
- A product's metrics (API): anyone signed in for a published product, as
  its page shows its expected lead time to everyone; failure reasons only
  for its squad and leads. Drafts and retired products: squad and leads.
- Cost and utilization: leads see everything; a business unit's members
  see what is charged to their unit; a squad's members see what its
  products earn (from every unit). Anybody else gets a 404, as for the
  overview. Replicated resources across squads: leads only.
"""

from __future__ import annotations

from typing import TypeGuard

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db.models import Exists, OuterRef

from catalogue.choices import ProductStatus
from catalogue.models import Product
from portal.consumption.cost import CostScope
from portal.consumption.models import BusinessUnitMembership
from squads.choices import Role
from squads.models import Chapter, Membership, Squad
from squads.selectors import AnyUser, is_any_squad_member, is_squad_member, squad_ids_of

LEAD_ROLES = (Role.PLATFORM_LEAD, Role.CHAPTER_LEAD)


def _active(user: AnyUser) -> TypeGuard[User]:
    return bool(user.is_authenticated and user.is_active)


def is_lead(user: AnyUser) -> bool:
    """Platform or chapter lead anywhere, chapter lead, or superuser (one
    query, cached on the user for the request)."""
    if not _active(user):
        return False
    if user.is_superuser:
        return True
    cached = getattr(user, "_squadron_is_lead", None)
    if cached is None:
        cached = bool(
            Membership.objects.filter(user_id=user.pk, role__in=LEAD_ROLES).exists()
            or Chapter.objects.filter(lead_id=user.pk).exists()
        )
        # A cache for the request that the User model does not declare.
        user._squadron_is_lead = cached  # type: ignore[attr-defined]
    return cached


def lead_or_member(user: AnyUser) -> tuple[bool, bool]:
    """(is lead, is member of any squad) in at most one query, for the
    navigation on every page."""
    if not _active(user):
        return False, False
    if user.is_superuser:
        return True, True
    cached = getattr(user, "_squadron_is_lead", None)
    if cached is None:
        row = (
            get_user_model()
            .objects.filter(pk=user.pk)
            .annotate(
                lead_role=Exists(Membership.objects.filter(user_id=OuterRef("pk"), role__in=LEAD_ROLES)),
                chapter_lead=Exists(Chapter.objects.filter(lead_id=OuterRef("pk"))),
                in_unit=Exists(BusinessUnitMembership.objects.filter(user_id=OuterRef("pk"))),
            )
            .values_list("lead_role", "chapter_lead", "in_unit")
            .first()
        )
        cached = bool(row and (row[0] or row[1]))
        # Caches for the request that the User model does not declare.
        user._squadron_is_lead = cached  # type: ignore[attr-defined]
        user._squadron_in_unit = bool(row and row[2])  # type: ignore[attr-defined]
    return cached, is_any_squad_member(user)


def in_a_business_unit(user: AnyUser) -> bool:
    """Whether the user belongs to a business unit (no query after
    ``lead_or_member``)."""
    if not _active(user):
        return False
    cached = getattr(user, "_squadron_in_unit", None)
    if cached is None:
        cached = BusinessUnitMembership.objects.filter(user_id=user.pk).exists()
        user._squadron_in_unit = cached  # type: ignore[attr-defined]
    return bool(cached)


def can_see_squad(user: AnyUser, squad: Squad) -> bool:
    """Its members, and leads (the overview they read links to every squad)."""
    return _active(user) and (bool(user.is_superuser) or is_squad_member(user, squad.pk) or is_lead(user))


def can_see_overview(user: AnyUser) -> bool:
    return is_lead(user)


def can_see_graph(user: AnyUser) -> bool:
    return _active(user) and (is_any_squad_member(user) or is_lead(user))


def can_see_product_metrics(user: AnyUser, product: Product) -> bool:
    if not _active(user):
        return False
    return product.status == ProductStatus.PUBLISHED or sees_product_details(user, product)


def sees_product_details(user: AnyUser, product: Product) -> bool:
    """Failure reasons and the like: the owning squad and leads."""
    return _active(user) and (is_squad_member(user, product.squad_id) or is_lead(user))


def cost_scope(user: AnyUser) -> CostScope:
    """Whose costs the user may see (empty: none, a 404)."""
    if not _active(user):
        return CostScope()
    if is_lead(user):
        return CostScope(everything=True)
    units = frozenset(
        BusinessUnitMembership.objects.filter(user_id=user.pk).values_list("business_unit_id", flat=True)
    )
    return CostScope(business_unit_ids=units, squad_ids=frozenset(squad_ids_of(user)))


def can_see_cost(user: AnyUser) -> bool:
    """Whether the cost page has anything for the user, for the navigation
    (no query after ``lead_or_member``)."""
    lead, member = lead_or_member(user)
    return lead or member or in_a_business_unit(user)
