"""A squad member curates products in the admin, through real requests: creating
a draft, versions, publishing and retiring, dependencies and approval steps."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from catalogue.choices import Fulfilment, ProductStatus
from catalogue.models import Category, Product
from runbooks.models import Runbook
from squads.choices import Role
from squads.models import Squad
from tests.admin_forms import (
    admin_url,
    field_errors,
    product_data,
    run_action,
    shown_messages,
    submitted_as_rendered,
)
from tests.factories import MembershipFactory, ProductFactory, UserFactory


def test_member_creates_a_draft_product_for_own_squad(
    member_client: Client, squad: Squad, runbook: Runbook, category: Category
) -> None:
    response = member_client.post(
        admin_url(Product, "add"),
        {
            "name": "New VLAN",
            "slug": "vlan",
            "squad": squad.pk,
            "category": category.pk,
            "summary": "A VLAN on the campus fabric",
            "fulfilment": Fulfilment.AUTOMATED,
            "runbook": runbook.pk,
            "approval_policy": "none",
            "approval_remind_after_hours": 24,
            "approval_escalate_after_hours": 72,
            "approval_steps-TOTAL_FORMS": "0",
            "approval_steps-INITIAL_FORMS": "0",
            "operations-TOTAL_FORMS": "0",
            "operations-INITIAL_FORMS": "0",
            "sla_minutes": 30,
            "form_schema": json.dumps(
                {"type": "object", "properties": {"vlan_id": {"type": "integer", "minimum": 2}}}
            ),
        },
    )

    assert response.status_code == 302
    product = Product.objects.get(slug="vlan")
    assert (product.squad, product.runbook, product.status, product.version) == (
        squad,
        runbook,
        ProductStatus.DRAFT,
        1,
    )
    assert product.form_schema["properties"]["vlan_id"]["minimum"] == 2


def test_editing_a_product_bumps_its_version(member_client: Client, product: Product) -> None:
    response = member_client.post(
        admin_url(Product, "change", product.pk), product_data(product, summary="Now with QoS")
    )

    assert response.status_code == 302
    product.refresh_from_db()
    assert (product.summary, product.version) == ("Now with QoS", 2)


def test_saving_an_unchanged_product_does_not_bump_its_version(
    member_client: Client, product: Product
) -> None:
    response = member_client.post(admin_url(Product, "change", product.pk), product_data(product))

    assert response.status_code == 302
    product.refresh_from_db()
    assert product.version == 1


def test_changing_only_dependencies_bumps_the_version(
    member_client: Client, product: Product, category: Category, other_squad: Squad
) -> None:
    ip_block = ProductFactory(squad=other_squad, category=category, slug="ip-block")

    member_client.post(
        admin_url(Product, "change", product.pk), product_data(product, depends_on=[ip_block.pk])
    )

    product.refresh_from_db()
    assert list(product.depends_on.all()) == [ip_block]
    assert product.version == 2


def test_saving_the_product_page_as_rendered_does_not_bump_the_version(
    member_client: Client, product: Product
) -> None:
    url = admin_url(Product, "change", product.pk)

    response = member_client.post(url, submitted_as_rendered(member_client, url))

    assert response.status_code == 302
    product.refresh_from_db()
    assert product.version == 1


def test_publish_action_publishes_and_bumps_version(member_client: Client, product: Product) -> None:
    # The factory's form asks for a name its playbook never reads: confirmed.
    response = run_action(member_client, "publish_selected", product, confirmed="yes")

    assert response.status_code == 302
    product.refresh_from_db()
    assert (product.status, product.version) == (ProductStatus.PUBLISHED, 2)
    assert shown_messages(response) == ["1 product(s) published: New VLAN."]


def test_retire_action_retires_a_published_product(member_client: Client, product: Product) -> None:
    run_action(member_client, "publish_selected", product, confirmed="yes")

    response = run_action(member_client, "retire_selected", product)

    product.refresh_from_db()
    assert product.status == ProductStatus.RETIRED
    assert "1 product(s) retired: New VLAN." in shown_messages(response)


def test_publishing_an_automated_product_without_runbook_is_refused_and_unchanged(
    member_client: Client, squad: Squad, category: Category, product: Product
) -> None:
    orphan = ProductFactory(
        squad=squad, category=category, slug="orphan", name="Orphan", status="draft", runbook=None
    )

    response = run_action(member_client, "publish_selected", orphan, product, confirmed="yes")

    orphan.refresh_from_db()
    assert (orphan.status, orphan.version) == (ProductStatus.DRAFT, 1)
    messages = shown_messages(response)
    assert "Orphan was not published: A published automated product needs a runbook." in messages
    # The others in the selection are still published.
    assert "1 product(s) published: New VLAN." in messages
    assert Product.objects.get(pk=product.pk).status == ProductStatus.PUBLISHED


def test_status_cannot_be_set_through_the_change_form(member_client: Client, product: Product) -> None:
    # Publishing goes through the action (and its rules), not a posted field.
    member_client.post(admin_url(Product, "change", product.pk), product_data(product, status="published"))

    product.refresh_from_db()
    assert product.status == ProductStatus.DRAFT


def test_dependency_cycle_is_refused_with_the_cycle_named(
    member_client: Client, product: Product, squad: Squad, category: Category
) -> None:
    ip_block = ProductFactory(squad=squad, category=category, slug="ip-block", name="IP block")
    ip_block.depends_on.add(product)  # ip-block -> vlan

    response = member_client.post(
        admin_url(Product, "change", product.pk), product_data(product, depends_on=[ip_block.pk])
    )

    assert response.status_code == 200
    errors = field_errors(response, "depends_on")
    assert "would make a cycle" in errors
    assert "ip-block → vlan → ip-block" in errors or "vlan → ip-block → vlan" in errors
    product.refresh_from_db()
    assert (list(product.depends_on.all()), product.version) == ([], 1)


def test_a_product_is_not_offered_as_its_own_dependency(member_client: Client, product: Product) -> None:
    response = member_client.post(
        admin_url(Product, "change", product.pk), product_data(product, depends_on=[product.pk])
    )

    assert response.status_code == 200
    assert "Select a valid choice" in field_errors(response, "depends_on")
    assert not product.depends_on.exists()


# --- Approval steps --------------------------------------------------------------


def test_member_sets_a_multi_step_approval_naming_another_squad(
    member_client: Client, product: Product, other_squad: Squad
) -> None:
    for username in ("otto", "olga"):  # two people to give the two approvals it needs
        MembershipFactory(user=UserFactory(username=username), squad=other_squad, role=Role.ENGINEER)
    data = product_data(
        product,
        approval_policy="steps",
        approval_remind_after_hours=4,
        approval_escalate_after_hours=12,
        **{
            "approval_steps-TOTAL_FORMS": "2",
            "approval_steps-0-position": "0",
            "approval_steps-0-name": "Squad review",
            "approval_steps-0-roles": ["product_owner"],
            "approval_steps-0-required_approvals": "1",
            "approval_steps-1-position": "1",
            "approval_steps-1-name": "Compute sign-off",
            "approval_steps-1-squad": str(other_squad.pk),
            "approval_steps-1-roles": [],
            "approval_steps-1-required_approvals": "2",
        },
    )

    response = member_client.post(admin_url(Product, "change", product.pk), data)

    assert response.status_code == 302, response.context["errors"] if response.context else response
    product.refresh_from_db()
    assert product.approval_policy == "steps"
    assert list(product.approval_steps.values_list("name", "squad", "required_approvals")) == [
        ("Squad review", None, 1),
        ("Compute sign-off", other_squad.pk, 2),
    ]


@pytest.mark.parametrize(
    "steps",
    [
        {},  # a multi-step policy without any step
        {  # a role that does not exist
            "approval_steps-TOTAL_FORMS": "1",
            "approval_steps-0-name": "Review",
            "approval_steps-0-roles": ["janitor"],
            "approval_steps-0-required_approvals": "1",
            "approval_steps-0-position": "0",
        },
        {  # more approvals than there are product owners to give them: orders would wait forever
            "approval_steps-TOTAL_FORMS": "1",
            "approval_steps-0-name": "Review",
            "approval_steps-0-roles": ["product_owner"],
            "approval_steps-0-required_approvals": "5",
            "approval_steps-0-position": "0",
        },
        {  # two steps in one position: which opens first?
            "approval_steps-TOTAL_FORMS": "2",
            "approval_steps-0-name": "Review",
            "approval_steps-0-roles": ["product_owner"],
            "approval_steps-0-required_approvals": "1",
            "approval_steps-0-position": "0",
            "approval_steps-1-name": "Sign-off",
            "approval_steps-1-roles": ["product_owner"],
            "approval_steps-1-required_approvals": "1",
            "approval_steps-1-position": "0",
        },
    ],
)
def test_a_broken_approval_policy_is_refused_and_nothing_changes(
    member_client: Client, product: Product, steps: dict[str, str]
) -> None:
    before = (product.approval_policy, product.version, product.approval_steps.count())

    response = member_client.post(
        admin_url(Product, "change", product.pk), product_data(product, approval_policy="steps", **steps)
    )

    assert response.status_code == 200
    product.refresh_from_db()
    assert (product.approval_policy, product.version, product.approval_steps.count()) == before
