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
from catalogue.models import Operation, Product
from portal.orders.choices import OrderStatus
from portal.orders.models import Order
from runbooks.models import Runbook
from squads.choices import Role
from tests.browser.conftest import ARTIFACTS, AXE_SOURCE, check_accessibility, log_in, screenshot
from tests.factories import (
    CategoryFactory,
    MembershipFactory,
    ProductFactory,
    RunbookFactory,
    SquadFactory,
    UserFactory,
)

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


def axe_violations(page: Page, selector: str) -> list:
    """Serious or critical axe-core violations inside ``selector``."""
    page.evaluate(AXE_SOURCE.read_text())
    return page.evaluate(
        "async (selector) => (await axe.run(document.querySelector(selector),"
        " {resultTypes: ['violations']})).violations"
        ".filter(v => ['serious', 'critical'].includes(v.impact))"
        ".map(v => ({id: v.id, help: v.help, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))",
        selector,
    )


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
    # Django's own inline tables have unlabelled cells: axe checks what is ours.
    assert axe_violations(page, "#form-designer") == []

    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    product = Product.objects.get(slug="campus-vlan")
    designed = ["vlan_id", "site", "tier", "contact", "notes"]
    assert list(product.form_schema["properties"]) == designed
    assert product.form_schema["required"] == ["vlan_id", "site"]
    steps_saved = list(product.approval_steps.values_list("name", flat=True))
    assert steps_saved == ["Network review", "Compute sign-off"]
    expect(page.locator("#form-designer-warnings")).to_contain_text("never reads")

    # Publishing asks first, naming the warning.
    page.goto("/admin/catalogue/product/")
    page.get_by_role("row", name=re.compile("Campus VLAN")).get_by_role("checkbox").check()
    page.locator("select[name=action]").select_option(label="Publish selected products")
    page.get_by_role("button", name="Go").click()
    expect(page.get_by_text("Campus VLAN asks for notes, which the playbook never reads.")).to_be_visible()
    check_accessibility(page, "publish confirmation")
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


def test_a_condition_made_in_the_designer_is_written_as_json_schema_and_read_back(
    page: Page, cast: dict
) -> None:
    log_in(page, cast["nora"])
    page.goto("/admin/catalogue/product/add/")
    tier = add_field(page, 0, name="tier", title="Tier")
    tier.get_by_label("Choices (optional)").fill("production\ntest")
    replicas = add_field(page, 1, name="replicas", title="Replica count", kind="Whole number")
    replicas.get_by_label("Required").check()
    replicas.get_by_label("Show only when").select_option(label="Tier")
    replicas.get_by_label("is", exact=True).fill("production")

    schema_box = page.locator("#id_form_schema")
    expect(schema_box).to_have_value(re.compile('"const": "production"'))
    written = json.loads(schema_box.input_value())
    # Required only while shown: in the branch, not at the top.
    assert "required" not in written
    assert written["allOf"] == [
        {
            "if": {"properties": {"tier": {"const": "production"}}, "required": ["tier"]},
            "then": {"required": ["replicas"]},
        }
    ]

    # Read back from the JSON: the field list shows the same condition.
    schema_box.fill(json.dumps(written, indent=2))
    replicas = designer_field(page, 1)
    expect(replicas.get_by_label("Show only when")).to_have_value("tier")
    expect(replicas.get_by_label("is", exact=True)).to_have_value("production")
    expect(replicas.get_by_label("Required")).to_be_checked()


def test_an_operations_form_is_designed_the_same_way(page: Page, cast: dict) -> None:
    runbook = Runbook.objects.get(slug="campus-vlan")
    product = ProductFactory(squad=runbook.squad, runbook=runbook, slug="db", instance=True)
    operation = Operation.objects.create(product=product, slug="resize", name="Resize", runbook=runbook)
    log_in(page, cast["nora"])
    page.goto(f"/admin/catalogue/operation/{operation.pk}/change/")

    add_field(page, 0, name="size_gb", title="Size (GB)", kind="Whole number")

    expect(page.locator("#form-designer-preview").get_by_label("Size (GB)")).to_be_visible()
    expect(page.locator("#form-designer-warnings")).to_contain_text("Resize asks for size_gb")
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    operation.refresh_from_db()
    assert operation.form_schema["properties"] == {"size_gb": {"type": "integer", "title": "Size (GB)"}}
