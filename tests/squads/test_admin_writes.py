"""The squads admin writes through ``squads.services``: what a superuser
saves there is checked and stored the way the catalogue import stores it."""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models import Model
from django.test import Client
from django.urls import reverse

from squads.choices import Role
from squads.models import Chapter, ChapterMembership, Membership, Squad
from tests.factories import ChapterFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

NO_MEMBERS = {
    "memberships-TOTAL_FORMS": "0",
    "memberships-INITIAL_FORMS": "0",
    "memberships-MIN_NUM_FORMS": "0",
    "memberships-MAX_NUM_FORMS": "1000",
}


def admin_url(model: type[Model], view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def superuser_client(client: Client, admin_user: Any) -> Client:
    client.force_login(admin_user)
    return client


def test_adding_a_squad_with_a_member_stores_both(superuser_client: Client) -> None:
    nora = UserFactory(username="nora")

    response = superuser_client.post(
        admin_url(Squad, "add"),
        {
            "name": "Storage Squad",
            "slug": "storage",
            "mission": "Disks",
            **NO_MEMBERS,
            "memberships-TOTAL_FORMS": "1",
            "memberships-0-user": nora.pk,
            "memberships-0-role": Role.SME,
        },
    )

    assert response.status_code == 302
    squad = Squad.objects.get(slug="storage")
    assert response["Location"] == admin_url(Squad, "changelist")
    assert list(squad.memberships.values_list("user__username", "role")) == [("nora", Role.SME)]


def test_changing_a_squad_and_a_members_role(superuser_client: Client, squad: Squad) -> None:
    membership = MembershipFactory(squad=squad, user=UserFactory(username="ned"), role=Role.ENGINEER)

    response = superuser_client.post(
        admin_url(Squad, "change", squad.pk),
        {
            "name": "Renamed Squad",
            "slug": squad.slug,
            "mission": "",
            **NO_MEMBERS,
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "1",
            "memberships-0-id": membership.pk,
            "memberships-0-squad": squad.pk,
            "memberships-0-user": membership.user_id,
            "memberships-0-role": Role.PRODUCT_OWNER,
        },
    )

    assert response.status_code == 302
    assert Squad.objects.get(pk=squad.pk).name == "Renamed Squad"
    assert Membership.objects.get(pk=membership.pk).role == Role.PRODUCT_OWNER


def test_removing_a_member_in_the_squad_page(superuser_client: Client, squad: Squad) -> None:
    membership = MembershipFactory(squad=squad, user=UserFactory(username="ned"))

    response = superuser_client.post(
        admin_url(Squad, "change", squad.pk),
        {
            "name": squad.name,
            "slug": squad.slug,
            "mission": "",
            **NO_MEMBERS,
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "1",
            "memberships-0-id": membership.pk,
            "memberships-0-squad": squad.pk,
            "memberships-0-user": membership.user_id,
            "memberships-0-role": membership.role,
            "memberships-0-DELETE": "on",
        },
    )

    assert response.status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()


def test_changing_a_membership_on_its_own_page(superuser_client: Client, squad: Squad) -> None:
    membership = MembershipFactory(squad=squad, role=Role.ENGINEER)

    response = superuser_client.post(
        admin_url(Membership, "change", membership.pk),
        {"user": membership.user_id, "squad": squad.pk, "role": Role.SME},
    )

    assert response.status_code == 302
    assert Membership.objects.get(pk=membership.pk).role == Role.SME


def test_adding_and_changing_a_chapter_sets_its_lead_and_members(superuser_client: Client) -> None:
    lead, first, second = UserFactory(), UserFactory(), UserFactory()

    added = superuser_client.post(
        admin_url(Chapter, "add"),
        {
            "name": "DBAs",
            "slug": "dba",
            "description": "",
            "lead": lead.pk,
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "0",
            "memberships-0-user": first.pk,
        },
    )
    chapter = Chapter.objects.get(slug="dba")
    (seat,) = ChapterMembership.objects.filter(chapter=chapter)
    changed = superuser_client.post(
        admin_url(Chapter, "change", chapter.pk),
        {
            "name": "Database people",
            "slug": "dba",
            "description": "",
            "lead": "",
            "memberships-TOTAL_FORMS": "2",
            "memberships-INITIAL_FORMS": "1",
            "memberships-0-id": seat.pk,
            "memberships-0-chapter": chapter.pk,
            "memberships-0-user": first.pk,
            "memberships-0-DELETE": "on",
            "memberships-1-user": second.pk,
        },
    )

    assert (added.status_code, changed.status_code) == (302, 302)
    chapter.refresh_from_db()
    assert (chapter.name, chapter.lead) == ("Database people", None)
    assert list(chapter.members.all()) == [second]
    # Added by hand: a group mapping never withdraws it.
    assert not ChapterMembership.objects.get(chapter=chapter).granted_by_mapping


def test_a_chapter_slug_already_taken_is_refused_by_the_form(superuser_client: Client) -> None:
    ChapterFactory(slug="dba")

    response = superuser_client.post(admin_url(Chapter, "add"), {"name": "Other", "slug": "dba"})

    assert response.status_code == 200
    assert Chapter.objects.count() == 1
