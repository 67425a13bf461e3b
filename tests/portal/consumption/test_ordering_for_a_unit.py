"""Which business unit an order is for: a member of one orders for it, a
member of several names one, a member of none orders as before; the
instance an order creates is charged to the order's unit, and operations
count against the instance's unit."""

from __future__ import annotations

import pytest

from portal.consumption.errors import BusinessUnitChoiceError
from portal.consumption.services import business_unit_add_members
from portal.instances.models import ServiceInstance
from portal.instances.services import operation_order
from portal.orders.models import Order
from portal.orders.submission import order_submit
from tests.instances import create, play

pytestmark = pytest.mark.django_db

INPUTS = {"db_name": "ledger", "admin_password": "correct-horse-battery"}


def test_a_member_of_one_unit_orders_for_it_without_naming_it(database, requester, finance):
    order = order_submit(requester=requester, product=database, inputs=INPUTS)
    assert order.business_unit == finance


def test_a_member_of_no_unit_orders_unassigned(database, outsider, finance):
    order = order_submit(requester=outsider, product=database, inputs=INPUTS)
    assert order.business_unit is None


def test_a_member_of_several_units_must_name_one_and_nothing_is_placed_otherwise(
    database, requester, finance, logistics
):
    business_unit_add_members(unit=logistics, users=[requester])
    with pytest.raises(BusinessUnitChoiceError, match=r"several business units.*finance.*logistics"):
        order_submit(requester=requester, product=database, inputs=INPUTS)
    assert not Order.objects.exists()
    order = order_submit(requester=requester, product=database, inputs=INPUTS, business_unit="logistics")
    assert order.business_unit == logistics


def test_naming_a_unit_one_is_not_a_member_of_is_refused(database, requester, finance, logistics):
    for slug in ("logistics", "no-such-unit"):
        with pytest.raises(BusinessUnitChoiceError, match=f"not a member of a business unit '{slug}'"):
            order_submit(requester=requester, product=database, inputs=INPUTS, business_unit=slug)
    assert not Order.objects.exists()


def test_the_instance_is_charged_to_the_unit_of_the_order_that_created_it(database, requester, finance):
    instance = create(database, requester)
    assert instance.business_unit == finance
    assert instance.created_by_order.business_unit == finance


def test_an_operation_counts_against_the_instance_unit_whoever_orders_it(
    database, requester, member, finance, logistics
):
    instance = create(database, requester)
    # The squad member who runs the service belongs to another unit.
    business_unit_add_members(unit=logistics, users=[member])
    order = operation_order(actor=member, instance=instance, operation="resize", inputs={"size_gb": 20})
    assert order.business_unit == finance


def test_naming_another_unit_for_an_operation_is_refused(database, requester, finance, logistics):
    instance = create(database, requester)
    business_unit_add_members(unit=logistics, users=[requester])
    with pytest.raises(BusinessUnitChoiceError, match="charged to Finance"):
        order_submit(
            requester=requester,
            product=database,
            inputs={"size_gb": 20},
            operation=database.operations.get(slug="resize"),
            instance_id=instance.pk,
            business_unit="logistics",
        )
    assert not Order.objects.filter(operation__isnull=False).exists()


def test_an_unassigned_instance_stays_unassigned_when_operated(database, outsider, finance):
    instance = create(database, outsider)
    assert instance.business_unit is None
    order = operation_order(actor=outsider, instance=instance, operation="resize", inputs={"size_gb": 20})
    play(order)
    assert order.business_unit is None
    assert ServiceInstance.objects.get(pk=instance.pk).business_unit is None
