"""A form's fields come back in the order they were written, on SQLite and
on PostgreSQL alike (whose jsonb orders an object's keys by their length)."""

from __future__ import annotations

import pytest

from catalogue.choices import OperationKind
from catalogue.models import Operation, Product
from portal.orders.models import Order
from portal.orders.submission import order_submit
from tests.factories import ProductFactory, RunbookFactory

pytestmark = pytest.mark.django_db

#: Names whose lengths disagree with the order written, nested fields too.
FORM = {
    "type": "object",
    "required": ["hostname", "cpu"],
    "properties": {
        "hostname": {"type": "string", "title": "Host name"},
        "cpu": {"type": "integer", "minimum": 1, "title": "CPUs"},
        "backup_retention_days": {"type": "integer"},
        "os": {"type": "string", "enum": ["debian", "rhel"]},
        "network": {
            "type": "object",
            "properties": {"vlan_identifier": {"type": "integer"}, "ip": {"type": "string"}},
        },
    },
}
WRITTEN = ["hostname", "cpu", "backup_retention_days", "os", "network"]


def test_a_products_form_keeps_its_field_order(squad):
    product = ProductFactory(slug="vm", squad=squad, form_schema=FORM)

    stored = Product.objects.get(pk=product.pk).form_schema

    assert list(stored["properties"]) == WRITTEN
    assert list(stored["properties"]["network"]["properties"]) == ["vlan_identifier", "ip"]
    assert list(stored["properties"]["cpu"]) == ["type", "minimum", "title"]
    assert stored == FORM


def test_an_update_and_an_operation_keep_it_too(squad):
    product = ProductFactory(slug="vm", squad=squad)
    Product.objects.filter(pk=product.pk).update(form_schema=FORM)
    operation = Operation.objects.create(
        product=product,
        slug="resize",
        name="Resize",
        kind=OperationKind.UPDATE,
        runbook=RunbookFactory(squad=squad, slug="resize-vm"),
        form_schema=FORM,
    )

    assert list(Product.objects.values_list("form_schema", flat=True).get()["properties"]) == WRITTEN
    assert list(Operation.objects.get(pk=operation.pk).form_schema["properties"]) == WRITTEN


def test_the_form_an_order_pins_keeps_it(squad, requester):
    product = ProductFactory(slug="vm", squad=squad, form_schema=FORM)

    order = order_submit(requester=requester, product=product, inputs={"hostname": "vm-1", "cpu": 2})

    assert list(Order.objects.get(pk=order.pk).form_schema["properties"]) == WRITTEN
