"""OpenID Connect login against a real provider (panva's oidc-provider, started
by the tests): the authorization code flow with PKCE, state and nonce, the
account found by the provider's subject, the groups handed on, and every way
the provider can fail or lie refused with a clear page and nothing changed."""

from __future__ import annotations

import logging
import socket
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from axes.models import AccessFailureLog
from django.contrib.auth.models import User
from django.test import Client, override_settings
from rest_framework.test import APIClient

from portal.identity.models import OidcIdentity
from portal.identity.oidc_accounts import oidc_account_deactivate
from portal.identity.oidc_config import discovery_forget, oidc_settings_problems
from portal.identity.signals import groups_seen
from portal.identity.tasks import check_sso_accounts
from portal.integrations.tokens import token_create
from tests.factories import UserFactory
from tests.portal.identity.conftest import PASSWORD, app_code, logged_in_as, post_login
from tests.portal.identity.openid_provider import OpenIdProvider, provider_sign_in

pytestmark = pytest.mark.django_db(transaction=False)


@pytest.fixture
def seen() -> Any:
    """Every ``groups_seen`` sent during the test, as (sender, username, groups)."""
    received: list[tuple[str, str, list[str]]] = []

    def receiver(sender: str, user: User, groups: list[str], **kwargs: Any) -> None:
        received.append((sender, user.username, groups))

    groups_seen.connect(receiver, weak=False)
    yield received
    groups_seen.disconnect(receiver)


def start(client: Client, query: str = "") -> str:
    response = client.get(f"/oidc/authenticate/{query}")
    assert response.status_code == 302, response.content[:500]
    return str(response["Location"])


def sso(client: Client, provider: OpenIdProvider, username: str, password: str | None = None) -> Any:
    """A whole single sign-on: Squadron sends the browser to the provider,
    the person logs in there, the provider sends them back."""
    back = provider_sign_in(provider, start(client), username=username, password=password or f"pw-{username}")
    return client.get(back)


def everything() -> tuple:
    """What a refused login must leave as it was."""
    return (
        sorted(User.objects.values_list("username", "email", "first_name", "is_active")),
        sorted(OidcIdentity.objects.values_list("user__username", "subject", "last_login_at")),
    )


def test_login_page_offers_single_sign_on_only_when_set_up(client: Client, settings: Any) -> None:
    settings.SQUADRON_OIDC_ISSUER = ""
    assert "Sign in with" not in client.get("/login/").content.decode()
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/?code=x&state=y").status_code == 404

    settings.SQUADRON_OIDC_ISSUER = "https://id.corp.example"
    settings.SQUADRON_OIDC_NAME = "Corp ID"
    page = client.get("/login/?next=/orders/").content.decode()
    assert 'href="/oidc/authenticate/?next=/orders/"' in page
    assert "Sign in with Corp ID" in page


def test_the_request_carries_state_nonce_and_a_pkce_challenge(
    client: Client, openid_provider: OpenIdProvider
) -> None:
    query = parse_qs(urlsplit(start(client)).query)
    assert query["response_type"] == ["code"]
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43
    (state,) = query["state"]
    kept = client.session["oidc_states"][state]
    assert kept["nonce"] == query["nonce"][0]
    assert len(kept["code_verifier"]) >= 43


def test_first_login_creates_the_account_from_the_claims(
    client: Client, openid_provider: OpenIdProvider, seen: list
) -> None:
    openid_provider.add_user(username="ada", groups=["net-engineers", "finance-staff"])

    response = sso(client, openid_provider, "ada")

    assert response.status_code == 302 and response["Location"] == "/"
    ada = User.objects.get(username="ada")
    assert logged_in_as(client) == str(ada.pk)
    assert (ada.email, ada.first_name, ada.last_name) == ("ada@corp.example", "Ada", "Example")
    assert not ada.has_usable_password()
    identity = OidcIdentity.objects.get(user=ada)
    assert (identity.issuer, identity.subject) == (openid_provider.issuer, "sub-ada")
    assert identity.refresh_token  # kept (encrypted) to ask the provider about ada later
    assert "sub-ada" not in identity.refresh_token
    assert seen == [("oidc", "ada", ["finance-staff", "net-engineers"])]


def test_next_page_is_kept_across_the_provider(client: Client, openid_provider: OpenIdProvider) -> None:
    openid_provider.add_user(username="ada")
    back = provider_sign_in(
        openid_provider, start(client, "?next=/orders/"), username="ada", password="pw-ada"
    )
    assert client.get(back)["Location"] == "/orders/"


def test_next_page_elsewhere_is_not_followed(client: Client, openid_provider: OpenIdProvider) -> None:
    openid_provider.add_user(username="ada")
    login_url = start(client, "?next=https://evil.example/")
    back = provider_sign_in(openid_provider, login_url, username="ada", password="pw-ada")
    assert client.get(back)["Location"] == "/"


