"""Logging in with a company directory account, against a real OpenLDAP
(tests/ldap_directory.py): the person lands with the squads their groups
map to, and follows the directory's groups at each login."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings

from portal.consumption.models import BusinessUnit, BusinessUnitMembership
from portal.identity.models import GroupMapping, MembershipChange, OidcIdentity
from squads.choices import Role
from squads.models import Membership
from tests.factories import MembershipFactory, SquadFactory, UserFactory
from tests.ldap_directory import Directory, free_port, ldap_settings
from tests.portal.identity.conftest import PASSWORD, logged_in_as, post_login

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

UNREACHABLE = "The company directory (LDAP) did not answer"


@pytest.fixture
def mapped(db: None) -> None:
    network, storage = SquadFactory(slug="network"), SquadFactory(slug="storage")
    finance = BusinessUnit.objects.create(slug="finance", name="Finance")
    GroupMapping.objects.create(group="net-engineers", squad=network, role=Role.ENGINEER)
    GroupMapping.objects.create(group="storage-leads", squad=storage, role=Role.PRODUCT_OWNER)
    GroupMapping.objects.create(group="finance-staff", business_unit=finance)


@pytest.fixture
def directory_login(ldap_directory: Directory) -> Iterator[Directory]:
    with override_settings(**ldap_settings(ldap_directory)):
        yield ldap_directory


def squads_of(username: str) -> dict[str, tuple[str, bool]]:
    return {
        seat.squad.slug: (seat.role, seat.granted_by_mapping)
        for seat in Membership.objects.filter(user__username=username).select_related("squad")
    }


def test_a_directory_login_lands_with_the_squads_its_groups_map_to(
    client: Client, directory_login: Directory, mapped: None
) -> None:
    response = post_login(client, "bea", "bea-directory-pw")

    assert response.status_code == 302
    bea = User.objects.get(username="bea")
    assert logged_in_as(client) == str(bea.pk)
    # Made from the directory's entry, with no password of its own here.
    assert (bea.get_full_name(), bea.email, bea.has_usable_password()) == (
        "Bea Directory",
        "bea@example.org",
        False,
    )
    assert squads_of("bea") == {"network": ("engineer", True)}
    assert BusinessUnitMembership.objects.get(user=bea).business_unit.slug == "finance"
    assert set(MembershipChange.objects.values_list("source", "action", "target")) == {
        ("ldap", "granted", "network"),
        ("ldap", "granted", "finance"),
    }


def test_moving_to_another_group_changes_the_squads_at_the_next_login_and_leaves_manual_ones(
    client: Client, directory_login: Directory, mapped: None
) -> None:
    post_login(client, "bea", "bea-directory-pw")
    bea = User.objects.get(username="bea")
    # Curated by hand meanwhile: never touched by the groups.
    MembershipFactory(user=bea, squad=SquadFactory(slug="by-hand"), role=Role.SME)
    client.logout()

    directory_login.move("bea", from_group="net-engineers", to_group="storage-leads")
    response = post_login(client, "bea", "bea-directory-pw")

    assert response.status_code == 302
    assert squads_of("bea") == {"storage": ("product_owner", True), "by-hand": ("sme", False)}
    assert MembershipChange.objects.filter(action="withdrawn", target="network").exists()


def test_someone_disabled_in_the_directory_can_no_longer_log_in(
    client: Client, directory_login: Directory, mapped: None
) -> None:
    post_login(client, "bea", "bea-directory-pw")
    client.logout()
    before = squads_of("bea")

    directory_login.lock("bea")
    response = post_login(client, "bea", "bea-directory-pw")

    assert response.status_code == 200
    assert logged_in_as(client) is None
    assert "did not match" in response.content.decode()
    assert squads_of("bea") == before
    # dora was locked from the start: never logged in, never made.
    post_login(client, "dora", "dora-directory-pw")
    assert not User.objects.filter(username="dora").exists()


def test_a_wrong_password_is_refused_and_changes_nothing(
    client: Client, directory_login: Directory, mapped: None
) -> None:
    response = post_login(client, "bea", "not-bea's-password")

    assert response.status_code == 200
    assert logged_in_as(client) is None
    assert not User.objects.filter(username="bea").exists()
    assert not MembershipChange.objects.exists()


def test_a_directory_entry_cannot_take_over_a_local_account_of_the_same_name(
    client: Client, directory_login: Directory
) -> None:
    admin_user = UserFactory(username="admin", is_staff=True, is_superuser=True)

    response = post_login(client, "admin", "admin-directory-pw")

    assert response.status_code == 200
    assert logged_in_as(client) is None
    admin_user.refresh_from_db()
    assert (admin_user.get_full_name(), admin_user.is_superuser) == ("", True)
    # The local account's own password still logs it in.
    local = UserFactory(username="local-lee")
    assert post_login(client, "local-lee", PASSWORD).status_code == 302
    assert logged_in_as(client) == str(local.pk)


def test_a_directory_entry_cannot_take_over_a_single_sign_on_account_of_the_same_name(
    client: Client, directory_login: Directory
) -> None:
    """An account the OpenID provider vouches for has no password of its own;
    a directory entry that happens to share its name is someone else."""
    signed_on = UserFactory(username="carl", is_staff=True)
    signed_on.set_unusable_password()
    signed_on.save()
    OidcIdentity.objects.create(user=signed_on, issuer="https://idp.example.org", subject="carl-at-the-idp")
    squads_before = squads_of("carl")

    response = post_login(client, "carl", "carl-directory-pw")

    assert response.status_code == 200
    assert logged_in_as(client) is None
    signed_on.refresh_from_db()
    assert (signed_on.get_full_name(), signed_on.has_usable_password()) == ("", False)
    assert squads_of("carl") == squads_before
    assert not MembershipChange.objects.filter(user=signed_on).exists()


def test_a_person_deactivated_in_squadron_loses_their_directory_session(
    client: Client, directory_login: Directory
) -> None:
    post_login(client, "bea", "bea-directory-pw")
    User.objects.filter(username="bea").update(is_active=False)

    response = client.get("/orders/")

    assert (response.status_code, response["Location"].split("?")[0]) == (302, "/login/")


def directory_gone() -> Any:
    """Settings naming a directory whose port refuses connections."""
    return override_settings(
        SQUADRON_LDAP_SERVER_URI=f"ldap://127.0.0.1:{free_port()}",
        SQUADRON_LDAP_USER_SEARCH_BASE="ou=people,dc=example,dc=org",
        SQUADRON_LDAP_GROUP_SEARCH_BASE="ou=groups,dc=example,dc=org",
    )


def test_a_directory_that_refuses_connections_is_named_and_local_login_still_works(
    client: Client, mapped: None
) -> None:
    local = UserFactory(username="local-lee")
    with directory_gone():
        refused = post_login(client, "bea", "bea-directory-pw")
        assert UNREACHABLE in refused.content.decode()
        assert logged_in_as(client) is None
        assert post_login(client, "local-lee", PASSWORD).status_code == 302

    assert logged_in_as(client) == str(local.pk)
    assert not User.objects.filter(username="bea").exists()


def test_a_directory_outage_locks_nobody_out_but_still_counts_guesses_at_local_accounts(
    client: Client, mapped: None, settings
) -> None:
    """People retry while the directory is down: their tries checked nothing,
    so they count toward no lock-out. A local account's password was checked
    though, by Squadron itself: guessing it while the directory is down (or
    made slow on purpose) is counted as ever."""
    from axes.models import AccessAttempt

    settings.AXES_FAILURE_LIMIT = 3
    # A directory account whose name differs in case only, made first: the
    # local one's password is still checked, and guesses at it still count.
    namesake = UserFactory(username="Local-Lee")
    namesake.set_unusable_password()
    namesake.save()
    UserFactory(username="local-lee")
    with directory_gone():
        for _ in range(5):
            assert UNREACHABLE in post_login(client, "bea", "bea-directory-pw").content.decode()
        assert not AccessAttempt.objects.filter(username="bea").exists()

        for _ in range(3):
            post_login(client, "local-lee", "a-guess")
        assert AccessAttempt.objects.get(username="local-lee").failures_since_start == 3
        locked = post_login(client, "local-lee", PASSWORD)

    assert logged_in_as(client) is None and locked.status_code == 429


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A server that accepts connections and never answers: a directory
    stuck behind a firewall that drops replies, or hung."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"ldap://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


def test_a_directory_that_never_answers_fails_the_login_within_its_timeout(
    client: Client, silent_server: str
) -> None:
    with override_settings(
        SQUADRON_LDAP_SERVER_URI=silent_server,
        SQUADRON_LDAP_USER_SEARCH_BASE="ou=people,dc=example,dc=org",
        SQUADRON_LDAP_TIMEOUT=1,
    ):
        refused = post_login(client, "bea", "bea-directory-pw")

    assert UNREACHABLE in refused.content.decode()
    assert logged_in_as(client) is None


def test_a_directory_that_refuses_squadrons_own_account_is_named_and_changes_nothing(
    client: Client, ldap_directory: Directory, mapped: None
) -> None:
    with override_settings(**ldap_settings(ldap_directory, SQUADRON_LDAP_BIND_PASSWORD="not-the-bind-pw")):
        refused = post_login(client, "bea", "bea-directory-pw")

    assert "could not check your password" in refused.content.decode()
    assert logged_in_as(client) is None
    assert not User.objects.filter(username="bea").exists()


def test_without_a_group_search_the_mapped_memberships_stay(
    client: Client, ldap_directory: Directory, mapped: None
) -> None:
    with override_settings(**ldap_settings(ldap_directory)):
        post_login(client, "bea", "bea-directory-pw")
    client.logout()

    with override_settings(**ldap_settings(ldap_directory, SQUADRON_LDAP_GROUP_SEARCH_BASE="")):
        assert post_login(client, "bea", "bea-directory-pw").status_code == 302

    assert squads_of("bea") == {"network": ("engineer", True)}


def test_a_group_search_that_fails_refuses_the_login_and_withdraws_nothing(
    client: Client, ldap_directory: Directory, mapped: None
) -> None:
    with override_settings(**ldap_settings(ldap_directory)):
        post_login(client, "bea", "bea-directory-pw")
    client.logout()
    recorded = MembershipChange.objects.count()

    broken = ldap_settings(ldap_directory, SQUADRON_LDAP_GROUP_SEARCH_BASE="ou=gone,dc=example,dc=org")
    with override_settings(**broken):
        refused = post_login(client, "bea", "bea-directory-pw")

    assert "could not check your password" in refused.content.decode()
    assert logged_in_as(client) is None
    assert squads_of("bea") == {"network": ("engineer", True)}
    assert MembershipChange.objects.count() == recorded
