"""The squad, membership and chapter services the admin and the catalogue
import share: each checks the row before saving, and an update writes only
the fields it is given."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from squads.choices import Role
from squads.models import Chapter, Membership, Squad
from squads.services import (
    chapter_add_members,
    chapter_create,
    chapter_set_members,
    chapter_update,
    membership_create,
    membership_update,
    squad_create,
    squad_update,
)
from tests.factories import ChapterFactory, MembershipFactory, SquadFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_squad_create_saves_a_valid_squad() -> None:
    squad = squad_create(slug="network", name="Network Squad", mission="Connectivity")

    stored = Squad.objects.get(pk=squad.pk)
    assert (stored.slug, stored.name, stored.mission) == ("network", "Network Squad", "Connectivity")


def test_squad_create_refuses_a_bad_slug_and_writes_nothing() -> None:
    with pytest.raises(ValidationError) as refused:
        squad_create(slug="not a slug", name="Network Squad")

    assert "slug" in refused.value.message_dict
    assert not Squad.objects.exists()


def test_squad_create_refuses_a_slug_already_taken() -> None:
    SquadFactory(slug="network")

    with pytest.raises(ValidationError):
        squad_create(slug="network", name="Another")

    assert Squad.objects.count() == 1


def test_squad_update_writes_only_the_fields_given() -> None:
    squad = SquadFactory(slug="network", name="Old", mission="Old mission")
    Squad.objects.filter(pk=squad.pk).update(mission="Changed behind our back")

    squad_update(squad=squad, name="New")

    stored = Squad.objects.get(pk=squad.pk)
    assert stored.name == "New"
    # The mission was not given, so the stale value in memory was not written.
    assert stored.mission == "Changed behind our back"
    assert stored.updated_at > squad.created_at


def test_squad_update_refuses_an_empty_name_and_keeps_the_row() -> None:
    squad = SquadFactory(slug="network", name="Network Squad")

    with pytest.raises(ValidationError):
        squad_update(squad=squad, name="")

    assert Squad.objects.get(pk=squad.pk).name == "Network Squad"


def test_membership_create_seats_a_person_once() -> None:
    squad, user = SquadFactory(), UserFactory()

    membership_create(squad=squad, user=user, role=Role.SME)
    with pytest.raises(ValidationError):
        membership_create(squad=squad, user=user, role=Role.ENGINEER)

    assert list(Membership.objects.values_list("role", flat=True)) == [Role.SME]


def test_membership_create_refuses_an_unknown_role() -> None:
    with pytest.raises(ValidationError):
        membership_create(squad=SquadFactory(), user=UserFactory(), role="overlord")

    assert not Membership.objects.exists()


def test_membership_update_changes_the_role_only() -> None:
    membership = MembershipFactory(role=Role.SME)
    squad_id, user_id = membership.squad_id, membership.user_id

    membership_update(membership=membership, role=Role.PRODUCT_OWNER)

    stored = Membership.objects.get(pk=membership.pk)
    assert (stored.squad_id, stored.user_id, stored.role) == (squad_id, user_id, Role.PRODUCT_OWNER)


def test_chapter_create_with_lead_and_members() -> None:
    lead, member = UserFactory(), UserFactory()

    chapter = chapter_create(slug="dba", name="DBAs", lead=lead, members=[member])

    stored = Chapter.objects.get(pk=chapter.pk)
    assert stored.lead == lead
    assert list(stored.members.all()) == [member]


def test_chapter_update_may_clear_the_lead_and_keeps_what_is_not_given() -> None:
    chapter = ChapterFactory(slug="dba", name="DBAs", lead=UserFactory(), description="Databases")

    chapter_update(chapter=chapter, lead=None)

    stored = Chapter.objects.get(pk=chapter.pk)
    assert stored.lead is None
    assert (stored.name, stored.description) == ("DBAs", "Databases")


def test_chapter_add_members_never_removes_anybody() -> None:
    first, second = UserFactory(), UserFactory()
    chapter = ChapterFactory()
    chapter.members.add(first)

    chapter_add_members(chapter=chapter, users=[second])

    assert set(chapter.members.all()) == {first, second}


def test_chapter_set_members_makes_them_exactly_the_members() -> None:
    first, second = UserFactory(), UserFactory()
    chapter = ChapterFactory()
    chapter.members.add(first)

    chapter_set_members(chapter=chapter, users=[second])

    assert list(chapter.members.all()) == [second]
