"""What a single sign-on takes from the provider's claims, and what it
refuses, without a provider: the shapes a hostile or broken one could send."""

from __future__ import annotations

from typing import Any

import pytest

from portal.identity.oidc_accounts import SignInRefused, sign_in_claims
from portal.identity.oidc_config import OidcConfig

CONFIG = OidcConfig(
    issuer="https://id.corp.example",
    client_id="c",
    client_secret="s",
    name="Corp ID",
    scopes="openid",
    username_claim="preferred_username",
    groups_claim="groups",
    timeout=1.0,
)
GOOD = {"sub": "s-1", "preferred_username": "ada", "email": "ada@corp.example"}


def test_the_claims_of_an_account() -> None:
    claims = sign_in_claims({**GOOD, "name": "Ada Lovelace", "groups": ["b", "a", "b"]}, config=CONFIG)
    assert (claims.subject, claims.username, claims.email) == ("s-1", "ada", "ada@corp.example")
    assert (claims.first_name, claims.last_name) == ("Ada Lovelace", "")  # no given/family name: the name
    assert claims.groups == ["a", "b"]


def test_a_lone_group_as_a_string_and_no_groups_at_all() -> None:
    assert sign_in_claims({**GOOD, "groups": "dba"}, config=CONFIG).groups == ["dba"]
    assert sign_in_claims(GOOD, config=CONFIG).groups == []


@pytest.mark.parametrize("email", ["not an address", 42, "x" * 300 + "@corp.example"])
def test_an_email_that_is_none_is_dropped(email: Any) -> None:
    assert sign_in_claims({**GOOD, "email": email}, config=CONFIG).email == ""


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"sub": None}, "did not say who you are"),
        ({"sub": ""}, "did not say who you are"),
        ({"sub": "s" * 256}, "did not say who you are"),
        ({"sub": 42}, "did not say who you are"),
        ({"preferred_username": None}, "no usable username"),
        ({"preferred_username": "a" * 151}, "no usable username"),
        ({"preferred_username": ["ada"]}, "no usable username"),
        ({"groups": ["ok"] * 1001}, "not a list of names"),
        ({"groups": [""]}, "not a list of names"),
    ],
)
def test_claims_no_account_can_be_made_of_are_refused(changes: dict, says: str) -> None:
    with pytest.raises(SignInRefused, match=says):
        sign_in_claims({**GOOD, **changes}, config=CONFIG)
