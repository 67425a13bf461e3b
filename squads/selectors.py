"""Reads about squad membership that every permission check relies on."""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Q, QuerySet

from squads.models import Chapter, Membership, Squad

AnyUser = User | AnonymousUser


def display_name(user: User | None, nobody: str = "nobody") -> str:
    """How a person is named on every page, note and message: their full
    name, else their username (``nobody`` when there is no one)."""
    if user is None:
        return nobody
    full_name = getattr(user, "get_full_name", lambda: "")()
    return full_name or user.get_username()


def roles_of(user: AnyUser) -> list[tuple[int, str]]:
    """``(squad id, role)`` of each of the user's memberships, cached on the
    user object for the request: a page's permission checks, its inbox and
    its visibility rules then cost one query between them."""
    if not user.is_authenticated:
        return []
    cached = getattr(user, "_squadron_roles", None)
    if cached is None:
        cached = list(Membership.objects.filter(user=user).order_by().values_list("squad_id", "role"))
        # A cache for the request that the User model does not declare.
        user._squadron_roles = cached  # type: ignore[attr-defined]
    return cached


def squad_ids_of(user: AnyUser) -> set[int]:
    """Ids of the squads the user belongs to (see ``roles_of``)."""
    return {squad_id for squad_id, _ in roles_of(user)}


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


def chapters_of(user: AnyUser) -> QuerySet[Chapter]:
    """The chapters the user leads or belongs to."""
    return Chapter.objects.filter(Q(lead=user) | Q(members=user))


def step_approvers(
    *, squad_id: int | None, roles: Sequence[str] = (), chapter_id: int | None = None
) -> QuerySet[User]:
    """The active people an approval step names: a chapter's lead and
    members, or the members of a squad (those in ``roles``, or all of them).
    One rule for who may decide, who is told, and whether a step can be met."""
    users = get_user_model().objects.filter(is_active=True)
    if chapter_id:
        return users.filter(Q(led_chapters=chapter_id) | Q(chapters=chapter_id)).distinct()
    if squad_id is None:
        return users.none()
    memberships = Membership.objects.filter(squad_id=squad_id)
    if roles:
        memberships = memberships.filter(role__in=roles)
    return users.filter(pk__in=memberships.values("user_id"))
