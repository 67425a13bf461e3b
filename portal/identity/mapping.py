"""Memberships that follow a person's groups at the identity provider.

At each login through OpenID Connect or LDAP the provider says which groups
the person is in (``portal.identity.signals.groups_seen``); the group
mappings (``GroupMapping``) say what those groups grant. ``sync_memberships``
then makes the memberships that mappings granted (``granted_by_mapping``)
exactly what the groups grant now: new ones are granted, those whose group
the person left are withdrawn, a squad seat whose mapped role changed takes
the new role. A membership curated by hand is never touched, even when a
mapping would grant it too (it stays manual). Each grant, change and
withdrawal is recorded (``MembershipChange``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from portal.consumption.models import BusinessUnit, BusinessUnitMembership
from portal.identity.models import GroupMapping, MembershipChange
from squads.choices import Role
from squads.models import Chapter, ChapterMembership, Membership, Squad

#: When groups map one squad to several roles, the person gets the one that
#: may do the most (first in this list).
ROLE_PRECEDENCE = (Role.PLATFORM_LEAD, Role.PRODUCT_OWNER, Role.CHAPTER_LEAD, Role.SME, Role.ENGINEER)
#: A provider that sends more groups than this is not read past them: the
#: groups come from outside and are matched against the curated mappings only.
MAX_GROUPS = 2000


def group_mapping_save(
    *,
    mapping: GroupMapping | None,
    group: str,
    role: str = "",
    squad: Squad | None = None,
    chapter: Chapter | None = None,
    business_unit: BusinessUnit | None = None,
) -> GroupMapping:
    """Create a group mapping (``mapping`` None) or change ``mapping``: the
    one path of the admin and the catalogue import. Checked by the model
    first (``ValidationError``: exactly one target, a squad's role)."""
    row = mapping if mapping is not None else GroupMapping()
    row.group, row.role = group, role
    row.squad, row.chapter, row.business_unit = squad, chapter, business_unit
    row.full_clean()
    row.save()
    return row


@dataclass
class Granted:
    """What a person's groups grant: squad id → (role, groups), chapter id →
    groups, business unit id → groups."""

    squads: dict[int, tuple[str, list[str]]] = field(default_factory=dict)
    chapters: dict[int, list[str]] = field(default_factory=dict)
    units: dict[int, list[str]] = field(default_factory=dict)


def _rank(role: str) -> int:
    return ROLE_PRECEDENCE.index(Role(role)) if role in Role.values else len(ROLE_PRECEDENCE)


def granted_by_groups(groups: Iterable[object]) -> Granted:
    """What the mappings grant to someone in ``groups`` (compared without
    regard to case, as LDAP and Active Directory compare names)."""
    names = {group.casefold() for group in list(groups)[:MAX_GROUPS] if isinstance(group, str) and group}
    granted = Granted()
    if not names:
        return granted
    for mapping in GroupMapping.objects.order_by("pk"):
        if mapping.group.casefold() not in names:
            continue
        if mapping.squad_id is not None:
            role, because = granted.squads.get(mapping.squad_id, (mapping.role, []))
            if _rank(mapping.role) < _rank(role):
                role = mapping.role
            granted.squads[mapping.squad_id] = (role, [*because, mapping.group])
        elif mapping.chapter_id is not None:
            granted.chapters.setdefault(mapping.chapter_id, []).append(mapping.group)
        elif mapping.business_unit_id is not None:
            granted.units.setdefault(mapping.business_unit_id, []).append(mapping.group)
    return granted


@dataclass
class _Recorder:
    user: User
    source: str
    changes: list[MembershipChange] = field(default_factory=list)

    def __call__(
        self, action: str, kind: str, target: str, role: str = "", groups: Iterable[str] = ()
    ) -> None:
        self.changes.append(
            MembershipChange(
                user=self.user,
                username=self.user.get_username(),
                source=self.source,
                action=action,
                kind=kind,
                target=target,
                role=role,
                groups=", ".join(sorted(set(groups))),
            )
        )


def sync_memberships(*, user: User, groups: Iterable[object], source: str) -> list[MembershipChange]:
    """Grant and withdraw ``user``'s mapped memberships to match ``groups``
    as ``source`` ("oidc", "ldap") sent them; returns what changed, recorded.
    Running it again with the same groups changes nothing."""
    granted = granted_by_groups(groups)
    record = _Recorder(user=user, source=str(source)[:16])
    with transaction.atomic():
        # Two logins of one person at once take turns here, so neither grants
        # what the other withdraws (the unique constraints back it up).
        User.objects.select_for_update().filter(pk=user.pk).first()
        _sync_squads(user, granted.squads, record)
        _sync_chapters(user, granted.chapters, record)
        _sync_units(user, granted.units, record)
        MembershipChange.objects.bulk_create(record.changes)
    # What the request cached on the person about their squads, leads and
    # units (squads.selectors.roles_of and the like: ``_squadron_*``) is stale now.
    for cached in [name for name in user.__dict__ if name.startswith("_squadron_")]:
        del user.__dict__[cached]
    return record.changes


def _sync_squads(user: User, wanted: dict[int, tuple[str, list[str]]], record: _Recorder) -> None:
    seats = {seat.squad_id: seat for seat in Membership.objects.filter(user=user).select_related("squad")}
    for seat in seats.values():
        if seat.granted_by_mapping and seat.squad_id not in wanted:
            seat.delete()
            record(MembershipChange.Action.WITHDRAWN, MembershipChange.Kind.SQUAD, seat.squad.slug, seat.role)
    for squad_id, (role, because) in wanted.items():
        seat_or_none = seats.get(squad_id)
        if seat_or_none is None:
            seat = Membership(user=user, squad_id=squad_id, role=role, granted_by_mapping=True)
            seat.full_clean(exclude=["user", "squad"])
            seat.save()
            slug = seat.squad.slug
            record(MembershipChange.Action.GRANTED, MembershipChange.Kind.SQUAD, slug, role, because)
        elif seat_or_none.granted_by_mapping and seat_or_none.role != role:
            seat_or_none.role = role
            seat_or_none.save(update_fields=["role"])
            slug = seat_or_none.squad.slug
            record(MembershipChange.Action.CHANGED, MembershipChange.Kind.SQUAD, slug, role, because)


def _sync_chapters(user: User, wanted: dict[int, list[str]], record: _Recorder) -> None:
    seats = {
        seat.chapter_id: seat
        for seat in ChapterMembership.objects.filter(user=user).select_related("chapter")
    }
    for seat in seats.values():
        if seat.granted_by_mapping and seat.chapter_id not in wanted:
            seat.delete()
            record(MembershipChange.Action.WITHDRAWN, MembershipChange.Kind.CHAPTER, seat.chapter.slug)
    for chapter_id, because in wanted.items():
        if chapter_id not in seats:
            seat = ChapterMembership.objects.create(user=user, chapter_id=chapter_id, granted_by_mapping=True)
            record(
                MembershipChange.Action.GRANTED, MembershipChange.Kind.CHAPTER, seat.chapter.slug, "", because
            )


def _sync_units(user: User, wanted: dict[int, list[str]], record: _Recorder) -> None:
    seats = {
        seat.business_unit_id: seat
        for seat in BusinessUnitMembership.objects.filter(user=user).select_related("business_unit")
    }
    unit = MembershipChange.Kind.BUSINESS_UNIT
    for seat in seats.values():
        if seat.granted_by_mapping and seat.business_unit_id not in wanted:
            seat.delete()
            record(MembershipChange.Action.WITHDRAWN, unit, seat.business_unit.slug)
    for unit_id, because in wanted.items():
        if unit_id not in seats:
            seat = BusinessUnitMembership.objects.create(
                user=user, business_unit_id=unit_id, granted_by_mapping=True
            )
            record(MembershipChange.Action.GRANTED, unit, seat.business_unit.slug, "", because)


def on_groups_seen(sender: object, *, user: User, groups: Iterable[object], **kwargs: Any) -> None:
    """The receiver of ``groups_seen``: the login's provider is the sender."""
    sync_memberships(user=user, groups=groups, source=str(sender))
