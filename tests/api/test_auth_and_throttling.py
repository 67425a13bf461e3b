"""Who the API takes a caller for: token or session, and how fast they may go."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from portal.integrations.models import ApiToken
from portal.integrations.tokens import hash_key, token_authenticate, token_create, token_revoke
from portal.orders.models import Order

pytestmark = pytest.mark.django_db

RATES = {"token": "3/minute", "user": "5/minute"}


def with_key(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_token_authenticates_as_its_user(requester):
    key = token_create(user=requester, name="cmdb").key
    response = with_key(key).get("/api/v1/me/")
    assert response.status_code == 200
    assert response.json() == {
        "username": "rita",
        "is_superuser": False,
        "token": {"name": "cmdb", "prefix": key[:12], "expires_at": None},
        "business_units": [],
    }
    assert ApiToken.objects.get().last_used_at is not None


def test_anonymous_calls_are_a_401_with_a_token_challenge(db):
    for path in ("/api/v1/me/", "/api/v1/products/", "/api/v1/orders/"):
        response = APIClient().get(path)
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Token"
        assert response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize(
    "header, message",
    [
        ("Token sqd_nonsense-that-is-long-enough", "Invalid token."),
        ("Token", "Send the header as 'Authorization: Token KEY'."),
        ("Token a b", "Send the header as 'Authorization: Token KEY'."),
        ("Token nöt-ascii", "Invalid token."),
    ],
)
def test_bad_token_headers_are_a_401_that_says_why(db, header, message):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json() == {"detail": message, "code": "authentication_failed"}


def test_revoked_expired_and_inactive_users_tokens_are_refused(requester, outsider):
    revoked = token_create(user=requester, name="old")
    token_revoke(token=revoked.token, actor=requester)
    expired = token_create(user=requester, name="short", expires_in=timedelta(seconds=1))
    ApiToken.objects.filter(pk=expired.token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    inactive = token_create(user=outsider, name="gone")
    outsider.is_active = False
    outsider.save()
    for issued, message in [
        (revoked, "This token has been revoked."),
        (expired, "This token has expired; create a new one."),
        (inactive, "The token's user is inactive."),
    ]:
        response = with_key(issued.key).get("/api/v1/me/")
        assert (response.status_code, response.json()["detail"]) == (401, message)


def test_session_auth_works_and_still_demands_csrf_for_writes(requester, product):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(requester)
    assert client.get("/api/v1/me/").json()["token"] is None
    response = client.post("/api/v1/orders/", {"product": "vm", "inputs": {"hostname": "a"}}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert Order.objects.count() == 0


@override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": RATES})
def test_each_token_is_throttled_and_the_user_over_all_tokens(requester):
    first, second = (with_key(token_create(user=requester, name=f"t{n}").key) for n in (1, 2))
    assert [first.get("/api/v1/me/").status_code for _ in range(3)] == [200, 200, 200]
    # The token's budget (3) is spent; the user's (5) is shared by their tokens.
    assert [second.get("/api/v1/me/").status_code for _ in range(3)] == [200, 200, 429]
    refused = first.get("/api/v1/me/")
    assert refused.status_code == 429
    assert refused.json()["code"] == "throttled" and int(refused["Retry-After"]) > 0


def test_create_api_token_prints_a_working_key_on_the_last_line(requester, capsys):
    call_command("create_api_token", "rita", "--name", "ci", "--expires-days", "7")
    captured = capsys.readouterr()
    key = captured.out.strip().splitlines()[-1]
    token = token_authenticate(key)
    assert token.user == requester and token.name == "ci"
    assert timedelta(days=6, hours=23) < token.expires_at - timezone.now() <= timedelta(days=7)
    assert token.key_hash == hash_key(key) and key not in token.key_hash
    assert "cannot be shown again" in captured.err
    assert with_key(key).get("/api/v1/me/").status_code == 200


@pytest.mark.parametrize(
    "args, message",
    [
        (["nobody"], "No user named 'nobody'"),
        (["rita", "--expires-days", "0"], "--expires-days must be at least 1"),
    ],
)
def test_create_api_token_refuses_bad_arguments_and_creates_nothing(requester, args, message):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match=message):
        call_command("create_api_token", *args)
    assert ApiToken.objects.count() == 0
