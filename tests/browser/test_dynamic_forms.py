"""Forms that think, in a real browser: a database's replica count that
shows only for the production tier (and whose value, hidden, never reaches
the order), and a VM attached to one of my VLANs, picked from my own, whose
real playbook, run by a real worker, gets the VLAN's attributes."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from playwright.sync_api import expect

from catalogue.importer import import_catalogue
from catalogue.models import Product
from portal.instances.choices import InstanceState
from portal.instances.models import InstanceDependency, ServiceInstance
from portal.orders.models import Order
from tests.browser.conftest import check_accessibility, log_in, screenshot
from tests.factories import UserFactory
from tests.worker import Worker

DEMO_FILE = settings.BASE_DIR / "catalogue" / "demo" / "catalogue.yaml"


@pytest.fixture
def demo_catalogue(transactional_db):  # type: ignore[no-untyped-def]
    import_catalogue(DEMO_FILE, dry_run=False)


@pytest.fixture
def bea(transactional_db):  # type: ignore[no-untyped-def]
    return UserFactory(username="bea", first_name="Bea", last_name="Fischer")


def test_the_replica_count_shows_only_for_production_and_hidden_is_not_sent(page, demo_catalogue, bea):
    log_in(page, bea)
    page.goto("/products/postgres-database/")
    replicas = page.get_by_role("spinbutton", name=re.compile("Replica count"))
    tier = page.get_by_role("combobox", name=re.compile("Tier"))
    expect(replicas).to_be_hidden()

    tier.select_option("production")
    expect(replicas).to_be_visible()
    replicas.fill("4")
    screenshot(page, "conditional-field-shown")
    check_accessibility(page, "conditional field shown")
    tier.select_option("development")
    expect(replicas).to_be_hidden()

    page.get_by_role("textbox", name=re.compile("Database name")).fill("scratch")
    page.get_by_role("button", name="Review order").click()
    review = page.locator("main")
    expect(review).to_contain_text("development")
    expect(review).not_to_contain_text("Replica count")
    page.get_by_role("button", name="Place order").click()
    expect(page.get_by_role("heading", name=re.compile(r"Order #\d+"))).to_be_visible()
    order = Order.objects.get(requester=bea)
    assert "replica_count" not in order.inputs and order.inputs["tier"] == "development"

    # Shown again, it is sent: a production database with its replicas.
    page.goto("/products/postgres-database/")
    page.get_by_role("combobox", name=re.compile("Tier")).select_option("production")
    page.get_by_role("spinbutton", name=re.compile("Replica count")).fill("3")
    page.get_by_role("textbox", name=re.compile("Database name")).fill("billing")
    page.get_by_role("button", name="Review order").click()
    expect(page.locator("main")).to_contain_text("Replica count")
    page.get_by_role("button", name="Place order").click()
    expect(page.get_by_role("heading", name=re.compile(r"Order #\d+"))).to_be_visible()
    latest = Order.objects.filter(requester=bea).latest("pk")
    assert latest.inputs["replica_count"] == 3 and latest.inputs["tier"] == "production"


#: Records the listeners Squadron's script (not HTMX) attaches to a
#: conditional form, and notes when HTMX has announced the page loaded (its
#: htmx:load on the body, after DOMContentLoaded: the two moments the script
#: initialises at). Injected by the browser, not the page: no CSP involved.
COUNT_FORM_LISTENERS = r"""
window.conditionListeners = [];
const attach = EventTarget.prototype.addEventListener;
EventTarget.prototype.addEventListener = function (type, listener, options) {
  if (this instanceof HTMLFormElement && this.hasAttribute("data-conditions")
      && /\/squadron[.\w]*\.js/.test(new Error().stack)) {
    window.conditionListeners.push(type);
  }
  return attach.call(this, type, listener, options);
};
document.addEventListener("htmx:load", function () { window.htmxLoaded = true; });
"""


def test_the_conditional_form_listens_once_though_the_page_is_initialised_twice(page, demo_catalogue, bea):
    page.add_init_script(COUNT_FORM_LISTENERS)
    log_in(page, bea)
    page.goto("/products/postgres-database/")
    page.wait_for_function("window.htmxLoaded === true")
    assert sorted(page.evaluate("window.conditionListeners")) == ["change", "input"]
    form = page.locator("form[data-conditions]")
    expect(form).to_have_attribute("data-conditions-ready", "1")

    # Content HTMX puts in the page later initialises what is new in it, not this form again.
    page.evaluate("htmx.trigger(document.body, 'htmx:load', {elt: document.body})")
    assert sorted(page.evaluate("window.conditionListeners")) == ["change", "input"]
    tier = page.get_by_role("combobox", name=re.compile("Tier"))
    tier.select_option("production")
    expect(page.get_by_role("spinbutton", name=re.compile("Replica count"))).to_be_visible()


@pytest.fixture
def worker():  # type: ignore[no-untyped-def]
    started = Worker(extra_env={"SQUADRON_HEARTBEAT_SECONDS": "1"}).start()
    yield started
    started.stop()


def test_pick_one_of_my_vlans_and_the_playbook_gets_its_attributes(page, demo_catalogue, bea, worker):
    vlan_product = Product.objects.get(slug="vlan")
    attributes = {"vlan_id": 120, "vlan_name": "FINANCE_USERS", "site": "par1", "gateway": "10.20.30.1"}
    mine = ServiceInstance.objects.create(
        product=vlan_product, owner=bea, name="VLAN 120 FINANCE_USERS (par1)", state=InstanceState.ACTIVE,
        attributes=attributes,
    )  # fmt: skip
    ServiceInstance.objects.create(
        product=vlan_product, owner=UserFactory(username="ben"), name="VLAN 130 BEN (ams1)",
        state=InstanceState.ACTIVE,
    )  # fmt: skip

    log_in(page, bea)
    page.goto("/products/vm/")
    vlan = page.get_by_role("combobox", name=re.compile("Attach to which VLAN"))
    options = vlan.locator("option")
    expect(options).to_have_text(["(none)", f"VLAN 120 FINANCE_USERS (par1) (#{mine.pk})"])
    vlan.select_option(label=f"VLAN 120 FINANCE_USERS (par1) (#{mine.pk})")
    page.get_by_role("textbox", name=re.compile("Host name")).fill("billing-app-01")
    page.get_by_role("textbox", name=re.compile("Owner's e-mail")).fill("bea@northwind.example")
    screenshot(page, "dynamic-choice-vlan")
    check_accessibility(page, "dynamic choices")
    page.get_by_role("button", name="Review order").click()
    expect(page.locator("main")).to_contain_text(f"VLAN 120 FINANCE_USERS (par1) (#{mine.pk})")
    page.get_by_role("button", name="Place order").click()
    expect(page.locator("#order-head .badge")).to_have_text(re.compile("Succeeded"), timeout=90_000)
    expect(page.locator("main")).to_contain_text(
        "Network: VLAN 120 FINANCE_USERS at par1, gateway 10.20.30.1."
    )

    order = Order.objects.get(requester=bea)
    assert order.inputs["vlan"] == mine.pk
    vm = ServiceInstance.objects.get(created_by_order=order)
    assert vm.attributes["network"] == "VLAN 120 FINANCE_USERS at par1, gateway 10.20.30.1"
    assert InstanceDependency.objects.filter(instance=vm, depends_on=mine).exists()
