"""Logins, failed logins and lock-outs are on the audit trail, with the
address they came from; the lock-out after ten wrong passwords shows on
/audit/."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

from portal.audit.models import AuditEntry
from tests.factories import MembershipFactory, SquadFactory, UserFactory
from tests.portal.identity.conftest import PASSWORD, post_login

pytestmark = pytest.mark.django_db

LIMIT = 10


def test_a_login_and_a_failed_login_are_recorded_with_their_address(requester: User) -> None:
    client = Client(REMOTE_ADDR="192.0.2.30")
    post_login(client, requester.username, "wrong-one")
    assert post_login(client, requester.username, PASSWORD).status_code == 302

    failed = AuditEntry.objects.get(action="login_failed")
    assert (failed.object_repr, failed.object_id, failed.address) == (
        requester.username,
        str(requester.pk),
        "192.0.2.30",
    )
    assert failed.note == "a wrong password"
    assert failed.actor == "anonymous"
    logged_in = AuditEntry.objects.get(action="logged_in")
    assert (logged_in.actor, logged_in.actor_id, logged_in.address) == (
        requester.username,
        requester.pk,
        "192.0.2.30",
    )


def test_a_name_no_account_has_is_recorded_by_a_digest_never_as_typed(requester: User) -> None:
    """People type their password in the name field: the trail, which every
    platform lead reads and exports, must not keep it. The same name gives
    the same digest, so guesses at one name still show as such."""
    typed = "Tr0ub4dor&3-rita"
    for _ in range(2):
        post_login(Client(), typed, "x")
    post_login(Client(), "someone-else", "x")

    first, second, other = AuditEntry.objects.filter(action="login_failed").order_by("id")
    assert first.object_repr == second.object_repr != other.object_repr
    # Not even its length: that much of a password is too much.
    assert re.fullmatch(r"unknown name #[0-9a-f]{10}", first.object_repr)
    assert first.object_id == ""
    stored = list(AuditEntry.objects.values_list("object_repr", "note", "changes", "actor"))
    assert typed not in str(stored) and "Tr0ub" not in str(stored)
    # An account's own name is recorded as it is.
    post_login(Client(), requester.username, "x")
    assert AuditEntry.objects.filter(action="login_failed", object_repr=requester.username).exists()


def test_ten_wrong_passwords_lock_the_account_and_the_lockout_is_on_the_audit_page(requester: User) -> None:
    attacker = Client(REMOTE_ADDR="203.0.113.66")
    for _ in range(LIMIT):
        post_login(attacker, requester.username, "not-the-password")

    assert AuditEntry.objects.filter(action="login_failed", object_repr=requester.username).count() == LIMIT
    lockout = AuditEntry.objects.get(action="locked_out")
    assert (lockout.object_repr, lockout.address) == (requester.username, "203.0.113.66")
    # Tries refused unchecked while it lasts add nothing: hammering cannot flood the trail.
    entries = AuditEntry.objects.count()
    for password in (PASSWORD, "again", "and again"):
        assert post_login(attacker, requester.username, password).status_code == 429
    assert AuditEntry.objects.count() == entries

    lead = MembershipFactory(
        user=UserFactory(username="marcus"), squad=SquadFactory(slug="platform"), role="platform_lead"
    ).user
    reader = Client()
    reader.force_login(lead)
    page = reader.get("/audit/", {"action": "locked_out"}).content.decode()
    assert "locked out" in page and requester.username in page and "203.0.113.66" in page


def test_a_lockout_lifted_in_the_admin_is_recorded_with_who_lifted_it(
    requester: User, admin_user: User
) -> None:
    from axes.models import AccessAttempt

    attacker = Client(REMOTE_ADDR="203.0.113.67")
    for _ in range(LIMIT):
        post_login(attacker, requester.username, "not-the-password")
    admin = Client(REMOTE_ADDR="192.0.2.200")
    admin.force_login(admin_user)
    admin.post(
        "/admin/axes/accessattempt/",
        {
            "action": "lift_lockouts",
            "_selected_action": list(AccessAttempt.objects.values_list("pk", flat=True)),
        },
    )

    lifted = AuditEntry.objects.get(action="lockout_lifted")
    assert (lifted.actor, lifted.address, lifted.via) == (admin_user.username, "192.0.2.200", "admin")
    assert lifted.changes == {"failures": {"before": LIMIT, "after": 0}}
    assert lifted.note == f"{requester.username} from 203.0.113.67"


def test_a_lockout_lifted_for_a_name_no_account_has_never_shows_it_as_typed(db: None) -> None:
    from portal.identity.throttling import lockouts_lift
    from squads.audit import unknown_name

    typed = "Tr0ub4dor&3-rita"
    attacker = Client(REMOTE_ADDR="203.0.113.68")
    for _ in range(LIMIT):
        post_login(attacker, typed, "x")

    assert lockouts_lift(usernames=[typed]) >= 1

    lifted = AuditEntry.objects.get(action="lockout_lifted")
    assert lifted.note == f"{unknown_name(typed)} from 203.0.113.68"
    assert typed not in str(list(AuditEntry.objects.values_list("object_repr", "note", "changes")))
