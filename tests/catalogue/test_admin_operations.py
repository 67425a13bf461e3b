"""Operations in the admin: inline on their product, each on a page of its
own with its approval steps, curated only by the product's squad; instances
are shown read-only."""

from __future__ import annotations

import pytest
from django.test import Client

from catalogue.choices import OperationKind
from catalogue.models import Operation
from portal.instances.models import ServiceInstance
from tests.admin_forms import admin_url
from tests.factories import ProductFactory, RunbookFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def database(squad):
    product = ProductFactory(
        squad=squad, slug="postgres", name="PostgreSQL", instance=True, max_lifetime_days=30
    )
    Operation.objects.create(
        product=product,
        slug="resize",
        name="Resize",
        kind=OperationKind.UPDATE,
        runbook=RunbookFactory(squad=squad),
    )
    return product


def test_the_product_page_lists_its_operations_and_each_opens_with_its_steps(
    client: Client, member, database
):
    client.force_login(member)
    page = client.get(admin_url(type(database), "change", database.pk))
    assert page.status_code == 200
    assert b"Resize" in page.content and b"operations-TOTAL_FORMS" in page.content
    operation = database.operations.get()
    detail = client.get(admin_url(Operation, "change", operation.pk))
    assert detail.status_code == 200 and b"approval_steps-TOTAL_FORMS" in detail.content


def test_another_squad_cannot_open_or_change_an_operation(client: Client, other_member, database):
    client.force_login(other_member)
    operation = database.operations.get()
    response = client.post(
        admin_url(Operation, "change", operation.pk), {"name": "Hijacked", "slug": "resize", "kind": "delete"}
    )
    assert response.status_code in (302, 403, 404)
    operation.refresh_from_db()
    assert (operation.name, operation.kind) == ("Resize", OperationKind.UPDATE)
    assert operation not in client.get(admin_url(Operation, "changelist")).context["cl"].result_list


def test_an_operation_refuses_another_squads_runbook_and_a_product_without_instances(
    client: Client, member, database, other_squad, squad
):
    client.force_login(member)
    plain = ProductFactory(squad=squad, slug="plain")
    data = {
        "product": plain.pk,
        "slug": "drop",
        "name": "Drop",
        "kind": "delete",
        "position": 0,
        "runbook": RunbookFactory(squad=other_squad).pk,
        "approval_policy": "none",
        "approval_remind_after_hours": 24,
        "approval_escalate_after_hours": 72,
        "sla_minutes": 60,
        "form_schema": "{}",
        "approval_steps-TOTAL_FORMS": "0",
        "approval_steps-INITIAL_FORMS": "0",
    }
    response = client.post(admin_url(Operation, "add"), data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "runbook" in errors  # not offered: another squad's
    data["runbook"] = RunbookFactory(squad=squad).pk
    response = client.post(admin_url(Operation, "add"), data)
    assert "Only a product that creates instances" in str(response.context["adminform"].form.errors)
    assert not Operation.objects.filter(slug="drop").exists()


def test_instances_are_read_only_in_the_admin(client: Client, member, requester, database):
    instance = ServiceInstance.objects.create(product=database, owner=requester, name="db-1", state="active")
    client.force_login(member)
    page = client.get(admin_url(ServiceInstance, "change", instance.pk))
    assert page.status_code == 200
    assert not page.context["has_add_permission"] and not page.context["has_delete_permission"]
    client.post(
        admin_url(ServiceInstance, "change", instance.pk), {"name": "db-1", "state": "decommissioned"}
    )
    instance.refresh_from_db()
    assert instance.state == "active"


def test_an_operations_form_gets_the_designer_and_its_preview(client: Client, member, database):
    client.force_login(member)
    operation = database.operations.get()

    page = client.get(admin_url(Operation, "change", operation.pk)).content.decode()

    assert "js/admin-designer.js" in page
    assert 'data-preview-url="/admin/catalogue/form-preview/"' in page
    assert 'name="form_schema"' in page
