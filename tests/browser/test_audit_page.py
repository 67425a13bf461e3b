"""The audit trail in a real browser: a platform lead finds it in the
navigation, narrows it with the filters and downloads it; axe finds no
serious violation."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from catalogue.models import Product
from portal.audit.context import Acting, Via, acting
from squads.choices import Role
from tests.browser.conftest import check_accessibility, log_in, main_nav, screenshot
from tests.factories import MembershipFactory, SquadFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("width", [390, 1280])
def test_a_platform_lead_filters_the_trail_and_downloads_it(page, transactional_db, product: Product, width):
    lead = MembershipFactory(
        user=UserFactory(username="marcus"), squad=SquadFactory(slug="platform"), role=Role.PLATFORM_LEAD
    ).user
    with acting(Acting(via=Via.COMMAND, name="import_catalogue")):
        product.name = "Campus VLAN"
        product.save()
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, lead)

    page.goto("/")
    main_nav(page).get_by_role("link", name="Audit", exact=True).click()
    expect(page.get_by_role("heading", name="Audit trail", level=1)).to_be_visible()
    page.get_by_label("Object type").select_option("catalogue.product")
    page.get_by_label("Action").select_option("changed")
    page.get_by_role("button", name="Filter").click()

    rows = page.locator("table.audit tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("import_catalogue")
    expect(rows.first.locator("ins")).to_have_text("Campus VLAN")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the audit page is {overflow}px wider than a {width}px window"
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert "Campus VLAN" in text and "object_type" in text and text.count("\n") == 2
    screenshot(page, f"audit-{width}")
    check_accessibility(page, f"audit page at {width} px")
