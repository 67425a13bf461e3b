"""Logging in with a company directory account on the real login page, in
a real browser, against a real OpenLDAP (tests/ldap_directory.py): the
person lands with the squads their groups map to, moving them to another
group moves them at the next login, and a directory that does not answer
is named on the page while a local account still logs in."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from portal.identity.models import GroupMapping
from squads.choices import Role
from squads.models import Membership
from tests.browser.conftest import check_accessibility, log_out, main_nav, screenshot
from tests.factories import SquadFactory, UserFactory
from tests.ldap_directory import free_port, ldap_settings
from tests.portal.identity.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def log_in_as(page, username: str, password: str) -> None:  # type: ignore[no-untyped-def]
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_a_directory_login_lands_with_its_mapped_squads_and_follows_its_groups(
    page,
    ldap_directory,
    settings,  # type: ignore[no-untyped-def]
):
    for name, value in ldap_settings(ldap_directory).items():
        setattr(settings, name, value)
    network, storage = SquadFactory(slug="network", name="Network Squad"), SquadFactory(slug="storage")
    GroupMapping.objects.create(group="net-engineers", squad=network, role=Role.ENGINEER)
    GroupMapping.objects.create(group="storage-leads", squad=storage, role=Role.PRODUCT_OWNER)

    log_in_as(page, "bea", "bea-directory-pw")

    expect(page.get_by_role("heading", name="Service catalogue", level=1)).to_be_visible()
    nav = main_nav(page)
    # A squad's member: the squad's approvals and queue are theirs.
    expect(nav.get_by_role("link", name=re.compile(r"^Queue"))).to_be_visible()
    assert list(Membership.objects.filter(user__username="bea").values_list("squad__slug", "role")) == [
        ("network", "engineer")
    ]

    log_out(page)
    ldap_directory.move("bea", from_group="net-engineers", to_group="storage-leads")
    log_in_as(page, "bea", "bea-directory-pw")

    expect(page.get_by_role("heading", name="Service catalogue", level=1)).to_be_visible()
    assert list(Membership.objects.filter(user__username="bea").values_list("squad__slug", "role")) == [
        ("storage", "product_owner")
    ]


def test_a_directory_that_does_not_answer_is_named_and_a_local_account_still_logs_in(
    page,
    settings,  # type: ignore[no-untyped-def]
):
    settings.SQUADRON_LDAP_SERVER_URI = f"ldap://127.0.0.1:{free_port()}"
    settings.SQUADRON_LDAP_USER_SEARCH_BASE = "ou=people,dc=example,dc=org"
    UserFactory(username="lee")

    log_in_as(page, "bea", "bea-directory-pw")

    expect(page.get_by_role("alert")).to_contain_text("The company directory (LDAP) did not answer")
    check_accessibility(page, "directory down")
    screenshot(page, "ldap-down")
    log_in_as(page, "lee", PASSWORD)
    expect(page.get_by_role("heading", name="Service catalogue", level=1)).to_be_visible()
