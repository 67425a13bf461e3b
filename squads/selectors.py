"""Reads about squad membership that every permission check relies on."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from squads.models import Membership, Squad

AnyUser = AbstractBaseUser | AnonymousUser


def squad_ids_of(user: AnyUser) -> set[int]:
    """Ids of the squads the user belongs to, cached on the user object for
    the request so that a page's many permission checks cost one query."""
    if not user.is_authenticated:
        return set()
    cached = getattr(user, "_squadron_squad_ids", None)
    if cached is None:
        cached = set(Membership.objects.filter(user=user).values_list("squad_id", flat=True))
        user._squadron_squad_ids = cached  # type: ignore[union-attr]
    return cached


def squads_of(user: AnyUser) -> QuerySet[Squad]:
    return Squad.objects.filter(id__in=squad_ids_of(user))


def is_squad_member(user: AnyUser, squad_id: int | None) -> bool:
    return squad_id is not None and squad_id in squad_ids_of(user)


def can_curate(user: AnyUser, squad_id: int | None) -> bool:
    """Whether the user may change what the squad owns: its members and
    superusers; nobody else, whatever Django model permissions say."""
    if not user.is_authenticated or not user.is_active:
        return False
    return bool(user.is_superuser) or is_squad_member(user, squad_id)


def is_any_squad_member(user: AnyUser) -> bool:
    return bool(squad_ids_of(user))


def squads_with_members() -> QuerySet[Squad]:
    """Every squad with its members and their roles, in two queries."""
    from django.db.models import Prefetch

    return Squad.objects.prefetch_related(
        Prefetch(
            "memberships",
            queryset=Membership.objects.select_related("user").order_by("role", "user__username"),
        )
    ).order_by("name", "id")
