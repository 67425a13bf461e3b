"""A small world with costs, for the cost page, its CSV, the cost API and
the browser: two squads, two business units, instances alive for known
days, an idle one, one past its expiry, and two products of different
squads that provide the same thing (replicated)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from catalogue.choices import Fulfilment
from portal.consumption.models import BusinessUnit, BusinessUnitMembership
from portal.instances.choices import InstanceState
from portal.instances.models import ServiceInstance
from portal.orders.choices import OrderStatus
from portal.orders.models import Order
from squads.choices import Role
from squads.models import Squad
from tests.factories import CategoryFactory, ChapterFactory, MembershipFactory, ProductFactory, UserFactory

VM_FORM = {
    "type": "object",
    "properties": {
        "hostname": {"type": "string"},
        "vcpus": {"type": "integer"},
        "size_gb": {"type": "integer"},
    },
}


@dataclass
class CostWorld:
    finance: BusinessUnit
    marketing: BusinessUnit
    vm: Any  # the network squad's virtual machines
    compute_vm: Any  # the compute squad's, much the same thing
    database: Any  # the compute squad's databases
    dns: Any  # a one-shot product of the network squad
    users: dict[str, Any]
    idle: ServiceInstance
    expired: ServiceInstance
    busy: ServiceInstance


def make_instance(
    product: Any, *, name: str, created: datetime, unit: Any = None, **fields: Any
) -> ServiceInstance:
    instance = ServiceInstance.objects.create(
        product=product,
        owner=fields.pop("owner", None) or UserFactory(username="owner-of-services"),
        name=name,
        state=fields.pop("state", InstanceState.ACTIVE),
        business_unit=unit,
        **fields,
    )
    ServiceInstance.objects.filter(pk=instance.pk).update(created_at=created)
    instance.refresh_from_db()
    return instance


def make_order(product: Any, *, placed: datetime, unit: Any = None, instance: Any = None) -> Order:
    order = Order.objects.create(
        requester=UserFactory(username="orderer"),
        product=product,
        product_version=1,
        squad=product.squad,
        fulfilment=product.fulfilment,
        approval_policy=product.approval_policy,
        status=OrderStatus.SUCCEEDED,
        business_unit=unit,
        instance=instance,
    )
    Order.objects.filter(pk=order.pk).update(created_at=placed, finished_at=placed + timedelta(minutes=5))
    return order


def cost_world(network: Squad, compute: Squad) -> CostWorld:
    now = timezone.now()
    users = {
        "fiona": UserFactory(username="fiona", first_name="Fiona", last_name="Fink"),  # Finance
        "mark": UserFactory(username="mark"),  # Marketing
        "nora": MembershipFactory(
            user=UserFactory(username="nora"), squad=network, role=Role.PRODUCT_OWNER
        ).user,
        "otto": MembershipFactory(user=UserFactory(username="otto"), squad=compute, role=Role.ENGINEER).user,
        "marcus": MembershipFactory(
            user=UserFactory(username="marcus"), squad=network, role=Role.PLATFORM_LEAD
        ).user,
        "sam": UserFactory(username="sam"),
        "oscar": UserFactory(username="oscar"),
    }
    ChapterFactory(slug="network-engineering", lead=users["sam"])
    finance = BusinessUnit.objects.create(slug="finance", name="Finance", cost_centre="CC-100")
    marketing = BusinessUnit.objects.create(slug="marketing", name="Marketing", cost_centre="CC-200")
    BusinessUnitMembership.objects.create(user=users["fiona"], business_unit=finance)
    BusinessUnitMembership.objects.create(user=users["mark"], business_unit=marketing)
    compute_shelf = CategoryFactory(slug="compute", name="Compute")
    vm = ProductFactory(
        slug="vm",
        name="Virtual machine",
        squad=network,
        category=compute_shelf,
        instance=True,
        unit_cost=Decimal("30.00"),
        form_schema=VM_FORM,
    )
    compute_vm = ProductFactory(
        slug="compute-vm",
        name="Compute instance",
        squad=compute,
        category=compute_shelf,
        instance=True,
        unit_cost=Decimal("45.00"),
        form_schema=VM_FORM,
    )
    database = ProductFactory(
        slug="database",
        name="Database",
        squad=compute,
        instance=True,
        unit_cost=Decimal("31.00"),
        fulfilment=Fulfilment.MANUAL,
        runbook=None,
        form_schema={"type": "object", "properties": {"database_name": {"type": "string"}}},
    )
    dns = ProductFactory(
        slug="dns",
        name="DNS record",
        squad=network,
        instance=False,
        unit_cost=Decimal("2.50"),
        runbook=None,
        form_schema={"type": "object", "properties": {"record": {"type": "string"}}},
    )
    long_ago = now - timedelta(days=60)
    busy = make_instance(vm, name="finance-app-01", created=long_ago, unit=finance, owner=users["fiona"])
    make_order(vm, placed=now - timedelta(days=2), unit=finance, instance=busy)  # an update: not idle
    idle = make_instance(vm, name="forgotten-vm", created=long_ago, owner=users["fiona"])  # unassigned
    expired = make_instance(
        database,
        name="old-reports-db",
        created=long_ago,
        unit=marketing,
        owner=users["mark"],
        expires_at=now - timedelta(days=3),
    )
    make_order(database, placed=now - timedelta(days=1), unit=marketing, instance=expired)
    make_instance(compute_vm, name="batch-runner", created=now - timedelta(days=5), unit=marketing)
    make_order(dns, placed=now - timedelta(days=4), unit=finance)
    return CostWorld(
        finance=finance,
        marketing=marketing,
        vm=vm,
        compute_vm=compute_vm,
        database=database,
        dns=dns,
        users=users,
        idle=idle,
        expired=expired,
        busy=busy,
    )
