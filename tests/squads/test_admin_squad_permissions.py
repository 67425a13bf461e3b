"""Squads, memberships and chapters in the admin: a member sees their own squad
read-only and cannot change it, see another or join one; only a superuser
manages memberships. Every refused attempt asserts that the database is
unchanged, not only the status code."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import reverse

from squads.models import Chapter, Membership, Squad
from tests.admin_forms import admin_url, snapshot
from tests.factories import ChapterFactory, UserFactory


def test_member_views_own_squad_read_only(client: Client, member: Any, squad: Squad) -> None:
    client.force_login(member)

    response = client.get(admin_url(Squad, "change", squad.pk))

    assert response.status_code == 200
    assert not response.context["has_change_permission"]
    # The members inline is there, read-only.
    (memberships,) = response.context["inline_admin_formsets"]
    assert [form.original.user.username for form in memberships] == ["nora"]
    assert not memberships.has_change_permission
    assert not memberships.has_add_permission


def test_member_cannot_change_own_squad(client: Client, member: Any, squad: Squad) -> None:
    client.force_login(member)
    before = snapshot(squad)

    response = client.post(
        admin_url(Squad, "change", squad.pk),
        {
            "name": "Hijacked",
            "slug": squad.slug,
            "mission": "",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 403
    assert snapshot(squad) == before


def test_member_cannot_see_another_squad(client: Client, member: Any, other_squad: Squad) -> None:
    client.force_login(member)

    response = client.get(admin_url(Squad, "change", other_squad.pk))

    assert response.status_code == 302
    assert response.url == reverse("admin:index")


def test_member_cannot_join_another_squad_through_the_admin(
    client: Client, member: Any, other_squad: Squad
) -> None:
    client.force_login(member)
    memberships = Membership.objects.count()

    through_membership_admin = client.post(
        admin_url(Membership, "add"), {"user": member.pk, "squad": other_squad.pk, "role": "engineer"}
    )
    through_squad_inline = client.post(
        admin_url(Squad, "change", other_squad.pk),
        {
            "name": other_squad.name,
            "slug": other_squad.slug,
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "0",
            "memberships-0-user": member.pk,
            "memberships-0-role": "engineer",
        },
    )

    assert (through_membership_admin.status_code, through_squad_inline.status_code) == (403, 403)
    assert Membership.objects.count() == memberships
    assert not Membership.objects.filter(user=member, squad=other_squad).exists()


def test_member_cannot_enter_membership_or_chapter_admin(client: Client, member: Any) -> None:
    ChapterFactory(slug="network-engineering")
    client.force_login(member)

    responses = [
        client.get(admin_url(Membership, "changelist")),
        client.get(admin_url(Chapter, "changelist")),
        client.post(admin_url(Chapter, "add"), {"name": "Mine", "slug": "mine"}),
    ]

    assert [response.status_code for response in responses] == [403, 403, 403]
    assert Chapter.objects.count() == 1


def test_superuser_manages_memberships(client: Client, admin_user: Any, other_squad: Squad) -> None:
    client.force_login(admin_user)
    newcomer = UserFactory(username="nina")

    response = client.post(
        admin_url(Membership, "add"), {"user": newcomer.pk, "squad": other_squad.pk, "role": "sme"}
    )

    assert response.status_code == 302
    assert Membership.objects.filter(user=newcomer, squad=other_squad, role="sme").exists()
