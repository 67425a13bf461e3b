"""A service's life in a real browser, with a real Celery worker running
the demo catalogue's real namespace playbooks: order it, find it under My
services, order an operation from its page (the form filled in from its
attributes) and watch the instance change; a changing service's badge
live on My services, and what depends on an instance on its page."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from playwright.sync_api import expect

from catalogue.importer import import_catalogue
from portal.instances.choices import InstanceState
from portal.instances.models import ServiceInstance
from portal.instances.services import operation_order
from portal.orders.execution import order_start
from portal.orders.models import Order
from tests.browser.conftest import check_accessibility, log_in, main_nav, screenshot
from tests.factories import SquadFactory, UserFactory
from tests.instances import create, create_app, make_app, make_database, play_started
from tests.worker import Worker

DEMO_FILE = settings.BASE_DIR / "catalogue" / "demo" / "catalogue.yaml"


@pytest.fixture
def demo_catalogue(transactional_db):  # type: ignore[no-untyped-def]
    import_catalogue(DEMO_FILE, dry_run=False)


@pytest.fixture
def bea(transactional_db):  # type: ignore[no-untyped-def]
    return UserFactory(username="bea", first_name="Bea", last_name="Fischer")


@pytest.fixture
def worker():  # type: ignore[no-untyped-def]
    started = Worker(extra_env={"SQUADRON_HEARTBEAT_SECONDS": "1"}).start()
    yield started
    started.stop()


def test_order_a_namespace_find_it_under_my_services_and_change_its_quota(page, demo_catalogue, bea, worker):
    log_in(page, bea)
    page.goto("/products/k8s-namespace/")
    page.get_by_role("textbox", name="Namespace (required)").fill("billing-dev")
    page.get_by_role("textbox", name="Team e-mail (required)").fill("billing@northwind.example")
    page.get_by_role("button", name="Review order").click()
    page.get_by_role("button", name="Place order").click()
    expect(page.locator("#order-head .badge")).to_have_text(re.compile("Succeeded"), timeout=90_000)

    main_nav(page).get_by_role("link", name="My services").click()
    expect(page.get_by_role("heading", name="My services", level=1)).to_be_visible()
    row = page.locator("table.instances tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("billing-dev")
    expect(row).to_contain_text("Active")
    expect(row).to_contain_text("25.00")
    screenshot(page, "my-services")
    check_accessibility(page, "my services")

    row.get_by_role("link", name="billing-dev").click()
    expect(page.get_by_role("heading", name="billing-dev", level=1)).to_be_visible()
    attributes = page.locator("section[aria-labelledby=attributes-heading]")
    expect(attributes).to_contain_text("memory_gib")
    expect(page.get_by_role("link", name="Cluster dashboard")).to_be_visible()
    check_accessibility(page, "instance page")
    page.get_by_role("link", name="Change quota").click()

    memory = page.get_by_role("spinbutton", name=re.compile("Memory quota"))
    expect(memory).to_have_value("4")  # from the instance's attributes
    memory.fill("16")
    page.get_by_role("button", name="Order Change quota").click()
    expect(page.get_by_role("heading", name=re.compile(r"Order #\d+ · Kubernetes namespace"))).to_be_visible()
    expect(page.locator("#order-head .badge")).to_have_text(re.compile("Succeeded"), timeout=90_000)

    instance = ServiceInstance.objects.get()
    page.goto(f"/instances/{instance.pk}/")
    expect(page.locator("#instance-state")).to_contain_text("Active")
    expect(attributes).to_contain_text("16")
    history = page.locator("section[aria-labelledby=history-heading]")
    expect(history).to_contain_text("Change quota done")
    expect(page.locator("section[aria-labelledby=orders-heading] tbody tr")).to_have_count(2)
    screenshot(page, "instance-page")
    instance.refresh_from_db()
    assert instance.state == InstanceState.ACTIVE and str(instance.attributes["memory_gib"]) == "16"
    assert Order.objects.filter(operation__slug="change-quota", instance=instance).count() == 1


def test_a_changing_services_badge_follows_it_live_on_my_services_and_stops(page, bea):
    """No worker: the test moves the order itself, and the row's badge,
    polling on its own, shows the instance settle without the list being
    reloaded; a settled badge no longer polls."""
    database = make_database(SquadFactory(slug="data", name="Data Squad"))
    orders_db = create(database, bea)
    app = make_app(SquadFactory(slug="compute", name="Compute Squad"))
    create_app(app, bea, orders_db.pk, name="billing-app")
    order = operation_order(actor=bea, instance=orders_db, operation="resize", inputs={"size_gb": 40})
    order_start(order_id=order.pk)

    log_in(page, bea)
    page.goto("/instances/")
    row = page.locator("table.instances tbody tr", has_text="orders-db")
    expect(row).to_contain_text("Updating")
    page.evaluate("() => { window.notReloaded = true; }")

    play_started(order)
    expect(row).to_contain_text("Active", timeout=10_000)
    expect(row.locator("[hx-get]")).to_have_count(0)
    assert page.evaluate("() => window.notReloaded === true"), "only the badge changed"

    page.set_viewport_size({"width": 390, "height": 844})
    row.get_by_role("link", name="orders-db").click()
    dependencies = page.locator("section[aria-labelledby=dependencies-heading]")
    expect(dependencies.get_by_role("link", name="billing-app")).to_be_visible()
    check_accessibility(page, "instance page with dependencies")
    screenshot(page, "instance-dependencies-390")
