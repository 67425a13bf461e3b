"""A squad member curating in the admin, in Chromium: the playbook editor
(line numbers, YAML highlighting, edits saved through the form), a version
shown read-only, the comparison of two versions, and axe on the admin pages
curators use most."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from catalogue.models import Product
from runbooks.models import Runbook
from runbooks.services import runbook_set_playbook
from squads.choices import Role
from tests.admin_forms import admin_url
from tests.browser.conftest import check_accessibility, log_in, screenshot
from tests.factories import (
    PLAYBOOK,
    MembershipFactory,
    ProductFactory,
    RunbookFactory,
    SquadFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db(transaction=True)

#: The colour the admin's stylesheet gives a YAML key (--code-key: #1e3a8a).
KEY_COLOUR = "rgb(30, 58, 138)"


@pytest.fixture
def network(transactional_db):  # type: ignore[no-untyped-def]
    return SquadFactory(slug="network", name="Network Squad")


@pytest.fixture
def nora(network):  # type: ignore[no-untyped-def]
    user = UserFactory(username="nora", first_name="Nora", last_name="Lind")
    MembershipFactory(user=user, squad=network, role=Role.PRODUCT_OWNER)
    return user


@pytest.fixture
def vlan_runbook(network):  # type: ignore[no-untyped-def]
    return RunbookFactory(squad=network, slug="create-vlan", name="Create VLAN")


def test_the_playbook_editor_numbers_lines_highlights_yaml_and_saves_through_the_form(
    page, nora, vlan_runbook
):
    log_in(page, nora)
    page.goto(admin_url(Runbook, "change", vlan_runbook.pk))

    editor = page.locator(".form-row.field-playbook .cm-editor")
    expect(editor).to_be_visible()
    # The text area is still in the form (it is what posts), only hidden.
    expect(page.locator("textarea#id_playbook")).to_be_hidden()
    expect(editor.locator(".cm-lineNumbers .cm-gutterElement", has_text=re.compile(r"^7$"))).to_be_visible()
    key = editor.locator(".cm-line span", has_text=re.compile(r"^hosts$")).first
    expect(key).to_have_css("color", KEY_COLOUR)
    # The editor is announced with the field's label.
    content = editor.locator(".cm-content")
    expect(content).to_have_attribute("aria-labelledby", "id_playbook-label")
    expect(page.locator("#id_playbook-label")).to_have_text(re.compile("Playbook"))

    editor.locator(".cm-line", has_text="msg: hello").click()
    page.keyboard.press("End")
    page.keyboard.type(" again")
    assert "msg: hello again" in page.locator("textarea#id_playbook").input_value()
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.locator("ul.messagelist .success")).to_be_visible()
    vlan_runbook.refresh_from_db()
    assert vlan_runbook.current_version.number == 2
    assert vlan_runbook.current_version.content == PLAYBOOK.replace("msg: hello", "msg: hello again")


def test_tab_indents_in_the_editor_and_escape_then_tab_leaves_it(page, nora, vlan_runbook):
    """Keyboard users are not trapped: Tab is the editor's, Escape hands it back."""
    log_in(page, nora)
    page.goto(admin_url(Runbook, "change", vlan_runbook.pk))
    editor = page.locator(".form-row.field-playbook .cm-editor")
    editor.locator(".cm-line", has_text="msg: hello").click()
    page.keyboard.press("Tab")
    expect(editor.locator(".cm-content")).to_be_focused()
    page.keyboard.press("Escape")
    page.keyboard.press("Tab")
    expect(editor.locator(".cm-content")).not_to_be_focused()
    assert page.evaluate("document.activeElement.closest('.cm-editor') === null")


def test_the_textarea_posts_unchanged_when_the_editor_is_left_alone(page, nora, vlan_runbook):
    """Saving other fields does not touch the playbook: no new version."""
    log_in(page, nora)
    page.goto(admin_url(Runbook, "change", vlan_runbook.pk))
    expect(page.locator(".cm-editor")).to_be_visible()
    page.get_by_label("Description").fill("Creates a VLAN on both switches")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.locator("ul.messagelist .success")).to_be_visible()
    vlan_runbook.refresh_from_db()
    assert vlan_runbook.description == "Creates a VLAN on both switches"
    assert vlan_runbook.current_version.number == 1


def test_a_version_is_shown_read_only_with_line_numbers(page, nora, vlan_runbook):
    log_in(page, nora)
    version = vlan_runbook.current_version
    page.goto(f"/admin/runbooks/runbookversion/{version.pk}/change/")

    editor = page.locator(".field-playbook .cm-editor")
    expect(editor).to_be_visible()
    expect(editor.locator(".cm-lineNumbers .cm-gutterElement", has_text=re.compile(r"^7$"))).to_be_visible()
    content = editor.locator(".cm-content")
    expect(content).to_have_attribute("aria-readonly", "true")
    editor.locator(".cm-line", has_text="msg: hello").click()
    page.keyboard.type("tampered")
    expect(editor).not_to_contain_text("tampered")


def test_comparing_two_versions_from_the_runbooks_page(page, nora, vlan_runbook):
    runbook_set_playbook(
        runbook=vlan_runbook, content=PLAYBOOK.replace("msg: hello", "msg: bonjour"), user=nora
    )
    log_in(page, nora)
    page.goto(admin_url(Runbook, "change", vlan_runbook.pk))
    page.get_by_role("link", name="Compare versions").click()

    expect(page.get_by_role("heading", name="Version 1 → version 2")).to_be_visible()
    expect(page.locator("tr.diff-removed")).to_contain_text("msg: hello")
    expect(page.locator("tr.diff-added")).to_contain_text("msg: bonjour")
    page.get_by_label("Compare version").select_option("2")
    page.get_by_label("with version").select_option("1")
    page.get_by_role("button", name="Compare").click()
    expect(page.get_by_role("heading", name="Version 2 → version 1")).to_be_visible()
    expect(page.locator("tr.diff-added")).to_contain_text("msg: hello")


def test_admin_pages_curators_use_have_no_serious_accessibility_problem(page, nora, network, vlan_runbook):
    runbook_set_playbook(
        runbook=vlan_runbook, content=PLAYBOOK.replace("msg: hello", "msg: bonjour"), user=nora
    )
    product = ProductFactory(squad=network, runbook=vlan_runbook, slug="vlan", name="New VLAN")
    page.goto("/admin/login/")
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    check_accessibility(page, "admin login")
    log_in(page, nora)
    pages = {
        "admin index": "/admin/",
        "product list": admin_url(Product, "changelist"),
        "product change": admin_url(Product, "change", product.pk),
        "runbook add": admin_url(Runbook, "add"),
        "runbook change": admin_url(Runbook, "change", vlan_runbook.pk),
        "version diff": f"/admin/runbooks/runbook/{vlan_runbook.pk}/diff/",
        "runbook version": f"/admin/runbooks/runbookversion/{vlan_runbook.current_version_id}/change/",
    }
    for name, url in pages.items():
        page.goto(url)
        expect(page.locator("#content")).to_be_visible()
        if "runbook" in name:
            expect(page.locator(".cm-editor").first).to_be_visible()
        screenshot(page, f"admin-{name.replace(' ', '-')}")
        check_accessibility(page, name)
