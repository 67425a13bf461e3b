"""The product page's form designer and the checks at save and publish:
the live preview (the customer's form, JSON errors with line and column,
schema problems by field, warnings against the playbook), reserved field
names, approval steps that name no approvers, products that cannot run,
and the confirmation before publishing with warnings. Every refusal
leaves everything as it was."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from catalogue.choices import ProductStatus
from catalogue.models import Category, Product
from runbooks.models import Runbook
from squads.models import Squad
from tests.admin_forms import (
    admin_url,
    field_errors,
    product_data,
    run_action,
    shown_messages,
    snapshot,
)
from tests.catalogue.catalogue_files import counts, failed_import, variant
from tests.catalogue.catalogue_files import snapshot as snapshot_tables
from tests.factories import ProductFactory, RunbookFactory, SquadFactory

PREVIEW_URL = reverse("admin:catalogue_form_preview")

#: Reads vlan_id and site (without defaults); a form asking for vlan_id and
#: notes leaves notes unread and site unprovided.
READS_VLAN_AND_SITE = """\
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Create the VLAN
      ansible.builtin.debug:
        msg: "VLAN {{ vlan_id }} at {{ site }}"
"""

VLAN_AND_NOTES = {
    "type": "object",
    "required": ["vlan_id"],
    "properties": {
        "vlan_id": {"type": "integer", "title": "VLAN ID", "minimum": 2, "maximum": 4094},
        "notes": {"type": "string", "title": "Notes"},
    },
}


def preview(client: Client, text: str, **fields: Any) -> dict[str, Any]:
    response = client.post(PREVIEW_URL, {"schema": text, **fields})
    assert response.status_code == 200
    answer: dict[str, Any] = response.json()
    return answer


@pytest.fixture
def reading_runbook(squad: Squad) -> Runbook:
    return RunbookFactory(squad=squad, slug="vlan-and-site", playbook=READS_VLAN_AND_SITE)


# --- The live preview --------------------------------------------------------


def test_the_preview_is_the_customers_form_built_from_the_draft_and_nothing_is_saved(
    member_client: Client, product: Product
) -> None:
    before = snapshot(product)

    answer = preview(member_client, json.dumps(VLAN_AND_NOTES))

    assert answer["usable"] is True
    assert (answer["json_error"], answer["problems"]) == (None, [])
    # The portal's order form: its field names, its label, its hints.
    assert 'name="inputs-vlan_id"' in answer["preview"]
    assert 'min="2"' in answer["preview"] and 'max="4094"' in answer["preview"]
    assert "VLAN ID" in answer["preview"] and "(required)" in answer["preview"]
    assert snapshot(product) == before


def test_a_json_typo_is_located_by_line_and_column(member_client: Client) -> None:
    text = '{\n  "type": "object",\n  "properties": {\n    "size": {"type": "integer",}\n  }\n}'

    answer = preview(member_client, text)

    error = answer["json_error"]
    # Python 3.13 points at the trailing comma, 3.12 at the brace after it.
    assert (error["line"], error["column"] in (31, 32)) == (4, True)
    assert error["message"]
    assert (answer["usable"], answer["preview"]) == (False, "")


def test_a_schema_problem_names_the_field_and_keyword_it_concerns(member_client: Client) -> None:
    schema = {"type": "object", "properties": {"size": {"type": "integer", "minimum": 10, "maximum": 2}}}

    answer = preview(member_client, json.dumps(schema))

    assert answer["usable"] is False
    assert [(problem["field"], problem["keyword"]) for problem in answer["problems"]] == [("size", "minimum")]
    assert "no value fits" in answer["problems"][0]["message"]


@pytest.mark.parametrize("name", ["namespace", "ansible_python_interpreter", "squadron_run_id", "hostvars"])
def test_a_reserved_field_name_is_a_problem_of_that_field(member_client: Client, name: str) -> None:
    schema = {"type": "object", "properties": {name: {"type": "string"}}}

    answer = preview(member_client, json.dumps(schema))

    assert [problem["field"] for problem in answer["problems"]] == [name]
    assert "reserved for Ansible or Squadron" in answer["problems"][0]["message"]


def test_warnings_name_unread_fields_and_unprovided_variables(
    member_client: Client, reading_runbook: Runbook
) -> None:
    answer = preview(member_client, json.dumps(VLAN_AND_NOTES), runbook=reading_runbook.pk, name="New VLAN")

    assert answer["checked"] is True
    assert answer["warnings"] == [
        "New VLAN asks for notes, which the playbook never reads.",
        "The playbook reads site without a default, and no field of New VLAN's form provides it.",
    ]


def test_another_squads_playbook_is_not_read(member_client: Client, other_squad: Squad) -> None:
    theirs = RunbookFactory(squad=other_squad, playbook=READS_VLAN_AND_SITE)

    answer = preview(member_client, json.dumps(VLAN_AND_NOTES), runbook=theirs.pk)

    assert (answer["checked"], answer["warnings"]) == (False, [])


def test_only_curators_reach_the_preview(client: Client, outsider: Any) -> None:
    client.force_login(outsider)

    response = client.post(PREVIEW_URL, {"schema": "{}"})

    assert response.status_code == 302 and response.url.startswith("/admin/login/")


def test_the_preview_is_only_posted(member_client: Client) -> None:
    assert member_client.get(PREVIEW_URL).status_code == 405


# --- The product page ----------------------------------------------------------


def test_approval_steps_sit_under_the_approval_policy_and_the_designer_is_loaded(
    member_client: Client, product: Product
) -> None:
    page = member_client.get(admin_url(Product, "change", product.pk)).content.decode()

    approval, steps, order_form = (
        page.index(">Approval</h2>"),
        page.index('id="approval_steps-group"'),
        page.index(">Order form</h2>"),
    )
    assert approval < steps < order_form
    assert "js/admin-designer.js" in page and 'data-preview-url="/admin/catalogue/form-preview/"' in page
    # Without script the JSON box is still the editor.
    assert 'name="form_schema"' in page


def test_the_product_page_lists_the_warnings_beside_the_form(
    member_client: Client, product: Product, reading_runbook: Runbook
) -> None:
    Product.objects.filter(pk=product.pk).update(runbook=reading_runbook, form_schema=VLAN_AND_NOTES)

    page = member_client.get(admin_url(Product, "change", product.pk)).content.decode()

    assert "New VLAN asks for notes, which the playbook never reads." in page


# --- Refused at save -------------------------------------------------------------


@pytest.mark.parametrize("name", ["namespace", "ansible_python_interpreter"])
def test_a_reserved_field_name_is_refused_at_save_naming_the_field(
    member_client: Client, product: Product, name: str
) -> None:
    before = snapshot(product)
    schema = {"type": "object", "properties": {name: {"type": "string"}}}

    response = member_client.post(
        admin_url(Product, "change", product.pk), product_data(product, form_schema=json.dumps(schema))
    )

    assert response.status_code == 200
    assert f"properties.{name}: field '{name}' is reserved for Ansible or Squadron" in field_errors(
        response, "form_schema"
    )
    assert snapshot(product) == before


def test_an_approval_step_naming_no_approvers_is_refused_and_nothing_changes(
    member_client: Client, product: Product
) -> None:
    before = (snapshot(product), product.approval_steps.count())
    data = product_data(
        product,
        approval_policy="steps",
        **{
            "approval_steps-TOTAL_FORMS": "1",
            "approval_steps-0-position": "0",
            "approval_steps-0-name": "Somebody",
            "approval_steps-0-roles": [],
            "approval_steps-0-required_approvals": "1",
        },
    )

    response = member_client.post(admin_url(Product, "change", product.pk), data)

    assert response.status_code == 200
    step_errors = response.context["inline_admin_formsets"][0].formset.forms[0].errors
    assert "Name who approves this step: a squad, a chapter or at least one role." in step_errors["roles"]
    assert (snapshot(product), product.approval_steps.count()) == before


# --- Publishing -------------------------------------------------------------------


def test_publishing_with_warnings_asks_first_and_changes_nothing_until_confirmed(
    member_client: Client, product: Product, reading_runbook: Runbook
) -> None:
    Product.objects.filter(pk=product.pk).update(runbook=reading_runbook, form_schema=VLAN_AND_NOTES)
    before = snapshot(product)

    asked = run_action(member_client, "publish_selected", product)

    assert asked.status_code == 200
    page = asked.content.decode()
    assert "Publish despite the warnings" in page
    assert "New VLAN asks for notes, which the playbook never reads." in page
    assert snapshot(product) == before

    confirmed = run_action(member_client, "publish_selected", product, confirmed="yes")

    assert confirmed.status_code == 302
    assert Product.objects.get(pk=product.pk).status == ProductStatus.PUBLISHED


def test_publishing_without_warnings_needs_no_confirmation(
    member_client: Client, product: Product, reading_runbook: Runbook
) -> None:
    fitting = {
        "type": "object",
        "properties": {"vlan_id": {"type": "integer"}, "site": {"type": "string"}},
    }
    Product.objects.filter(pk=product.pk).update(runbook=reading_runbook, form_schema=fitting)

    response = run_action(member_client, "publish_selected", product)

    assert response.status_code == 302
    assert shown_messages(response) == ["1 product(s) published: New VLAN."]


def test_a_product_whose_runbook_has_no_playbook_cannot_be_published(
    member_client: Client, product: Product, squad: Squad
) -> None:
    empty = Runbook.objects.create(squad=squad, slug="empty", name="Empty")
    Product.objects.filter(pk=product.pk).update(runbook=empty)
    before = snapshot(product)

    response = run_action(member_client, "publish_selected", product, confirmed="yes")

    assert shown_messages(response) == ["New VLAN was not published: Its runbook Empty has no playbook yet."]
    assert snapshot(product) == before


def test_a_product_saved_with_a_reserved_field_cannot_be_published_but_can_be_retired(
    member_client: Client, squad: Squad, category: Category
) -> None:
    # Saved before the rule existed (rows are only data).
    legacy = ProductFactory(squad=squad, category=category, slug="legacy", name="Legacy", status="draft")
    Product.objects.filter(pk=legacy.pk).update(
        form_schema={"type": "object", "properties": {"namespace": {"type": "string"}}}
    )
    before = snapshot(legacy)

    response = run_action(member_client, "publish_selected", legacy, confirmed="yes")

    [message] = shown_messages(response)
    assert message.startswith("Legacy was not published: Its order form: properties.namespace:")
    assert "reserved for Ansible or Squadron" in message
    assert snapshot(legacy) == before

    run_action(member_client, "retire_selected", legacy)
    assert Product.objects.get(pk=legacy.pk).status == ProductStatus.RETIRED


def test_a_multi_step_product_without_steps_cannot_be_published(
    member_client: Client, product: Product
) -> None:
    Product.objects.filter(pk=product.pk).update(approval_policy="steps")
    before = snapshot(product)

    response = run_action(member_client, "publish_selected", product, confirmed="yes")

    assert shown_messages(response) == [
        "New VLAN was not published: Its approval is multi-step but it has no steps."
    ]
    assert snapshot(product) == before


def test_the_confirmation_page_says_which_products_cannot_run(
    member_client: Client, product: Product, reading_runbook: Runbook, squad: Squad, category: Category
) -> None:
    Product.objects.filter(pk=product.pk).update(runbook=reading_runbook, form_schema=VLAN_AND_NOTES)
    broken = ProductFactory(squad=squad, category=category, slug="broken", name="Broken", status="draft")
    Product.objects.filter(pk=broken.pk).update(approval_policy="steps")

    page = run_action(member_client, "publish_selected", product, broken).content.decode()

    assert "It will not be published: it cannot run." in page
    assert "Its approval is multi-step but it has no steps." in page
    # Only the product that can run is in the confirmed selection.
    assert f'name="_selected_action" value="{product.pk}"' in page
    assert f'name="_selected_action" value="{broken.pk}"' not in page


# --- The import, alike ----------------------------------------------------------


@pytest.mark.django_db
def test_the_import_refuses_a_reserved_field_name_at_its_location_and_writes_nothing(tmp_path: Any) -> None:
    path = variant(
        tmp_path,
        (
            "        vlan_id: {type: integer, minimum: 2, maximum: 4094, title: VLAN ID}\n",
            "        vlan_id: {type: integer, minimum: 2, maximum: 4094, title: VLAN ID}\n"
            "        ansible_python_interpreter: {type: string}\n",
        ),
    )
    before = counts()

    errors = failed_import(path)

    assert (
        "products[1].form.properties.ansible_python_interpreter: field 'ansible_python_interpreter' "
        "is reserved for Ansible or Squadron: rename it"
    ) in errors
    assert counts() == before


@pytest.mark.django_db
def test_the_import_refuses_to_publish_a_product_on_a_runbook_without_playbook(tmp_path: Any) -> None:
    network = SquadFactory(slug="network", name="Network Squad")
    Runbook.objects.create(squad=network, slug="not-written-yet", name="Not written yet")
    path = variant(tmp_path, ("    runbook: create-vlan\n", "    runbook: not-written-yet\n"))
    before = snapshot_tables()

    errors = failed_import(path)

    assert "products[1].runbook: runbook 'not-written-yet' has no playbook yet" in errors
    assert snapshot_tables() == before
