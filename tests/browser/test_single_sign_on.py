"""Single sign-on in a real browser against the real OpenID provider: the
whole authorization code flow with PKCE, the provider's own login page
included, and what a person sees when the provider refuses or is down."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from portal.identity.models import GroupMapping, MembershipChange, OidcIdentity
from squads.choices import Role
from squads.models import Membership
from tests.browser.conftest import check_accessibility, log_out, main_nav, screenshot
from tests.factories import SquadFactory, UserFactory
from tests.portal.identity.conftest import PASSWORD
from tests.portal.identity.openid_provider import OpenIdProvider

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def provider(openid_provider: OpenIdProvider, live_server) -> OpenIdProvider:  # type: ignore[no-untyped-def]
    openid_provider.allow_redirect(f"{live_server.url}/oidc/callback/")
    return openid_provider


def sign_in_at_provider(page, username: str, password: str) -> None:  # type: ignore[no-untyped-def]
    page.goto("/login/?next=/orders/")
    check_accessibility(page, "login with single sign-on")
    screenshot(page, "login-with-single-sign-on")
    page.get_by_role("link", name="Sign in with Corp ID").click()
    expect(page.get_by_role("heading", name="Test identity provider")).to_be_visible()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def expected_refusal(page, status: int) -> None:  # type: ignore[no-untyped-def]
    """The refusal page's status is as meant: Chromium logs it as an error."""
    logged = [error for error in page.problems.errors if f"status of {status}" in error]
    assert logged, f"no page answered {status}"
    page.problems.errors[:] = [error for error in page.problems.errors if error not in logged]


def test_a_person_signs_in_through_the_provider(page, provider: OpenIdProvider) -> None:  # type: ignore[no-untyped-def]
    provider.add_user(username="ada", groups=["net-engineers"])

    sign_in_at_provider(page, "ada", "pw-ada")

    expect(page.get_by_role("heading", name="My orders", level=1)).to_be_visible()
    screenshot(page, "single-sign-on-landed")
    ada = User.objects.get(username="ada")
    assert OidcIdentity.objects.get(user=ada).subject == "sub-ada"
    log_out(page)
    expect(page.get_by_role("link", name="Sign in with Corp ID")).to_be_visible()


def test_logs_in_through_the_real_provider_and_lands_with_the_squads_its_groups_map_to(
    page,
    provider: OpenIdProvider,  # type: ignore[no-untyped-def]
) -> None:
    """Moving the user to another group at the provider and logging in again changes its squads."""
    network, storage = SquadFactory(slug="network", name="Network Squad"), SquadFactory(slug="storage")
    GroupMapping.objects.create(group="net-engineers", squad=network, role=Role.ENGINEER)
    GroupMapping.objects.create(group="storage-leads", squad=storage, role=Role.PRODUCT_OWNER)
    provider.add_user(username="ada", groups=["net-engineers", "unmapped"])

    sign_in_at_provider(page, "ada", "pw-ada")

    expect(page.get_by_role("heading", name="My orders", level=1)).to_be_visible()
    nav = main_nav(page)
    # A squad's member: the squad's approvals and queue are theirs.
    expect(nav.get_by_role("link", name=re.compile(r"^Queue"))).to_be_visible()
    assert list(Membership.objects.filter(user__username="ada").values_list("squad__slug", "role")) == [
        ("network", "engineer")
    ]

    log_out(page)
    provider.change_user("ada", groups=["storage-leads"])
    page.goto("/login/?next=/orders/")
    # Still signed in at the provider, which sends the browser straight back
    # with the groups it has now.
    page.get_by_role("link", name="Sign in with Corp ID").click()

    expect(page.get_by_role("heading", name="My orders", level=1)).to_be_visible()
    assert list(Membership.objects.filter(user__username="ada").values_list("squad__slug", "role")) == [
        ("storage", "product_owner")
    ]
    # The mapping recorded each change as made through the OpenID provider.
    assert set(MembershipChange.objects.filter(username="ada").values_list("source", "action", "target")) == {
        ("oidc", "granted", "network"),
        ("oidc", "withdrawn", "network"),
        ("oidc", "granted", "storage"),
    }


def test_someone_disabled_at_the_provider_is_told_so(page, provider: OpenIdProvider) -> None:  # type: ignore[no-untyped-def]
    provider.add_user(username="ada", disabled=True)

    sign_in_at_provider(page, "ada", "pw-ada")

    expect(page.get_by_role("heading", name="Not logged in with Corp ID")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("This account is disabled")
    check_accessibility(page, "single sign-on refused")
    screenshot(page, "single-sign-on-refused")
    assert not User.objects.filter(username="ada").exists()
    expected_refusal(page, 403)


def test_provider_down_then_local_login(page, provider: OpenIdProvider) -> None:  # type: ignore[no-untyped-def]
    UserFactory(username="bea")
    provider.stop()

    page.goto("/login/")
    page.get_by_role("link", name="Sign in with Corp ID").click()
    expect(page.get_by_role("alert")).to_contain_text("Corp ID cannot be reached right now")
    expected_refusal(page, 503)
    page.get_by_role("link", name="Back to the login page").click()
    page.get_by_label("Username").fill("bea")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Service catalogue", level=1)).to_be_visible()
