"""Two logins of one person at the same instant (two browsers, a retry):
their group syncs take turns, so the memberships end as one of them left
them, with no error and no grant recorded twice. Run against PostgreSQL in
the service-backed run; on SQLite the transactions take turns anyway."""

from __future__ import annotations

import pytest

from portal.identity.mapping import sync_memberships
from portal.identity.models import GroupMapping, MembershipChange
from squads.choices import Role
from squads.models import Membership
from tests.factories import SquadFactory, UserFactory
from tests.portal.orders.test_races import race

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]


@pytest.fixture
def mapped(transactional_db: None) -> None:
    GroupMapping.objects.create(group="net", squad=SquadFactory(slug="network"), role=Role.ENGINEER)
    GroupMapping.objects.create(group="store", squad=SquadFactory(slug="storage"), role=Role.SME)


@pytest.mark.parametrize("attempt", range(3))
def test_the_same_groups_at_once_grant_once(mapped: None, attempt: int) -> None:
    bea = UserFactory(username="bea")

    results = race(*[lambda: sync_memberships(user=bea, groups=["net"], source="ldap")] * 3)

    assert not [result for result in results if isinstance(result, Exception)], results
    assert list(Membership.objects.filter(user=bea).values_list("squad__slug", "granted_by_mapping")) == [
        ("network", True)
    ]
    assert MembershipChange.objects.filter(action="granted").count() == 1


@pytest.mark.parametrize("attempt", range(3))
def test_different_groups_at_once_end_as_one_of_them(mapped: None, attempt: int) -> None:
    bea = UserFactory(username="bea")

    results = race(
        lambda: sync_memberships(user=bea, groups=["net"], source="ldap"),
        lambda: sync_memberships(user=bea, groups=["store"], source="oidc"),
    )

    assert not [result for result in results if isinstance(result, Exception)], results
    squads = list(Membership.objects.filter(user=bea).values_list("squad__slug", flat=True))
    assert squads in (["network"], ["storage"])
    # Every seat granted and not withdrawn since is the one there.
    granted = MembershipChange.objects.filter(action="granted").count()
    withdrawn = MembershipChange.objects.filter(action="withdrawn").count()
    assert granted - withdrawn == 1
