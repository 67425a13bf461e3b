"""The demo catalogue's instance products with real runs of their real
playbooks: a PostgreSQL database created, resized, given a user (whose
password never reaches the stored output), extended and decommissioned; a
VM and a namespace changed and given back; a VM for an application that
depends on its database. Attributes flow both ways."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from django.conf import settings

from catalogue.importer import import_catalogue
from catalogue.models import Product
from portal.instances.choices import InstanceState
from portal.instances.dependencies import instance_dependents
from portal.instances.models import InstanceDependency, ServiceInstance
from portal.instances.services import operation_order
from portal.orders.approvals import order_approve
from portal.orders.choices import OrderStatus
from portal.orders.execution import order_execute
from portal.orders.models import Order
from portal.orders.submission import order_submit
from runbooks.models import RunEvent
from tests.factories import UserFactory
from tests.runbooks import use_private_dirs

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

DEMO_FILE = Path(settings.BASE_DIR) / "catalogue" / "demo" / "catalogue.yaml"
PASSWORD = "correct-horse-battery-42"


@pytest.fixture
def demo(settings, tmp_path):
    use_private_dirs(settings, tmp_path)
    import_catalogue(DEMO_FILE, dry_run=False)
    return tmp_path / "output"


def done(order: Order, approver=None) -> Order:
    if order.status == OrderStatus.PENDING_APPROVAL:
        order_approve(order=order, actor=approver)
    order_execute(order_id=order.pk)
    order = Order.objects.get(pk=order.pk)
    log = "\n".join(RunEvent.objects.filter(run=order.current_run).values_list("stdout", flat=True))
    assert order.status == OrderStatus.SUCCEEDED, f"{order.failure_reason}\n{log}"
    return order


def test_a_demo_database_lives_its_whole_life(demo):
    bea, hana = UserFactory(username="bea"), UserFactory(username="hana")
    product = Product.objects.get(slug="postgres-database")
    created = done(
        order_submit(requester=bea, product=product, inputs={"database_name": "billing", "size": "small"}),
        hana,
    )
    instance = ServiceInstance.objects.get(created_by_order=created)
    assert instance.name == "billing" and instance.state == InstanceState.ACTIVE
    assert instance.attributes["cluster"] == "pg-shared-01.corp.northwind.example"
    assert str(instance.attributes["storage_gb"]) == "20" and instance.attributes["users"] == []

    done(operation_order(actor=bea, instance=instance, operation="resize", inputs={"size": "large"}), hana)
    instance.refresh_from_db()
    assert instance.attributes["size"] == "large" and str(instance.attributes["storage_gb"]) == "500"
    assert (
        "billing: small -> large"
        in (demo / "data" / "postgres-database" / "billing" / "quota.sql").read_text()
    )

    added = done(
        operation_order(
            actor=bea,
            instance=instance,
            operation="add-user",
            inputs={"username": "reporting", "password": PASSWORD},
        )
    )
    instance.refresh_from_db()
    assert instance.attributes["users"] == ["reporting"]
    stored = "\n".join(RunEvent.objects.filter(run=added.current_run).values_list("stdout", flat=True))
    assert PASSWORD not in stored and PASSWORD not in str(instance.attributes)

    before = instance.expires_at
    done(
        operation_order(actor=bea, instance=instance, operation="extend", inputs={"reason": "quarter close"})
    )
    instance.refresh_from_db()
    assert instance.expires_at > before
    assert "extended: quarter close" in (demo / "data" / "lease-extensions.log").read_text()

    done(operation_order(actor=bea, instance=instance, operation="decommission", inputs={}), hana)
    instance.refresh_from_db()
    assert instance.state == InstanceState.DECOMMISSIONED
    assert (
        "DROP DATABASE billing;"
        in (demo / "data" / "postgres-database" / "billing" / "DECOMMISSIONED").read_text()
    )


def test_a_demo_vm_and_namespace_are_resized_and_given_back(demo):
    bea = UserFactory(username="bea")
    vm = ServiceInstance.objects.get(
        created_by_order=done(
            order_submit(
                requester=bea,
                product=Product.objects.get(slug="vm"),
                inputs={"hostname": "billing-app-01", "owner_email": "bea@northwind.example"},
            )
        )
    )
    assert vm.name == "billing-app-01" and vm.attributes["fqdn"] == "billing-app-01.corp.northwind.example"
    resize = operation_order(actor=bea, instance=vm, operation="resize", inputs={"cpu": 8})
    assert resize.inputs == {"cpu": 8, "memory_gb": vm.attributes["memory_gb"]}, (
        "defaulted from the attributes"
    )
    done(resize)
    vm.refresh_from_db()
    assert str(vm.attributes["cpu"]) == "8"
    done(operation_order(actor=bea, instance=vm, operation="decommission", inputs={}))
    vm.refresh_from_db()
    assert vm.state == InstanceState.DECOMMISSIONED

    namespace = ServiceInstance.objects.get(
        created_by_order=done(
            order_submit(
                requester=bea,
                product=Product.objects.get(slug="k8s-namespace"),
                inputs={"namespace_name": "billing-dev", "team_email": "billing@northwind.example"},
            )
        )
    )
    done(operation_order(actor=bea, instance=namespace, operation="change-quota", inputs={"memory_gib": 16}))
    namespace.refresh_from_db()
    assert str(namespace.attributes["memory_gib"]) == "16"
    done(operation_order(actor=bea, instance=namespace, operation="delete", inputs={}))
    assert not (demo / "platform" / "k8s-namespace" / "billing-dev").exists()


def test_a_demo_vm_for_an_application_depends_on_the_database_it_names(demo):
    bea, hana = UserFactory(username="bea"), UserFactory(username="hana")
    database = ServiceInstance.objects.get(
        created_by_order=done(
            order_submit(
                requester=bea,
                product=Product.objects.get(slug="postgres-database"),
                inputs={"database_name": "billing", "size": "small"},
            ),
            hana,
        )
    )
    vm = ServiceInstance.objects.get(
        created_by_order=done(
            order_submit(
                requester=bea,
                product=Product.objects.get(slug="vm"),
                inputs={
                    "hostname": "billing-app-01",
                    "owner_email": "bea@northwind.example",
                    "database_id": database.pk,
                },
            )
        )
    )
    assert list(InstanceDependency.objects.filter(instance=vm).values_list("depends_on_id", flat=True)) == [
        database.pk
    ]
    assert instance_dependents(bea, database).shown == [vm]
    user_data = (demo / "compute" / "vm" / "billing-app-01" / "cloud-init" / "user-data").read_text()
    assert "postgresql-client" in yaml.safe_load(user_data)["packages"]