def test_later_logins_find_the_account_by_subject_and_follow_the_provider(
    client: Client, openid_provider: OpenIdProvider, seen: list
) -> None:
    openid_provider.add_user(username="ada", groups=["net-engineers"])
    sso(client, openid_provider, "ada")
    ada = User.objects.get(username="ada")
    client.logout()

    # Renamed and moved to another group at the provider: same subject.
    openid_provider.change_user("ada", username="ada.lovelace", email="ada@new.example", groups=["dba"])
    response = sso(Client(), openid_provider, "ada.lovelace", "pw-ada")

    assert response.status_code == 302
    ada.refresh_from_db()
    assert ada.username == "ada"  # a username never changes under its owner
    assert ada.email == "ada@new.example"
    assert User.objects.count() == 1
    assert seen[-1] == ("oidc", "ada", ["dba"])


def test_an_email_matching_a_local_account_does_not_log_into_it(
    client: Client, openid_provider: OpenIdProvider
) -> None:
    """The attack: register at the provider (or own a provider) with the
    email of a Squadron administrator, then sign in."""
    victim = UserFactory(username="victim", email="boss@corp.example", is_superuser=True, is_staff=True)
    openid_provider.add_user(username="mallory", email="boss@corp.example")

    response = sso(client, openid_provider, "mallory")

    assert response.status_code == 302
    mallory = User.objects.get(username="mallory")
    assert logged_in_as(client) == str(mallory.pk) != str(victim.pk)
    assert not mallory.is_superuser and not mallory.is_staff
    assert not OidcIdentity.objects.filter(user=victim).exists()


def test_a_username_matching_a_local_account_is_refused(
    client: Client, openid_provider: OpenIdProvider
) -> None:
    UserFactory(username="Victim", email="boss@corp.example", is_superuser=True)
    openid_provider.add_user(username="victim", email="boss@corp.example")
    before = everything()

    response = sso(client, openid_provider, "victim")

    assert response.status_code == 403
    assert "An account named victim already exists" in response.content.decode()
    assert logged_in_as(client) is None
    assert everything() == before


def test_an_administrator_links_a_local_account_by_subject(
    client: Client, openid_provider: OpenIdProvider
) -> None:
    local = UserFactory(username="victim")
    openid_provider.add_user(username="victim", sub="corp-0042")
    OidcIdentity.objects.create(user=local, issuer=openid_provider.issuer, subject="corp-0042")

    assert sso(client, openid_provider, "victim").status_code == 302
    assert logged_in_as(client) == str(local.pk)


def test_someone_disabled_at_the_provider_cannot_log_in(
    client: Client, openid_provider: OpenIdProvider
) -> None:
    openid_provider.add_user(username="ada")
    sso(Client(), openid_provider, "ada")
    openid_provider.change_user("ada", disabled=True)
    before = everything()

    response = sso(client, openid_provider, "ada")

    assert response.status_code == 403
    assert "Corp ID did not let you in: This account is disabled." in response.content.decode()
    assert logged_in_as(client) is None
    assert everything() == before


def test_a_refusal_for_no_login_of_this_browser_shows_none_of_its_words(client: Client) -> None:
    """Anyone can craft a link to the callback: its text must not become the portal's."""
    response = client.get(
        "/oidc/callback/?error=access_denied&error_description=Call+0900+123+to+unlock&state=x"
    )
    assert response.status_code == 404  # single sign-on is off

    with override_settings(SQUADRON_OIDC_ISSUER="https://id.corp.example", SQUADRON_OIDC_NAME="Corp ID"):
        response = client.get(
            "/oidc/callback/?error=access_denied&error_description=Call+0900+123+to+unlock&state=x"
        )
    assert response.status_code == 403
    assert "Corp ID did not let you in: it answered &#x27;access_denied&#x27;" in response.content.decode()
    assert "0900" not in response.content.decode()


def test_a_deactivated_account_cannot_log_in_nor_use_its_session_or_tokens(
    client: Client, openid_provider: OpenIdProvider
) -> None:
    openid_provider.add_user(username="ada")
    sso(client, openid_provider, "ada")
    ada = User.objects.get(username="ada")
    key = token_create(user=ada, name="ci").key
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/orders/").status_code == 200

    oidc_account_deactivate(identity=OidcIdentity.objects.get(user=ada), why="a test")

    assert api.get("/api/v1/orders/").status_code == 401
    assert client.get("/orders/").status_code == 302  # the session is nobody's now
    response = sso(Client(), openid_provider, "ada")
    assert response.status_code == 403
    assert "deactivated" in response.content.decode()


