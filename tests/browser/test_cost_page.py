"""The cost pages in a real browser at a phone's width and a desktop's: the
tables of spend scroll inside their own box (reachable by keyboard) and
never widen the page; utilization shows idle instances and replicated
resources, with the idle days chosen in the form and a CSV download; axe
finds no serious violation on either page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import check_accessibility, log_in, main_nav, screenshot
from tests.factories import SquadFactory
from tests.insights.cost_world import cost_world

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(transactional_db):  # type: ignore[no-untyped-def]
    return cost_world(
        SquadFactory(slug="network", name="Network Squad"), SquadFactory(slug="compute", name="Compute Squad")
    )


@pytest.mark.parametrize("width", [390, 1440])
def test_the_cost_page_at_a_phones_and_a_desktops_width(page, world, width):
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, world.users["marcus"])
    page.goto("/")
    main_nav(page).get_by_role("link", name="Cost", exact=True).click()

    expect(page.get_by_role("heading", name="Cost", level=1)).to_be_visible()
    expect(page.get_by_role("img", name="Spend per month")).to_be_visible()
    units = page.get_by_role("region", name="Table: Spend per business unit", exact=True)
    expect(units.get_by_role("rowheader", name="Finance")).to_be_visible()
    expect(page.locator("#table-instances")).to_contain_text("old-reports-db")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the cost page is {overflow}px wider than a {width}px window"
    # A table wider than the window scrolls in its own box, which the keyboard reaches.
    units.focus()
    expect(units).to_be_focused()
    if width == 390:
        assert units.evaluate("box => box.scrollWidth > box.clientWidth")
        page.keyboard.press("ArrowRight")
        page.wait_for_function(
            "() => document.querySelector('#table-business-units .table-scroll').scrollLeft > 0"
        )
    screenshot(page, f"cost-{width}")
    check_accessibility(page, f"cost page at {width} px")

    page.get_by_role("navigation", name="Cost and utilization").get_by_role(
        "link", name="Utilization"
    ).click()
    expect(page.get_by_role("heading", name="Utilization", level=1)).to_be_visible()
    expect(page.locator("#table-idle")).to_contain_text("forgotten-vm")
    expect(page.locator("#table-replicated")).to_contain_text("Compute instance")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the utilization page is {overflow}px wider than a {width}px window"
    screenshot(page, f"utilization-{width}")
    check_accessibility(page, f"utilization page at {width} px")
    page.get_by_label("Idle after (days)").fill("3")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#table-idle")).to_contain_text("no order for 3 days")
    expect(page.locator("#table-idle")).to_contain_text("batch-runner")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV of idle instances: no order for 3 days").click()
    assert "batch-runner" in download.value.path().read_text()
