"""A product owner builds a product in the admin without reading JSON: a
five-field order form made in the designer (the preview showing the form
customers will see), a two-step approval beside the approval policy, then
published after confirming the warnings against the playbook; a customer
then orders it with that form."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Locator, Page, expect

from catalogue.choices import ProductStatus
from catalogue.models import Product
from portal.orders.choices import OrderStatus
from portal.orders.models import Order
from squads.choices import Role
from tests.browser.conftest import ARTIFACTS, log_in, screenshot
from tests.factories import CategoryFactory, MembershipFactory, RunbookFactory, SquadFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

#: Reads four of the five fields the form will have: the fifth (notes) is
#: the warning the curator confirms.
PLAYBOOK = """\
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Create the VLAN
      ansible.builtin.debug:
        msg: "VLAN {{ vlan_id }} ({{ tier }}) at {{ site }} for {{ contact }}"
"""


@pytest.fixture
def cast(transactional_db):  # type: ignore[no-untyped-def]
    network = SquadFactory(slug="network", name="Network Squad")
    compute = SquadFactory(slug="compute", name="Compute Squad")
    nora = UserFactory(username="nora", first_name="Nora")
    MembershipFactory(user=nora, squad=network, role=Role.PRODUCT_OWNER)
    MembershipFactory(user=UserFactory(username="otto"), squad=compute, role=Role.ENGINEER)
    CategoryFactory(slug="network", name="Network")
    RunbookFactory(squad=network, slug="campus-vlan", name="Campus VLAN runbook", playbook=PLAYBOOK)
    return {"nora": nora, "rita": UserFactory(username="rita"), "compute": compute}


def designer_field(page: Page, index: int) -> Locator:
    return page.locator("#form-designer .designer-field").nth(index)


def add_field(page: Page, index: int, *, name: str, title: str, kind: str = "Text") -> Locator:
    page.get_by_role("button", name="Add a field").click()
    field = designer_field(page, index)
    field.get_by_label("Name", exact=True).fill(name)
    field.get_by_label("Title", exact=True).fill(title)
    if kind != "Text":
        field.get_by_label("Type", exact=True).select_option(label=kind)
    return designer_field(page, index)


def test_a_product_owner_publishes_a_five_field_two_step_product_without_reading_json(
    page: Page, cast: dict
) -> None:
    log_in(page, cast["nora"])
    page.goto("/admin/catalogue/product/add/")
    page.locator("#id_name").press_sequentially("Campus VLAN")
    expect(page.locator("#id_slug")).to_have_value("campus-vlan")
    page.locator("#id_squad").select_option(label="Network Squad")
    page.locator("#id_category").select_option(label="Network")
    page.locator("#id_summary").fill("A VLAN on the campus fabric")
    page.locator("#id_runbook").select_option(label="Campus VLAN runbook")

    # The approval steps sit right under the policy they belong to.
    page.locator("#id_approval_policy").select_option(label="Multi-step approval")
    steps = page.locator("#approval_steps-group")
    expect(steps).to_be_visible()
    steps.get_by_role("button", name=re.compile("Add another")).click()
    page.locator("#id_approval_steps-0-name").fill("Network review")
    page.locator("#id_approval_steps-0-position").fill("0")
    steps.locator("#id_approval_steps-0-roles").get_by_label("Product owner").check()
    steps.get_by_role("button", name=re.compile("Add another")).click()
    page.locator("#id_approval_steps-1-name").fill("Compute sign-off")
    page.locator("#id_approval_steps-1-position").fill("1")
    page.locator("#id_approval_steps-1-squad").select_option(label="Compute Squad")

    # Five fields, made in the designer; the preview is the customer's form.
    preview = page.locator("#form-designer-preview")
    vlan = add_field(page, 0, name="vlan_id", title="VLAN ID", kind="Whole number")
    vlan.get_by_label("Required").check()
    vlan.get_by_label("Minimum").fill("2")
    vlan.get_by_label("Maximum").fill("4094")
    expect(preview.get_by_label("VLAN ID")).to_have_attribute("max", "4094")
    site = add_field(page, 1, name="site", title="Site")
    site.get_by_label("Choices (optional)").fill("Berlin\nLisbon\nOslo")
    site.get_by_label("Required").check()
    expect(preview.get_by_label(re.compile("^Site"))).to_contain_text("Lisbon")
    tier = add_field(page, 2, name="tier", title="Tier")
    tier.get_by_label("Choices (optional)").fill("production\ntest")
    tier.get_by_label("Default").fill("test")
    contact = add_field(page, 3, name="contact", title="Contact e-mail")
    contact.get_by_label("Help").fill("Who answers for this VLAN.")
    contact.get_by_label("Max length").fill("80")
    add_field(page, 4, name="notes", title="Notes")
    expect(preview.get_by_label("Notes")).to_be_visible()
    expect(preview.get_by_text("Who answers for this VLAN.")).to_be_visible()
    # Beside the form: the field the playbook never reads.
    expect(page.locator("#form-designer-warnings")).to_contain_text(
        "Campus VLAN asks for notes, which the playbook never reads."
    )

    # A problem is shown on the field it concerns, before any save.
    vlan.get_by_label("Minimum").fill("5000")
    expect(vlan.locator(".designer-problems")).to_contain_text("no value fits")
    vlan.get_by_label("Minimum").fill("2")
    expect(vlan.locator(".designer-problems")).to_be_empty()

    # The JSON box is the same form: a typo there is located, a fix re-reads the fields.
    schema_box = page.locator("#id_form_schema")
    written = schema_box.input_value()
    assert json.loads(written)["properties"]["site"]["enum"] == ["Berlin", "Lisbon", "Oslo"]
    schema_box.fill(written.replace('"type": "object",', '"type": "object"', 1))
    expect(page.locator("#form-designer-json-error")).to_contain_text(re.compile(r"Line \d+, column \d+"))
    schema_box.fill(written.replace('"title": "Notes"', '"title": "Remarks"'))
    expect(page.locator("#form-designer-json-error")).to_be_hidden()
    expect(designer_field(page, 4).get_by_label("Title", exact=True)).to_have_value("Remarks")
    expect(preview.get_by_label("Remarks")).to_be_visible()
    screenshot(page, "form-designer")
    page.locator(".designer-row").screenshot(path=str(ARTIFACTS / "form-designer-detail.png"))

    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    product = Product.objects.get(slug="campus-vlan")
    assert list(product.form_schema["properties"]) == ["vlan_id", "site", "tier", "contact", "notes"]
    assert product.form_schema["required"] == ["vlan_id", "site"]
    assert list(product.approval_steps.values_list("name", flat=True)) == ["Network review", "Compute sign-off"]
    expect(page.locator("#form-designer-warnings")).to_contain_text("never reads")

    # Publishing asks first, naming the warning.
    page.goto("/admin/catalogue/product/")
    page.get_by_role("row", name=re.compile("Campus VLAN")).get_by_role("checkbox").check()
    page.locator("select[name=action]").select_option(label="Publish selected products")
    page.get_by_role("button", name="Go").click()
    expect(page.get_by_text("Campus VLAN asks for notes, which the playbook never reads.")).to_be_visible()
    assert Product.objects.get(pk=product.pk).status == ProductStatus.DRAFT
    page.get_by_role("button", name="Publish despite the warnings").click()
    expect(page.locator(".messagelist")).to_contain_text("1 product(s) published: Campus VLAN.")

    # A customer orders it with that form.
    page.context.clear_cookies()
    log_in(page, cast["rita"])
    page.goto("/products/campus-vlan/")
    page.get_by_label("VLAN ID").fill("120")
    page.get_by_label(re.compile("^Site")).select_option("Lisbon")
    page.get_by_label("Contact e-mail").fill("rita@example.com")
    page.get_by_role("button", name="Review order").click()
    page.get_by_role("button", name="Place order").click()
    expect(page.get_by_text(re.compile("approval", re.IGNORECASE)).first).to_be_visible()
    order = Order.objects.get(product=product)
    assert order.status == OrderStatus.PENDING_APPROVAL
    assert order.inputs["vlan_id"] == 120 and order.inputs["site"] == "Lisbon"