def test_provider_down_shows_a_page_and_local_login_still_works(
    client: Client, openid_provider: OpenIdProvider
) -> None:
    local = UserFactory(username="local")
    openid_provider.stop()
    before = everything()

    response = client.get("/oidc/authenticate/")

    assert response.status_code == 503
    assert "Corp ID cannot be reached right now" in response.content.decode()
    assert everything() == before
    assert post_login(client, "local", PASSWORD).status_code == 302
    assert logged_in_as(client) == str(local.pk)


def test_provider_gone_before_the_code_is_exchanged(client: Client, openid_provider: OpenIdProvider) -> None:
    openid_provider.add_user(username="ada")
    back = provider_sign_in(openid_provider, start(client), username="ada", password="pw-ada")
    openid_provider.stop()
    before = everything()

    response = client.get(back)

    assert response.status_code == 503
    assert "cannot be reached" in response.content.decode()
    assert logged_in_as(client) is None
    assert everything() == before
    assert client.session["oidc_states"] == {}  # that code cannot be tried again


@pytest.mark.parametrize("how", ["discovery-garbage", "discovery-issuer"])
def test_garbage_instead_of_the_discovery_document(
    client: Client, openid_provider: OpenIdProvider, how: str
) -> None:
    openid_provider.tamper(how)
    response = client.get("/oidc/authenticate/")
    assert response.status_code == 502
    assert "answered something Squadron cannot use" in response.content.decode()


@pytest.mark.parametrize("how", ["token-garbage", "userinfo-garbage"])
def test_garbage_from_the_token_or_userinfo_endpoint(
    client: Client, openid_provider: OpenIdProvider, how: str, seen: list
) -> None:
    openid_provider.add_user(username="ada")
    openid_provider.tamper(how)
    before = everything()

    response = sso(client, openid_provider, "ada")

    assert response.status_code == 502
    assert "answered something Squadron cannot use" in response.content.decode()
    assert logged_in_as(client) is None
    assert everything() == before
    assert seen == []


@pytest.mark.parametrize(
    "how", ["audience", "issuer", "nonce", "signature", "expired", "hs256", "unsigned", "userinfo-sub"]
)
def test_an_id_token_that_proves_nothing_is_refused_and_recorded(
    client: Client, openid_provider: OpenIdProvider, how: str, caplog: pytest.LogCaptureFixture, seen: list
) -> None:
    openid_provider.add_user(username="ada")
    openid_provider.tamper(how)
    before = everything()
    failures = AccessFailureLog.objects.count()

    with caplog.at_level(logging.WARNING, logger="portal.identity.oidc"):
        response = sso(client, openid_provider, "ada")

    assert response.status_code == 403
    assert "did not prove who you are" in response.content.decode()
    assert logged_in_as(client) is None
    assert everything() == before
    assert "Single sign-on refused (invalid-token)" in caplog.text
    assert AccessFailureLog.objects.count() == failures + 1
    assert AccessFailureLog.objects.latest("attempt_time").path_info == "/oidc/callback/"
    assert seen == []  # no groups from a login that did not happen


def test_a_locked_out_address_cannot_sign_in_through_the_provider_either(
    client: Client, openid_provider: OpenIdProvider, settings: Any
) -> None:
    settings.AXES_FAILURE_LIMIT = 2
    openid_provider.add_user(username="ada")
    back = provider_sign_in(openid_provider, start(client), username="ada", password="pw-ada")
    for _ in range(2):
        post_login(client, "someone", "wrong")
    before = everything()

    response = client.get(back)

    assert response.status_code == 429
    assert logged_in_as(client) is None
    assert everything() == before


def test_an_answer_for_no_login_of_this_browser_is_refused(
    client: Client, openid_provider: OpenIdProvider
) -> None:
    """Login CSRF: someone else's code (and state) sent to the victim's browser."""
    openid_provider.add_user(username="mallory")
    attacker = Client()
    back = provider_sign_in(openid_provider, start(attacker), username="mallory", password="pw-mallory")
    start(client)  # the victim has a login of their own under way
    before = everything()

    response = client.get(back)

    assert response.status_code == 403
    assert "belongs to no login started in this browser" in response.content.decode()
    assert logged_in_as(client) is None
    assert everything() == before
    # and the code's own browser cannot use it twice
    assert attacker.get(back).status_code == 302
    assert attacker.get(back).status_code == 403


@pytest.mark.parametrize("groups", [[1, 2], {"a": "b"}, ["x" * 300]])
def test_groups_that_are_not_names_are_refused(
    client: Client, openid_provider: OpenIdProvider, groups: Any
) -> None:
    openid_provider.add_user(username="ada", groups=groups)
    before = everything()
    response = sso(client, openid_provider, "ada")
    assert response.status_code == 403
    assert "are not a list of names" in response.content.decode()
    assert everything() == before


