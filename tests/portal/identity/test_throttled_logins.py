"""Every login form is throttled per account and per client address; a
lock-out says when to try again, is recorded, and an administrator can lift it."""

from __future__ import annotations

import base64
import re
from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client, RequestFactory
from django.utils import timezone

from portal.identity.throttling import client_address
from tests.factories import UserFactory
from tests.portal.identity.conftest import PASSWORD, logged_in_as, post_login

LIMIT = 10


def fail(client: Client, username: str, times: int, path: str = "/login/", **headers: str) -> list[int]:
    return [
        post_login(client, username, "not-the-password", path, **headers).status_code for _ in range(times)
    ]


def assert_lockout_page(response, minutes: int = 15) -> None:  # type: ignore[no-untyped-def]
    """The portal's page (not a bare 403), with the real time of the next try."""
    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many failed logins" in page and 'class="topbar"' in page
    retry_after = int(response["Retry-After"])
    assert minutes * 60 - 30 <= retry_after <= minutes * 60
    retry_at = timezone.localtime(timezone.now() + timedelta(seconds=retry_after))
    shown = re.search(r"Try again at <strong><time datetime=\"([^\"]+)\">(\d\d:\d\d) UTC</time>", page)
    assert shown is not None, page
    assert shown.group(2) in {
        f"{retry_at:%H:%M}",
        f"{retry_at - timedelta(minutes=1):%H:%M}",
    }
    assert f"(in {minutes} minutes)" in page


@pytest.mark.django_db
def test_ten_wrong_passwords_lock_the_account_and_then_refuse_the_right_one(client, requester):
    last_login = User.objects.get(pk=requester.pk).last_login
    assert fail(client, "rita", LIMIT - 1) == [200] * (LIMIT - 1)
    assert_lockout_page(post_login(client, "rita", "still-wrong"))

    response = post_login(client, "rita", PASSWORD)
    assert_lockout_page(response)
    assert logged_in_as(client) is None
    assert User.objects.get(pk=requester.pk).last_login == last_login
    # The account is locked wherever the next try comes from.
    elsewhere = post_login(Client(REMOTE_ADDR="192.0.2.77"), "rita", PASSWORD)
    assert elsewhere.status_code == 429
    # Tries while locked out are refused unchecked and do not push the end further.
    assert (
        sum(AccessAttempt.objects.filter(username="rita").values_list("failures_since_start", flat=True))
        == LIMIT
    )


@pytest.mark.django_db
def test_nine_wrong_passwords_still_let_the_right_one_in(client, requester):
    fail(client, "rita", LIMIT - 1)
    assert post_login(client, "rita", PASSWORD).status_code == 302
    assert logged_in_as(client) == str(requester.pk)


@pytest.mark.django_db
def test_one_address_is_locked_for_every_account_after_ten_failures_across_accounts(db):
    target = UserFactory(username="victim")
    attacker = Client(REMOTE_ADDR="203.0.113.5")
    for number in range(LIMIT):
        post_login(attacker, f"guess{number}", "password1")
    response = post_login(attacker, "victim", PASSWORD)
    assert_lockout_page(response)
    assert logged_in_as(attacker) is None
    # Only that address: the account itself had no failure.
    colleague = Client(REMOTE_ADDR="203.0.113.6")
    assert post_login(colleague, "victim", PASSWORD).status_code == 302
    assert logged_in_as(colleague) == str(target.pk)


