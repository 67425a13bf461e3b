"""Memberships that follow a person's groups (portal.identity.mapping): granted
and withdrawn at each login through the ``groups_seen`` signal, recorded, and
never touching what was curated by hand."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from portal.consumption.models import BusinessUnit, BusinessUnitMembership
from portal.identity.mapping import sync_memberships
from portal.identity.models import GroupMapping, MembershipChange
from portal.identity.signals import groups_seen
from squads.choices import Role
from squads.models import Chapter, ChapterMembership, Membership, Squad
from tests.factories import ChapterFactory, MembershipFactory, SquadFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def network() -> Squad:
    return SquadFactory(slug="network")


@pytest.fixture
def storage() -> Squad:
    return SquadFactory(slug="storage")


@pytest.fixture
def finance() -> BusinessUnit:
    return BusinessUnit.objects.create(slug="finance", name="Finance")


@pytest.fixture
def dba() -> Chapter:
    return ChapterFactory(slug="dba")


@pytest.fixture
def mappings(network: Squad, storage: Squad, finance: BusinessUnit, dba: Chapter) -> None:
    GroupMapping.objects.create(group="net-engineers", squad=network, role=Role.ENGINEER)
    GroupMapping.objects.create(group="storage-leads", squad=storage, role=Role.PRODUCT_OWNER)
    GroupMapping.objects.create(group="finance-staff", business_unit=finance)
    GroupMapping.objects.create(group="dbas", chapter=dba)


def seats(user: Any) -> dict[str, tuple[str, bool]]:
    return {
        seat.squad.slug: (seat.role, seat.granted_by_mapping)
        for seat in Membership.objects.filter(user=user).select_related("squad")
    }


def test_the_groups_grant_what_they_map_to_and_say_so(mappings: None) -> None:
    bea = UserFactory(username="bea")

    groups_seen.send(sender="ldap", user=bea, groups=["Net-Engineers", "finance-staff", "dbas", "other"])

    assert seats(bea) == {"network": ("engineer", True)}
    assert BusinessUnitMembership.objects.get(user=bea).granted_by_mapping
    assert ChapterMembership.objects.get(user=bea).granted_by_mapping
    assert sorted(MembershipChange.objects.values_list("action", "kind", "target", "source", "groups")) == [
        ("granted", "business_unit", "finance", "ldap", "finance-staff"),
        ("granted", "chapter", "dba", "ldap", "dbas"),
        ("granted", "squad", "network", "ldap", "net-engineers"),
    ]


def test_leaving_a_group_withdraws_what_it_granted_and_joining_another_grants(mappings: None) -> None:
    bea = UserFactory(username="bea")
    sync_memberships(user=bea, groups=["net-engineers", "finance-staff", "dbas"], source="oidc")

    changes = sync_memberships(user=bea, groups=["storage-leads"], source="oidc")

    assert seats(bea) == {"storage": ("product_owner", True)}
    assert not BusinessUnitMembership.objects.filter(user=bea).exists()
    assert not ChapterMembership.objects.filter(user=bea).exists()
    assert sorted((change.action, change.target) for change in changes) == [
        ("granted", "storage"),
        ("withdrawn", "dba"),
        ("withdrawn", "finance"),
        ("withdrawn", "network"),
    ]


def test_the_same_groups_again_change_nothing(mappings: None) -> None:
    bea = UserFactory(username="bea")
    sync_memberships(user=bea, groups=["net-engineers", "finance-staff"], source="ldap")
    recorded = MembershipChange.objects.count()

    assert sync_memberships(user=bea, groups=["net-engineers", "finance-staff"], source="ldap") == []
    assert MembershipChange.objects.count() == recorded
    assert seats(bea) == {"network": ("engineer", True)}


def test_memberships_curated_by_hand_are_never_touched(
    mappings: None, network: Squad, finance: BusinessUnit, dba: Chapter
) -> None:
    bea = UserFactory(username="bea")
    other = SquadFactory(slug="other")
    # By hand: a squad the groups also map to (with another role), one they do not.
    MembershipFactory(user=bea, squad=network, role=Role.SME)
    MembershipFactory(user=bea, squad=other, role=Role.ENGINEER)
    BusinessUnitMembership.objects.create(user=bea, business_unit=finance)
    ChapterMembership.objects.create(user=bea, chapter=dba)

    sync_memberships(user=bea, groups=["net-engineers", "finance-staff", "dbas"], source="ldap")
    sync_memberships(user=bea, groups=[], source="ldap")

    assert seats(bea) == {"network": ("sme", False), "other": ("engineer", False)}
    assert not BusinessUnitMembership.objects.get(user=bea).granted_by_mapping
    assert not ChapterMembership.objects.get(user=bea).granted_by_mapping
    assert not MembershipChange.objects.exists()


def test_a_mapped_role_that_changes_changes_the_seat(mappings: None, network: Squad) -> None:
    bea = UserFactory(username="bea")
    sync_memberships(user=bea, groups=["net-engineers"], source="ldap")
    GroupMapping.objects.create(group="net-leads", squad=network, role=Role.PLATFORM_LEAD)

    sync_memberships(user=bea, groups=["net-engineers", "net-leads"], source="ldap")

    # Two groups map the squad: the role that may do the most wins.
    assert seats(bea) == {"network": ("platform_lead", True)}
    change = MembershipChange.objects.get(action="changed")
    assert (change.target, change.role, change.groups) == (
        "network",
        "platform_lead",
        "net-engineers, net-leads",
    )


def test_a_deleted_mapping_withdraws_at_the_next_login(mappings: None) -> None:
    bea = UserFactory(username="bea")
    sync_memberships(user=bea, groups=["net-engineers"], source="ldap")
    GroupMapping.objects.filter(group="net-engineers").delete()

    sync_memberships(user=bea, groups=["net-engineers"], source="ldap")

    assert seats(bea) == {}


def test_garbage_groups_grant_nothing(mappings: None) -> None:
    bea = UserFactory(username="bea")

    sync_memberships(user=bea, groups=[None, 42, {"net-engineers": 1}, "", "x" * 10_000], source="oidc")

    assert seats(bea) == {}


def test_a_mapping_names_exactly_one_target_and_a_squad_needs_a_role(network: Squad, dba: Chapter) -> None:
    for wrong in (
        GroupMapping(group="g"),
        GroupMapping(group="g", squad=network),
        GroupMapping(group="g", squad=network, role="wizard"),
        GroupMapping(group="g", chapter=dba, role=Role.ENGINEER),
        GroupMapping(group="g", squad=network, role=Role.ENGINEER, chapter=dba),
    ):
        with pytest.raises(ValidationError):
            wrong.full_clean()
    # The database refuses it too, whatever path it takes.
    with pytest.raises(IntegrityError), transaction.atomic():
        GroupMapping.objects.create(group="g", squad=network)
    assert not GroupMapping.objects.exists()
