"""Group mappings in the admin: platform leads and superusers curate them; a
mapping the rules refuse (no squad's role, two targets, a squad that does not
exist) is an error on the form and nothing is saved; nobody else sees them,
nor the record of what they granted."""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models import Model
from django.test import Client
from django.urls import reverse

from portal.identity.models import GroupMapping, MembershipChange
from squads.choices import Role
from squads.models import Squad
from tests.factories import ChapterFactory, MembershipFactory, SquadFactory, UserFactory

pytestmark = pytest.mark.django_db


def admin_url(model: type[Model], view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def lead_client(client: Client) -> Client:
    lead = MembershipFactory(user=UserFactory(username="marcus"), role=Role.PLATFORM_LEAD).user
    client.force_login(lead)
    return client


def test_a_platform_lead_adds_a_mapping(lead_client: Client, squad: Squad) -> None:
    response = lead_client.post(
        admin_url(GroupMapping, "add"), {"group": "net-engineers", "squad": squad.pk, "role": "engineer"}
    )

    assert response.status_code == 302
    mapping = GroupMapping.objects.get()
    assert (mapping.group, mapping.squad, mapping.role) == ("net-engineers", squad, "engineer")


@pytest.mark.parametrize(
    "wrong",
    [
        {"group": "g", "squad": "squad"},  # no role
        {"group": "g", "squad": "squad", "role": "engineer", "chapter": "chapter"},  # two targets
        {"group": "g", "chapter": "chapter", "role": "engineer"},  # a role without a squad
        {"group": "g"},  # nothing granted
        {"group": "g", "squad": "999999", "role": "engineer"},  # no such squad
        {"group": "g", "squad": "squad", "role": "wizard"},  # no such role
    ],
)
def test_a_wrong_mapping_is_refused_on_the_form_and_nothing_saved(
    lead_client: Client, squad: Squad, wrong: dict[str, str]
) -> None:
    chapter = ChapterFactory()
    ids = {"squad": str(squad.pk), "chapter": str(chapter.pk)}
    data = {key: ids.get(value, value) for key, value in wrong.items()}

    response = lead_client.post(admin_url(GroupMapping, "add"), data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors or response.context["errors"]
    assert not GroupMapping.objects.exists()


def test_a_member_sees_neither_mappings_nor_their_record(client: Client, member: Any, squad: Squad) -> None:
    mapping = GroupMapping.objects.create(group="g", squad=squad, role=Role.ENGINEER)
    client.force_login(member)

    responses = [
        client.get(admin_url(GroupMapping, "changelist")),
        client.get(admin_url(MembershipChange, "changelist")),
        client.post(
            admin_url(GroupMapping, "add"), {"group": "h", "squad": squad.pk, "role": "platform_lead"}
        ),
        client.post(admin_url(GroupMapping, "delete", mapping.pk), {"post": "yes"}),
    ]

    assert [response.status_code for response in responses] == [403, 403, 403, 403]
    assert list(GroupMapping.objects.values_list("group", flat=True)) == ["g"]


def test_the_record_is_read_only_even_for_superusers(client: Client, admin_user: Any) -> None:
    client.force_login(admin_user)
    change = MembershipChange.objects.create(
        username="bea", source="ldap", action="granted", kind="squad", target=SquadFactory().slug
    )

    listed = client.get(admin_url(MembershipChange, "changelist"))
    deleted = client.post(admin_url(MembershipChange, "delete", change.pk), {"post": "yes"})

    assert listed.status_code == 200
    assert "bea" in listed.content.decode()
    assert deleted.status_code == 403
    assert MembershipChange.objects.filter(pk=change.pk).exists()