@pytest.mark.django_db
def test_a_forged_x_forwarded_for_does_not_dodge_the_address_throttle(db):
    """No trusted proxy header is configured: the header is the client's own
    word and every failure counts against REMOTE_ADDR."""
    UserFactory(username="victim")
    attacker = Client(REMOTE_ADDR="203.0.113.5")
    for number in range(LIMIT):
        post_login(attacker, f"guess{number}", "password1", HTTP_X_FORWARDED_FOR=f"198.51.100.{number}")
    response = post_login(attacker, "victim", PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.200")
    assert response.status_code == 429
    assert logged_in_as(attacker) is None
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.5"}


@pytest.mark.django_db
def test_behind_a_trusted_proxy_only_the_address_the_proxy_wrote_counts(settings):
    """The proxy appends the address it saw: what a client puts before it is ignored."""
    settings.SQUADRON_TRUSTED_PROXY_HEADER = "X-Forwarded-For"
    UserFactory(username="victim")
    proxy = "10.0.0.2"
    attacker = Client(REMOTE_ADDR=proxy)
    for number in range(LIMIT):
        forged = f"198.51.100.{number}, 203.0.113.5"
        post_login(attacker, f"guess{number}", "password1", HTTP_X_FORWARDED_FOR=forged)
    locked = post_login(attacker, "victim", PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.99, 203.0.113.5")
    assert locked.status_code == 429
    # Another client behind the same proxy is another address.
    other = Client(REMOTE_ADDR=proxy)
    assert post_login(other, "victim", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.6").status_code == 302


@pytest.mark.parametrize(
    "header, meta, expected",
    [
        ("", {"HTTP_X_FORWARDED_FOR": "198.51.100.1"}, "10.0.0.2"),
        ("X-Forwarded-For", {"HTTP_X_FORWARDED_FOR": "198.51.100.1, 203.0.113.5"}, "203.0.113.5"),
        ("X-Real-IP", {"HTTP_X_REAL_IP": " 2001:db8::1 "}, "2001:db8::1"),
        # The proxy wrote nothing usable: its own address, never the client's word.
        ("X-Forwarded-For", {"HTTP_X_FORWARDED_FOR": "203.0.113.5, not-an-address"}, "10.0.0.2"),
        ("X-Forwarded-For", {}, "10.0.0.2"),
    ],
)
def test_the_client_address_comes_from_the_trusted_header_only(settings, header, meta, expected):
    settings.SQUADRON_TRUSTED_PROXY_HEADER = header
    request = RequestFactory().post("/login/", REMOTE_ADDR="10.0.0.2", **meta)
    assert client_address(request) == expected


@pytest.mark.django_db
def test_the_admin_login_is_throttled_with_the_same_counters(client, member):
    """Five wrong passwords on each form: ten for the account."""
    fail(client, "nora", 5)
    statuses = fail(client, "nora", 5, path="/admin/login/")
    assert statuses == [200] * 4 + [429]
    response = post_login(client, "nora", PASSWORD, path="/admin/login/?next=/admin/")
    assert_lockout_page(response)
    assert logged_in_as(client) is None
    assert client.get("/admin/").status_code == 302


@pytest.mark.django_db
def test_a_lockout_is_recorded_and_an_administrator_lifts_it_in_the_admin(client, requester, admin_user):
    fail(client, "rita", LIMIT)
    assert AccessFailureLog.objects.filter(username="rita", locked_out=True).count() == 1
    admin = Client()
    admin.force_login(admin_user)
    log_page = admin.get("/admin/axes/accessfailurelog/")
    assert log_page.status_code == 200 and "rita" in log_page.content.decode()
    attempts = admin.get("/admin/axes/accessattempt/")
    assert "Locked Out" in attempts.content.decode()

    response = admin.post(
        "/admin/axes/accessattempt/",
        {
            "action": "lift_lockouts",
            "_selected_action": list(AccessAttempt.objects.values_list("pk", flat=True)),
        },
        follow=True,
    )
    assert "Lifted: rita and 127.0.0.1 may log in again" in response.content.decode()
    assert not AccessAttempt.objects.exists()
    # The record stays; the person logs in.
    assert AccessFailureLog.objects.filter(username="rita", locked_out=True).count() == 1
    assert post_login(client, "rita", PASSWORD).status_code == 302
    assert logged_in_as(client) == str(requester.pk)


@pytest.mark.django_db
def test_squad_members_who_curate_see_no_lockouts_in_the_admin(client, member):
    client.force_login(member)
    assert client.get("/admin/axes/accessattempt/").status_code == 403
    assert client.post("/admin/axes/accessattempt/", {"action": "lift_lockouts"}).status_code == 403


@pytest.mark.django_db
def test_the_axes_reset_commands_lift_an_account_and_an_address(client, requester, capsys):
    fail(client, "rita", LIMIT)
    assert post_login(client, "rita", PASSWORD).status_code == 429
    call_command("axes_reset_username", "rita")
    assert "attempts removed" in capsys.readouterr().out
    assert post_login(client, "rita", PASSWORD).status_code == 302

    attacker = Client(REMOTE_ADDR="203.0.113.5")
    for number in range(LIMIT):
        post_login(attacker, f"guess{number}", "password1")
    assert post_login(attacker, "rita", PASSWORD).status_code == 429
    call_command("axes_reset_username", "rita")  # not the account that is locked here
    assert post_login(attacker, "rita", PASSWORD).status_code == 429
    call_command("axes_reset_ip", "203.0.113.5")
    assert post_login(attacker, "rita", PASSWORD).status_code == 302
    assert logged_in_as(attacker) == str(requester.pk)


@pytest.mark.django_db
def test_the_api_takes_no_password_so_it_is_no_oracle_for_one(client, requester):
    """The API authenticates with tokens (256 random bits) or a session the
    login form made; a username and password answer like any wrong ones."""

    def basic(password: str) -> str:
        return "Basic " + base64.b64encode(f"rita:{password}".encode()).decode()

    right = client.get("/api/v1/me/", HTTP_AUTHORIZATION=basic(PASSWORD))
    wrong = client.get("/api/v1/me/", HTTP_AUTHORIZATION=basic("nope"))
    assert right.status_code == wrong.status_code == 401
    assert right.json() == wrong.json()
    assert client.get("/api-auth/login/").status_code == 404
