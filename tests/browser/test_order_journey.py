"""A business user's whole journey in a real browser, with a real Celery
worker running the demo catalogue's real VLAN playbook."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from playwright.sync_api import expect

from catalogue.importer import import_catalogue
from catalogue.models import Product
from portal.orders.choices import OrderStatus
from portal.orders.models import Order
from tests.browser.conftest import check_accessibility, log_out, main_nav, screenshot
from tests.factories import UserFactory
from tests.worker import Worker

DEMO_FILE = settings.BASE_DIR / "catalogue" / "demo" / "catalogue.yaml"


@pytest.fixture
def demo_catalogue(transactional_db):  # type: ignore[no-untyped-def]
    import_catalogue(DEMO_FILE, dry_run=False)
    return Product.objects.get(slug="vlan")


@pytest.fixture
def bea(transactional_db):  # type: ignore[no-untyped-def]
    return UserFactory(username="bea", first_name="Bea", last_name="Fischer")


@pytest.fixture
def worker():  # type: ignore[no-untyped-def]
    started = Worker(extra_env={"SQUADRON_HEARTBEAT_SECONDS": "1"}).start()
    yield started
    started.stop()


def test_business_user_searches_orders_with_a_mistake_fixes_it_and_watches_the_order_succeed(
    page, demo_catalogue, bea, worker
):
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login/"))
    page.get_by_label("Username").fill("bea")
    page.get_by_label("Password").fill("pw-for-tests-1")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Service catalogue", level=1)).to_be_visible()
    screenshot(page, "catalogue-home")
    check_accessibility(page, "catalogue home")

    # A typo still finds the product, live as the user types.
    page.get_by_role("searchbox", name="Search the catalogue").fill("vlna")
    expect(page.get_by_role("heading", name="1 result for “vlna”")).to_be_visible()
    expect(page).to_have_url(re.compile(r"q=vlna"))
    screenshot(page, "catalogue-search")
    page.get_by_role("link", name="New VLAN").click()
    expect(page.get_by_role("heading", name="New VLAN", level=1)).to_be_visible()
    expect(page.get_by_text("Network Squad").first).to_be_visible()
    screenshot(page, "product-vlan")
    check_accessibility(page, "product page")

    # Mistakes the browser does not check (the name misses the squad's
    # pattern, which only the server runs, with RE2; the address is not
    # IPv4): the server names each next to its field.
    page.get_by_label("VLAN ID").fill("120")
    name = page.get_by_label("VLAN name")
    name.fill("9 finance")
    page.get_by_label("Gateway address").fill("10.20.30.300")
    page.get_by_role("button", name="Review order").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("There are problems with your order")
    gateway = page.get_by_label("Gateway address")
    expect(gateway).to_have_attribute("aria-invalid", "true")
    expect(name).to_have_attribute("aria-invalid", "true")
    # Each field's own error, found by its field.
    errors = page.locator(".field-error")
    expect(errors).to_have_count(2)
    expect(errors.filter(has_text="VLAN name")).to_contain_text(
        "Not in the expected format; for example: FINANCE_USERS."
    )
    expect(errors.filter(has_text="Gateway address")).to_contain_text("Must be a valid ipv4.")
    expect(name).to_have_value("9 finance")  # what was typed is kept
    expect(gateway).to_have_value("10.20.30.300")
    assert Order.objects.count() == 0
    screenshot(page, "order-form-error")
    check_accessibility(page, "order form with an error")

    name.fill("FINANCE_USERS")
    gateway.fill("10.20.30.1")
    page.get_by_role("button", name="Review order").click()
    expect(page.get_by_role("heading", name="Review your order")).to_be_visible()
    expect(page.locator(".inputs")).to_contain_text("FINANCE_USERS")
    screenshot(page, "order-review")
    check_accessibility(page, "review step")
    assert Order.objects.count() == 0, "nothing is ordered before the user confirms"
    page.get_by_role("button", name="Place order").click()

    expect(page.get_by_role("heading", name=re.compile(r"Order #\d+ · New VLAN"))).to_be_visible()
    order = Order.objects.get()
    assert order.requester == bea
    assert order.inputs["gateway"] == "10.20.30.1"
    page.evaluate("window.__sameDocument = true")
    # The page follows the run without being reloaded.
    expect(page.locator("#order-head .badge")).to_have_text(re.compile("Succeeded"), timeout=90_000)
    log = page.locator(f"#log-{Order.objects.get().current_run_id}")
    expect(log).to_contain_text("VLAN 120 (FINANCE_USERS) is now configured on 3 access switches of par1.")
    expect(log).to_contain_text("PLAY RECAP")
    assert page.evaluate("window.__sameDocument") is True
    expect(page.locator("#order-timeline")).to_contain_text("Started")
    expect(page.locator("#order-timeline")).to_contain_text("Succeeded")
    expect(page.locator("#order-summary")).to_contain_text("Done in")
    assert Order.objects.get().status == OrderStatus.SUCCEEDED
    expect(page.locator("#order-poller[data-finished]")).to_have_count(1)  # polling stopped
    # "Order #1 placed: it will start in a moment" is no longer true: it goes.
    expect(page.locator("#messages")).to_be_hidden()
    screenshot(page, "order-succeeded")
    check_accessibility(page, "order page")

    main_nav(page).get_by_role("link", name="My orders").click()
    expect(page.locator("table.orders")).to_contain_text("New VLAN")
    expect(page.locator("table.orders .badge")).to_have_text(re.compile("Succeeded"))
    screenshot(page, "my-orders")
    check_accessibility(page, "my orders")

    log_out(page)
    expect(page.get_by_role("heading", name="Log in to Squadron")).to_be_visible()
    check_accessibility(page, "login page")
