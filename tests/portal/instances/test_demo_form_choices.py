"""The demo's forms that think, with real runs of their real playbooks: a
VM attached to one of its requester's VLANs (picked from their own, the
VLAN's attributes given to the playbook, the dependency recorded), and a
database whose replica count counts only for the production tier."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from catalogue.importer import import_catalogue
from catalogue.models import Product
from portal.instances.choices import InstanceState
from portal.instances.models import InstanceDependency, ServiceInstance
from portal.orders.approvals import order_approve
from portal.orders.choices import OrderStatus
from portal.orders.errors import InvalidInputs
from portal.orders.execution import order_execute
from portal.orders.models import Order
from portal.orders.submission import order_submit
from runbooks.models import RunEvent
from tests.factories import UserFactory
from tests.runbooks import use_private_dirs

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

DEMO_FILE = Path(settings.BASE_DIR) / "catalogue" / "demo" / "catalogue.yaml"
VLAN = {"vlan_id": 120, "vlan_name": "FINANCE_USERS", "site": "par1", "gateway": "10.20.30.1"}
VM = {"hostname": "billing-app-01", "os": "debian-12", "owner_email": "bea@example.com"}


@pytest.fixture
def demo(settings, tmp_path):
    use_private_dirs(settings, tmp_path)
    import_catalogue(DEMO_FILE, dry_run=False)
    return tmp_path / "output"


def done(order: Order, approver=None) -> tuple[Order, str]:
    if order.status == OrderStatus.PENDING_APPROVAL:
        order_approve(order=order, actor=approver)
    order_execute(order_id=order.pk)
    order = Order.objects.get(pk=order.pk)
    log = "\n".join(RunEvent.objects.filter(run=order.current_run).values_list("stdout", flat=True))
    assert order.status == OrderStatus.SUCCEEDED, f"{order.failure_reason}\n{log}"
    return order, log


def test_a_vm_attaches_to_one_of_my_vlans_and_its_playbook_gets_the_vlan(demo):
    bea, ben = UserFactory(username="bea"), UserFactory(username="ben")
    vlan_order, _ = done(order_submit(requester=bea, product=Product.objects.get(slug="vlan"), inputs=VLAN))
    vlan = ServiceInstance.objects.get(created_by_order=vlan_order)
    assert vlan.state == InstanceState.ACTIVE and vlan.name == "VLAN 120 FINANCE_USERS (par1)"
    assert str(vlan.attributes["vlan_id"]) == "120"

    vm_product = Product.objects.get(slug="vm")
    # Ben cannot attach his VM to Bea's VLAN: it is not among his choices.
    with pytest.raises(InvalidInputs) as refused:
        order_submit(requester=ben, product=vm_product, inputs={**VM, "vlan": vlan.pk})
    assert refused.value.errors == {
        "vlan": ["This choice is not available (any more): choose one of the current options."]
    }
    assert not Order.objects.filter(requester=ben).exists()

    vm_order, log = done(order_submit(requester=bea, product=vm_product, inputs={**VM, "vlan": vlan.pk}))
    assert vm_order.inputs["vlan"] == vlan.pk
    assert "Network: VLAN 120 FINANCE_USERS at par1, gateway 10.20.30.1." in log
    vm = ServiceInstance.objects.get(created_by_order=vm_order)
    assert vm.attributes["network"] == "VLAN 120 FINANCE_USERS at par1, gateway 10.20.30.1"
    # The VM's report says it depends on no database; the VLAN its form picked stays.
    assert list(InstanceDependency.objects.filter(instance=vm).values_list("depends_on", "source")) == [
        (vlan.pk, vm_order.pk)
    ]


def test_a_vlan_that_went_away_is_no_longer_a_choice(demo):
    bea = UserFactory(username="bea")
    vlan_order, _ = done(order_submit(requester=bea, product=Product.objects.get(slug="vlan"), inputs=VLAN))
    vlan = ServiceInstance.objects.get(created_by_order=vlan_order)
    ServiceInstance.objects.filter(pk=vlan.pk).update(state=InstanceState.DECOMMISSIONED)
    with pytest.raises(InvalidInputs) as refused:
        order_submit(requester=bea, product=Product.objects.get(slug="vm"), inputs={**VM, "vlan": vlan.pk})
    assert "not available" in refused.value.errors["vlan"][0]
    assert not Order.objects.filter(product__slug="vm").exists()


def test_replicas_count_only_for_a_production_database(demo):
    bea, hana = UserFactory(username="bea"), UserFactory(username="hana")
    product = Product.objects.get(slug="postgres-database")
    # A development database: the replica count sent anyway is dropped, never run.
    dev, log = done(
        order_submit(
            requester=bea,
            product=product,
            inputs={"database_name": "scratch", "tier": "development", "replica_count": 4},
        ),
        hana,
    )
    assert "replica_count" not in dev.inputs
    assert "Tier: development, no replica." in log

    prod, log = done(
        order_submit(
            requester=bea,
            product=product,
            inputs={"database_name": "billing", "tier": "production", "replica_count": 3},
        ),
        hana,
    )
    assert prod.inputs["replica_count"] == 3
    assert "Tier: production, 3 streaming replicas." in log
    with pytest.raises(InvalidInputs) as refused:
        order_submit(
            requester=bea,
            product=product,
            inputs={"database_name": "ledger", "tier": "production", "replica_count": 9},
        )
    assert refused.value.errors == {"replica_count": ["Must be at most 5."]}
