"""Showback arithmetic: instances charged pro rata by day, one-shot and
manual products per succeeded order, summed in the database to the same
figures the rule gives for each instance alone."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import override_settings
from django.utils import timezone

from catalogue.choices import Fulfilment
from portal.consumption.cost import (
    CostScope,
    CostWindow,
    Spend,
    cents,
    days_in_month,
    instance_amount,
    largest_instances,
    spend,
)
from portal.consumption.models import BusinessUnit
from portal.instances.choices import InstanceState
from portal.instances.models import ServiceInstance
from portal.orders.choices import OrderStatus
from portal.orders.models import Order
from tests.factories import ProductFactory, SquadFactory, UserFactory

pytestmark = pytest.mark.django_db

EVERYTHING = CostScope(everything=True)
#: January to December 2026, on 18 March: April onwards is the future.
YEAR = CostWindow(first_day=date(2026, 1, 1), last_day=date(2026, 12, 31), today=date(2026, 3, 18))


def at(day: str, clock: str = "12:00") -> datetime:
    return datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=UTC)


def make_instance(product, *, created, decommissioned=None, unit=None, owner=None, name="svc"):
    instance = ServiceInstance.objects.create(
        product=product,
        owner=owner or UserFactory(),
        name=name,
        state=InstanceState.DECOMMISSIONED if decommissioned else InstanceState.ACTIVE,
        business_unit=unit,
        decommissioned_at=decommissioned,
    )
    ServiceInstance.objects.filter(pk=instance.pk).update(created_at=created)
    instance.refresh_from_db()
    return instance


def make_order(product, *, finished, status=OrderStatus.SUCCEEDED, unit=None, instance=None, operation=None):
    order = Order.objects.create(
        requester=UserFactory(),
        product=product,
        product_version=1,
        squad=product.squad,
        fulfilment=product.fulfilment,
        approval_policy=product.approval_policy,
        status=status,
        business_unit=unit,
        instance=instance,
        operation=operation,
    )
    Order.objects.filter(pk=order.pk).update(created_at=finished - timedelta(hours=1), finished_at=finished)
    return order


def cells(by="product_id", window=YEAR, scope=EVERYTHING):
    """{(product or unit id, month): amount in cents} of the cells that cost something."""
    found = spend(window, scope)
    return {
        (key, month): cents(amount)
        for key, months in (found.by_product if by == "product_id" else found.by_unit).items()
        for month, amount in months.items()
        if amount
    }


@pytest.fixture
def vm():
    return ProductFactory(slug="vm", name="Virtual machine", instance=True, unit_cost=Decimal("30.00"))


@pytest.fixture
def finance():
    return BusinessUnit.objects.create(slug="finance", name="Finance", cost_centre="CC-100")


def test_an_instance_created_mid_month_and_decommissioned_later_costs_its_days(vm, finance):
    make_instance(
        vm, created=at("2026-01-10", "10:00"), decommissioned=at("2026-03-05", "09:00"), unit=finance
    )

    by_product = cells()

    # 10 to 31 January: 22 days of 31; all of February; 1 to 5 March: 5 of 31.
    assert by_product == {
        (vm.pk, date(2026, 1, 1)): Decimal("21.29"),
        (vm.pk, date(2026, 2, 1)): Decimal("30.00"),
        (vm.pk, date(2026, 3, 1)): Decimal("4.84"),
    }
    assert cells("business_unit_id") == {
        (finance.pk, month): amount for (_, month), amount in by_product.items()
    }
    assert cents(sum(spend(YEAR, EVERYTHING).by_product[vm.pk].values())) == Decimal("56.13")


def test_a_live_instance_is_charged_up_to_today_and_not_after(vm):
    make_instance(vm, created=at("2026-02-20"))

    assert cells() == {
        (vm.pk, date(2026, 2, 1)): Decimal("9.64"),  # 20 to 28 February: 9 days of 28
        (vm.pk, date(2026, 3, 1)): Decimal("17.42"),  # 1 to 18 March (today): 18 days of 31
    }


def test_the_day_of_creation_and_of_decommissioning_both_count_even_the_same_day(vm):
    make_instance(vm, created=at("2026-03-02", "08:00"), decommissioned=at("2026-03-02", "09:00"))

    assert cells() == {(vm.pk, date(2026, 3, 1)): Decimal("0.97")}  # one day: 30 / 31


def test_a_window_starting_mid_month_charges_only_its_own_days(vm):
    make_instance(vm, created=at("2025-06-01"), decommissioned=at("2026-02-10"))
    window = CostWindow(first_day=date(2026, 1, 15), last_day=date(2026, 1, 31), today=date(2026, 3, 18))

    assert cells(window=window) == {(vm.pk, date(2026, 1, 1)): Decimal("16.45")}  # 17 days: 30 * 17 / 31


def test_one_shot_and_manual_products_cost_their_unit_cost_per_succeeded_order_in_the_month_it_finished(
    finance,
):
    dns = ProductFactory(slug="dns", instance=False, unit_cost=Decimal("2.50"))
    restore = ProductFactory(
        slug="restore",
        instance=False,
        unit_cost=Decimal("120.00"),
        fulfilment=Fulfilment.MANUAL,
        runbook=None,
    )
    for day in ("2026-02-01", "2026-02-14", "2026-02-28"):
        make_order(dns, finished=at(day), unit=finance)
    make_order(dns, finished=at("2026-02-15"), status=OrderStatus.FAILED, unit=finance)
    make_order(dns, finished=at("2026-03-01", "00:30"), unit=finance)
    make_order(restore, finished=at("2026-02-20"))

    assert cells() == {
        (dns.pk, date(2026, 2, 1)): Decimal("7.50"),  # three succeeded orders
        (restore.pk, date(2026, 2, 1)): Decimal("120.00"),
        (dns.pk, date(2026, 3, 1)): Decimal("2.50"),
    }
    assert cells("business_unit_id") == {
        (finance.pk, date(2026, 2, 1)): Decimal("7.50"),
        (None, date(2026, 2, 1)): Decimal("120.00"),
        (finance.pk, date(2026, 3, 1)): Decimal("2.50"),
    }


def test_orders_against_instances_and_products_without_unit_cost_cost_nothing_of_their_own(vm):
    instance = make_instance(vm, created=at("2026-03-01"), decommissioned=at("2026-03-01", "13:00"))
    make_order(vm, finished=at("2026-03-01"), instance=instance)  # its creation
    free = ProductFactory(slug="free", instance=False, unit_cost=None)
    make_order(free, finished=at("2026-03-01"))
    make_instance(ProductFactory(slug="free-vm", instance=True, unit_cost=None), created=at("2026-01-01"))

    assert cells() == {(vm.pk, date(2026, 3, 1)): Decimal("0.97")}


def test_a_period_with_no_data_costs_zero_not_an_error(vm):
    nothing = Spend(by_product={}, by_unit={})
    assert spend(YEAR, EVERYTHING) == nothing
    make_instance(vm, created=at("2026-01-10"))
    future = CostWindow(first_day=date(2027, 1, 1), last_day=date(2027, 12, 31), today=date(2026, 3, 18))
    assert spend(future, EVERYTHING) == nothing
    assert largest_instances(future, EVERYTHING) == []
    assert spend(YEAR, CostScope()) == nothing


def test_a_scope_keeps_its_units_costs_and_its_squads_products_earnings(vm, finance):
    marketing = BusinessUnit.objects.create(slug="marketing", name="Marketing")
    other_squad = SquadFactory(slug="data")
    database = ProductFactory(slug="db", squad=other_squad, instance=True, unit_cost=Decimal("31.00"))
    make_instance(vm, created=at("2026-03-01"), unit=finance)
    make_instance(vm, created=at("2026-03-01"), unit=marketing)
    make_instance(database, created=at("2026-03-01"), unit=marketing)
    make_instance(database, created=at("2026-03-01"))

    finance_only = CostScope(business_unit_ids=frozenset({finance.pk}))
    data_squad = CostScope(squad_ids=frozenset({other_squad.pk}))

    # 1 to 18 March: 18 days of 31.
    assert cells(scope=finance_only) == {(vm.pk, date(2026, 3, 1)): Decimal("17.42")}
    assert cells("business_unit_id", scope=finance_only) == {(finance.pk, date(2026, 3, 1)): Decimal("17.42")}
    assert cells("business_unit_id", scope=data_squad) == {
        (None, date(2026, 3, 1)): Decimal("18.00"),
        (marketing.pk, date(2026, 3, 1)): Decimal("18.00"),
    }


@override_settings(TIME_ZONE="Pacific/Auckland")
def test_days_are_the_portals_days_not_utcs(vm):
    # 31 January 20:00 UTC is already 1 February in Auckland (UTC+13).
    make_instance(vm, created=at("2026-01-31", "20:00"), decommissioned=at("2026-02-02", "01:00"))
    with timezone.override("Pacific/Auckland"):
        found = cells()
    assert found == {(vm.pk, date(2026, 2, 1)): Decimal("2.14")}  # 1 and 2 February: 30 * 2 / 28


def test_the_database_sums_what_the_rule_gives_for_each_instance(finance):
    rnd = random.Random(16)
    products = [
        ProductFactory(slug=f"p{index}", instance=True, unit_cost=Decimal(cost))
        for index, cost in enumerate(["9.99", "31.00", "120.50"])
    ]
    units = [finance, None]
    by_product: dict[tuple, Decimal] = {}
    by_unit: dict[tuple, Decimal] = {}
    for number in range(120):
        product, unit = rnd.choice(products), rnd.choice(units)
        created = at("2025-10-01") + timedelta(hours=rnd.randint(0, 24 * 200))
        decommissioned = created + timedelta(hours=rnd.randint(0, 24 * 90)) if number % 3 else None
        if decommissioned and decommissioned > at("2026-03-18", "11:00"):
            decommissioned = None
        make_instance(product, created=created, decommissioned=decommissioned, unit=unit)
        for month, days in YEAR.charged_days(created, decommissioned).items():
            amount = instance_amount(product.unit_cost, {month: days})
            by_product[product.pk, month] = by_product.get((product.pk, month), Decimal(0)) + amount
            unit_key = (unit.pk if unit else None, month)
            by_unit[unit_key] = by_unit.get(unit_key, Decimal(0)) + amount

    assert cells() == {key: cents(amount) for key, amount in by_product.items() if amount}
    assert cells("business_unit_id") == {key: cents(amount) for key, amount in by_unit.items() if amount}


def test_the_twelve_largest_instances_with_their_exact_cost(vm):
    big = ProductFactory(slug="big", instance=True, unit_cost=Decimal("310.00"))
    for index in range(14):
        make_instance(vm, created=at("2026-01-01") + timedelta(days=index), name=f"vm-{index}")
    whale = make_instance(big, created=at("2026-03-09"), name="whale")  # 10 days of 31

    largest = largest_instances(YEAR, EVERYTHING)

    assert len(largest) == 12
    assert (largest[0].instance, largest[0].amount, largest[0].days) == (whale, Decimal("100.00"), 10)
    assert [row.instance.name for row in largest[1:]] == [f"vm-{index}" for index in range(11)]
    # vm-0: all of January and February, 18 days of March.
    assert largest[1].amount == Decimal("30.00") + Decimal("30.00") + (Decimal(30) * 18 / 31).quantize(
        Decimal("0.01")
    )
    assert days_in_month(date(2028, 2, 1)) == 29
