"""Handing a service over in a real browser: its owner offers it from its
page, the recipient finds it under "Offered to you" on My services, looks
at it, accepts, and then finds it among their services."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from portal.instances.choices import TransferState
from portal.instances.models import InstanceTransfer, ServiceInstance
from tests.browser.conftest import check_accessibility, log_in, main_nav, screenshot
from tests.factories import UserFactory
from tests.instances import create


def test_the_owner_offers_a_service_and_the_recipient_accepts_it(transactional_db, page, database):
    rita = UserFactory(username="rita", first_name="Rita", last_name="Weber")
    oscar = UserFactory(username="oscar", first_name="Oscar", last_name="Lind")
    instance = create(database, rita)

    log_in(page, rita)
    page.goto(f"/instances/{instance.pk}/")
    transfer = page.locator("section[aria-labelledby=transfer-heading]")
    transfer.get_by_role("textbox", name=re.compile("Offer to")).fill("oscar@example.com")
    transfer.get_by_role("textbox", name="Note").fill("You run billing from Monday.")
    transfer.get_by_role("button", name="Offer").click()
    expect(page.locator(".message-success")).to_contain_text("orders-db is offered to Oscar Lind")
    expect(transfer).to_contain_text("Offered to Oscar Lind")
    expect(transfer.get_by_role("button", name="Withdraw the offer")).to_be_visible()
    check_accessibility(page, "instance page with a pending offer")
    screenshot(page, "instance-offered-by-me")

    page.context.clear_cookies()
    log_in(page, oscar)
    page.goto("/instances/")
    offers = page.locator("section[aria-labelledby=offers-heading]")
    expect(offers.get_by_role("heading", name="Offered to you")).to_be_visible()
    expect(offers).to_contain_text("from Rita Weber")
    expect(offers).to_contain_text("You run billing from Monday.")
    check_accessibility(page, "my services with an offer")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "offered-to-you-390")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "no sideways scroll"
    page.set_viewport_size({"width": 1440, "height": 900})
    screenshot(page, "offered-to-you-1440")

    offers.get_by_role("link", name="orders-db").click()
    offer = page.locator("section[aria-labelledby=offer-heading]")
    expect(offer).to_contain_text("Rita Weber offers you this service")
    expect(page.get_by_role("link", name="Resize")).to_have_count(0)
    check_accessibility(page, "instance page offered to me")
    screenshot(page, "instance-offered-to-me")
    offer.get_by_role("button", name="Accept orders-db").click()

    expect(page.locator(".message-success")).to_contain_text("You now own orders-db.")
    expect(page.get_by_text("owned by Oscar Lind")).to_be_visible()
    expect(page.locator("section[aria-labelledby=history-heading]")).to_contain_text(
        "Transferred from Rita Weber to Oscar Lind"
    )
    main_nav(page).get_by_role("link", name="My services").click()
    row = page.locator("table.instances tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("orders-db")
    expect(row).to_contain_text("oscar")
    expect(page.get_by_role("heading", name="Offered to you")).to_have_count(0)
    screenshot(page, "accepted-my-services")

    assert ServiceInstance.objects.get(pk=instance.pk).owner == oscar
    assert InstanceTransfer.objects.get().state == TransferState.ACCEPTED