def test_a_username_django_cannot_hold_is_refused(client: Client, openid_provider: OpenIdProvider) -> None:
    openid_provider.add_user(username="ada lovelace; drop")
    response = sso(client, openid_provider, "ada lovelace; drop")
    assert response.status_code == 403
    assert "no usable username" in response.content.decode()
    assert not User.objects.exists()


def test_the_worker_deactivates_whom_the_provider_disabled(
    client: Client, openid_provider: OpenIdProvider
) -> None:
    openid_provider.add_user(username="ada")
    openid_provider.add_user(username="bob")
    sso(client, openid_provider, "ada")
    sso(Client(), openid_provider, "bob")
    ada = User.objects.get(username="ada")
    key = token_create(user=ada, name="ci").key
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    bob_token_before = OidcIdentity.objects.get(user__username="bob").refresh_token

    assert check_sso_accounts.apply().get() == {"active": 2, "deactivated": 0, "unknown": 0}
    assert api.get("/api/v1/orders/").status_code == 200

    openid_provider.change_user("ada", disabled=True)
    assert check_sso_accounts.apply().get() == {"active": 1, "deactivated": 1, "unknown": 0}

    ada.refresh_from_db()
    assert not ada.is_active
    assert User.objects.get(username="bob").is_active
    assert OidcIdentity.objects.get(user__username="bob").refresh_token != bob_token_before  # rotated
    assert api.get("/api/v1/orders/").status_code == 401
    assert client.get("/orders/").status_code == 302


def test_a_provider_that_is_down_deactivates_nobody(client: Client, openid_provider: OpenIdProvider) -> None:
    openid_provider.add_user(username="ada")
    sso(client, openid_provider, "ada")
    openid_provider.stop()

    assert check_sso_accounts.apply().get() == {"active": 0, "deactivated": 0, "unknown": 1}
    assert User.objects.get(username="ada").is_active


def test_whoever_set_up_a_two_step_login_gives_its_code_after_the_provider(
    client: Client, openid_provider: OpenIdProvider, enrol: Any
) -> None:
    openid_provider.add_user(username="ada")
    sso(Client(), openid_provider, "ada")
    _, key = enrol(User.objects.get(username="ada"))

    response = sso(client, openid_provider, "ada")

    assert response["Location"] == "/login/code/"
    assert logged_in_as(client) is None
    response = client.post("/login/code/", {"code": app_code(key, steps_ahead=1)})
    assert response.status_code == 302
    assert logged_in_as(client) == str(User.objects.get(username="ada").pk)


@pytest.mark.parametrize(
    ("issuer", "client_id", "secret", "scopes", "problem"),
    [
        ("http://id.corp.example", "c", "s", "openid", "must be an https:// URL"),
        ("https://id.corp.example?x=1", "c", "s", "openid", "no query or fragment"),
        ("https://id.corp.example", "", "s", "openid", "SQUADRON_OIDC_CLIENT_ID must be set"),
        (
            "https://id.corp.example",
            "c",
            "",
            "openid",
            "SQUADRON_OIDC_CLIENT_SECRET (or its _FILE) must be set",
        ),
        ("https://id.corp.example", "c", "s", "email profile", "must include openid"),
    ],
)
def test_a_configuration_that_cannot_work_is_refused_at_start_up(
    issuer: str, client_id: str, secret: str, scopes: str, problem: str
) -> None:
    problems = oidc_settings_problems(issuer=issuer, client_id=client_id, client_secret=secret, scopes=scopes)
    assert len(problems) == 1 and problem in problems[0]


@pytest.mark.parametrize(
    "issuer", ["https://id.corp.example/realms/x", "http://127.0.0.1:8080", "http://localhost"]
)
def test_a_configuration_that_works_is_accepted(issuer: str) -> None:
    assert (
        oidc_settings_problems(issuer=issuer, client_id="c", client_secret="s", scopes="openid email") == []
    )


def test_a_provider_that_never_answers_is_given_up_on(client: Client, settings: Any) -> None:
    """A provider that takes the connection and says nothing: without a
    timeout this test would hang, as would a web worker."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        settings.SQUADRON_OIDC_ISSUER = f"http://127.0.0.1:{silent.getsockname()[1]}"
        settings.SQUADRON_OIDC_CLIENT_ID = "c"
        settings.SQUADRON_OIDC_CLIENT_SECRET = "s"
        settings.SQUADRON_OIDC_TIMEOUT_SECONDS = 1
        discovery_forget()

        response = client.get("/oidc/authenticate/")

    assert response.status_code == 503
    assert "cannot be reached right now" in response.content.decode()
