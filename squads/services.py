"""State changes of squads, their memberships and chapters: the one path that
the admin and the catalogue import (``catalogue.importing.write``) both take.

Every service validates the row with the model's ``full_clean`` before it is
saved and lets its ``ValidationError`` through, so each caller reports it in
its own words (a form error, a file location). An update sets only the fields
it is given (``KEEP`` leaves one as it is) and saves only those.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from django.contrib.auth.models import User

from squads.models import Chapter, Membership, Squad


class Keep(Enum):
    """The value of an update's argument that leaves its field unchanged."""

    KEEP = "keep"


KEEP = Keep.KEEP


def _save(row: Squad | Membership | Chapter, fields: dict[str, object], extra: tuple[str, ...] = ()) -> None:
    """Set ``fields`` (those not ``KEEP``) on ``row``, check it, save them."""
    changed = {name: value for name, value in fields.items() if value is not KEEP}
    for name, value in changed.items():
        setattr(row, name, value)
    row.full_clean()
    # An empty update_fields saves nothing, as Django documents: nothing changed.
    row.save(update_fields=[*changed, *extra])


def squad_create(*, slug: str, name: str, mission: str = "") -> Squad:
    squad = Squad(slug=slug, name=name, mission=mission)
    squad.full_clean()
    squad.save()
    return squad


def squad_update(
    *, squad: Squad, slug: str | Keep = KEEP, name: str | Keep = KEEP, mission: str | Keep = KEEP
) -> Squad:
    """Change the squad's fields; ``updated_at`` says when, even when none changed."""
    _save(squad, {"slug": slug, "name": name, "mission": mission}, extra=("updated_at",))
    return squad


def membership_create(*, squad: Squad, user: User, role: str) -> Membership:
    """Seat ``user`` in ``squad`` with ``role`` (a person sits once in a squad)."""
    membership = Membership(squad=squad, user=user, role=role)
    membership.full_clean()
    membership.save()
    return membership


def membership_update(
    *,
    membership: Membership,
    squad: Squad | Keep = KEEP,
    user: User | Keep = KEEP,
    role: str | Keep = KEEP,
) -> Membership:
    _save(membership, {"squad": squad, "user": user, "role": role})
    return membership


def chapter_create(
    *,
    slug: str,
    name: str,
    description: str = "",
    lead: User | None = None,
    members: Iterable[User] = (),
) -> Chapter:
    chapter = Chapter(slug=slug, name=name, description=description, lead=lead)
    chapter.full_clean()
    chapter.save()
    chapter.members.add(*members)
    return chapter


def chapter_update(
    *,
    chapter: Chapter,
    slug: str | Keep = KEEP,
    name: str | Keep = KEEP,
    description: str | Keep = KEEP,
    lead: User | Keep | None = KEEP,
) -> Chapter:
    _save(chapter, {"slug": slug, "name": name, "description": description, "lead": lead})
    return chapter


def chapter_add_members(*, chapter: Chapter, users: Iterable[User]) -> None:
    """Add people to the chapter; those already in it stay, nobody is removed."""
    chapter.members.add(*users)


def chapter_set_members(*, chapter: Chapter, users: Iterable[User]) -> None:
    """Make ``users`` exactly the chapter's members."""
    chapter.members.set(list(users))
