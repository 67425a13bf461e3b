"""A squad member curates their squad's choice list in the admin, in
Chromium: the options are there to change, one more is added with the
admin's own "Add another" row, and the page saves it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from catalogue.models import ChoiceItem, ChoiceList
from tests.browser.conftest import log_in, screenshot

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_squad_member_adds_an_option_to_their_list(page, squad, member):
    zones = ChoiceList.objects.create(slug="fw-zones", name="Firewall zones", squad=squad)
    ChoiceItem.objects.create(choice_list=zones, value="dmz", label="DMZ", position=0)
    log_in(page, member)

    page.goto(f"/admin/catalogue/choicelist/{zones.pk}/change/")
    options = page.locator("#items-group")
    expect(options).to_be_visible()
    expect(options.locator('input[value="dmz"]')).to_be_visible()
    options.locator("tr.add-row a").click()
    new_row = options.locator("tr.dynamic-items").last
    new_row.locator('input[name$="-position"]').fill("1")
    new_row.locator('input[name$="-value"]').fill("office")
    new_row.locator('input[name$="-label"]').fill("Office LAN")
    screenshot(page, "choice-list-admin")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    assert list(zones.items.values_list("value", "label")) == [("dmz", "DMZ"), ("office", "Office LAN")]
