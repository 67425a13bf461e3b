"""Ordering for a business unit in a real browser, on the demo catalogue:
Ben belongs to Finance and Logistics, so the order form asks which one; an
order over Logistics's quota comes back to the product page saying which
quota, its limit and the use, and nothing is placed."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from playwright.sync_api import expect

from catalogue.importer import import_catalogue
from portal.orders.models import Order
from tests.browser.conftest import check_accessibility, log_in, screenshot
from tests.factories import UserFactory

pytestmark = pytest.mark.slow

DEMO_FILE = settings.BASE_DIR / "catalogue" / "demo" / "catalogue.yaml"


@pytest.fixture
def ben(transactional_db):  # type: ignore[no-untyped-def]
    import_catalogue(DEMO_FILE, dry_run=False)  # Ben is in Finance and Logistics
    return UserFactory(username="ben", first_name="Ben", last_name="Osei")


def fill_namespace(page, name: str, cores: str) -> None:  # type: ignore[no-untyped-def]
    page.get_by_role("textbox", name="Namespace (required)").fill(name)
    page.get_by_role("textbox", name="Team e-mail (required)").fill("logistics@northwind.example")
    page.get_by_role("spinbutton", name=re.compile("CPU quota")).fill(cores)


def test_a_member_of_two_units_picks_one_and_an_order_over_its_quota_is_refused(page, ben):  # type: ignore[no-untyped-def]
    log_in(page, ben)
    page.goto("/products/k8s-namespace/")
    unit = page.get_by_label("Business unit (required)")
    expect(unit).to_be_visible()
    check_accessibility(page, "order form with a business unit to pick")

    # Not picking one: the browser itself stops the form (the select is
    # required); without that check the server says it next to the field.
    fill_namespace(page, "routing-dev", "4")
    page.get_by_role("button", name="Review order").click()
    assert unit.evaluate("select => select.validity.valueMissing")
    expect(page.get_by_role("heading", name="Kubernetes namespace", level=1)).to_be_visible()
    unit.evaluate("select => select.removeAttribute('required')")
    page.get_by_role("button", name="Review order").click()
    expect(page.get_by_role("alert")).to_contain_text("Business unit: You belong to several business units")
    expect(page.locator(".field-error")).to_contain_text("choose the one this order is for")
    assert Order.objects.count() == 0

    page.get_by_label("Business unit (required)").select_option(label="Logistics")
    fill_namespace(page, "routing-dev", "4")
    page.get_by_role("button", name="Review order").click()
    expect(page.get_by_role("heading", name="Review your order")).to_be_visible()
    expect(page.get_by_text("For Logistics")).to_be_visible()
    page.get_by_role("button", name="Place order").click()
    expect(page.get_by_role("heading", name=re.compile(r"Order #\d+ · Kubernetes namespace"))).to_be_visible()
    expect(page.locator(".facts-wide")).to_contain_text("Logistics")
    assert Order.objects.get().business_unit.slug == "logistics"

    # 4 of Logistics's 8 cores are on order: 6 more would make 10.
    page.goto("/products/k8s-namespace/")
    quotas = page.locator("section[aria-labelledby=quota-heading]")
    expect(quotas).to_contain_text("4 of 8")
    page.get_by_label("Business unit (required)").select_option(label="Logistics")
    fill_namespace(page, "routing-test", "6")
    page.get_by_role("button", name="Review order").click()
    page.get_by_role("button", name="Place order").click()
    expect(page).to_have_url(re.compile(r"/products/k8s-namespace/$"))
    expect(page.get_by_role("alert").or_(page.locator(".messages"))).to_contain_text(
        "Logistics's quota for Kubernetes namespace is 8 cpu_cores in total, and 4 are in use or on order: "
        "this order adds 6, making 10 (2 over)."
    )
    assert Order.objects.count() == 1
    screenshot(page, "order-over-quota")
    check_accessibility(page, "product page after an order over quota")
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the product page is {overflow}px wider than a {width}px window"
