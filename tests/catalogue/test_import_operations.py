"""import_catalogue and export_catalogue with products that create
instances: ``instance``, ``max_lifetime_days``, ``unit_cost`` and
``operations`` round-trip, and every mistake in operations is refused with
its place in the file, importing nothing."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from catalogue.choices import ApprovalPolicy, OperationKind
from catalogue.models import ApprovalStep, Operation, Product
from tests.catalogue.catalogue_files import counts, failed_import, line_of, run_import, snapshot, variant
from tests.catalogue.test_export_catalogue import export_to

pytestmark = pytest.mark.django_db

INSTANCE = ("    unit_cost: 12.50\n", "    unit_cost: 12.50\n    instance: true\n    max_lifetime_days: 90\n")
OPERATIONS = """        root_password: {type: string, x-secret: true, title: Root password}
    operations:
      - slug: resize
        name: Resize
        runbook: create-vm
        sla_minutes: 15
        form: {type: object, properties: {vcpus: {type: integer, minimum: 1}}}
      - slug: extend
        name: Extend
        kind: extend
        runbook: create-vm
      - slug: decommission
        name: Decommission
        kind: delete
        runbook: create-vm
        approval:
          steps:
            - {name: Compute review, roles: [engineer]}
"""
VM_FORM_END = "        root_password: {type: string, x-secret: true, title: Root password}\n"


def with_operations(
    tmp_path: Path, operations: str = OPERATIONS, instance: tuple[str, str] = INSTANCE
) -> Path:
    return variant(tmp_path, instance, (VM_FORM_END, operations))


def test_operations_are_imported_in_order_and_a_reimport_changes_nothing(tmp_path):
    path = with_operations(tmp_path)
    run_import(path)

    vm = Product.objects.get(slug="vm")
    assert (vm.instance, vm.max_lifetime_days, vm.unit_cost) == (True, 90, Decimal("12.50"))
    operations = list(
        vm.operations.order_by("position").values_list("slug", "kind", "runbook__slug", "sla_minutes")
    )
    assert operations == [
        ("resize", OperationKind.UPDATE, "create-vm", 15),
        ("extend", OperationKind.EXTEND, "create-vm", 60),
        ("decommission", OperationKind.DELETE, "create-vm", 60),
    ]
    decommission = vm.operations.get(slug="decommission")
    assert decommission.approval_policy == ApprovalPolicy.STEPS
    assert list(decommission.approval_steps.values_list("name", "roles")) == [
        ("Compute review", ["engineer"])
    ]
    assert not vm.approval_steps.exists(), "the operation's steps are not the product's"

    before = snapshot()
    steps = list(ApprovalStep.objects.values())
    output = run_import(path)
    assert "products: 0 created, 0 updated, 3 unchanged" in output
    assert snapshot() == before and list(ApprovalStep.objects.values()) == steps


def test_a_changed_operation_updates_the_product_in_place(tmp_path):
    run_import(with_operations(tmp_path / "a"))
    resize = Operation.objects.get(slug="resize")
    run_import(with_operations(tmp_path / "b", OPERATIONS.replace("sla_minutes: 15", "sla_minutes: 20")))
    assert Operation.objects.get(slug="resize").pk == resize.pk
    assert Operation.objects.get(slug="resize").sla_minutes == 20
    assert Product.objects.get(slug="vm").version == 2


def test_export_writes_operations_and_reimports_to_the_same_state(tmp_path):
    run_import(with_operations(tmp_path))
    first = export_to(tmp_path / "first" / "catalogue.yaml")
    vm = next(product for product in yaml.safe_load(first)["products"] if product["slug"] == "vm")
    assert (vm["instance"], vm["max_lifetime_days"], vm["unit_cost"]) == (True, 90, 12.5)
    assert [operation["slug"] for operation in vm["operations"]] == ["resize", "extend", "decommission"]
    assert vm["operations"][2]["approval"] == {"steps": [{"name": "Compute review", "roles": ["engineer"]}]}
    assert "instance" not in next(
        product for product in yaml.safe_load(first)["products"] if product["slug"] == "vlan"
    )
    before = snapshot()
    report = run_import(tmp_path / "first" / "catalogue.yaml")
    assert snapshot() == before and "products: 0 created, 0 updated" in report


@pytest.mark.parametrize(
    ("instance", "operations", "needle", "says"),
    [
        (
            INSTANCE,
            OPERATIONS.replace(
                "runbook: create-vm\n        sla_minutes: 15", "runbook: no-such\n        sla_minutes: 15"
            ),
            "runbook: no-such",
            "unknown runbook 'no-such' (not in this file nor in the database)",
        ),
        (
            INSTANCE,
            OPERATIONS.replace(
                "runbook: create-vm\n        sla_minutes: 15",
                "runbook: create-vlan  # theirs\n        sla_minutes: 15",
            ),
            "runbook: create-vlan  # theirs",
            "runbook 'create-vlan' belongs to squad 'network'; "
            "an operation runs its product's squad's runbooks",
        ),
        (
            ("    unit_cost: 12.50\n", "    unit_cost: 12.50\n"),
            OPERATIONS,
            "    operations:",
            "only a product with instance: true has operations",
        ),
        (
            ("    unit_cost: 12.50\n", "    unit_cost: 12.50\n    instance: true\n"),
            OPERATIONS,
            "kind: extend",
            "an extend operation needs the product's max_lifetime_days",
        ),
        (
            INSTANCE,
            OPERATIONS.replace("slug: extend", "slug: resize  # again"),
            "slug: resize  # again",
            "duplicate operation 'resize'",
        ),
        (
            INSTANCE,
            OPERATIONS.replace("kind: delete", "kind: destroy"),
            "kind: destroy",
            "kind",
        ),
    ],
)
def test_a_wrong_operation_is_refused_where_it_is_written_and_nothing_is_imported(
    tmp_path, instance, operations, needle, says
):
    path = with_operations(tmp_path, operations, instance)
    before = counts()
    errors = failed_import(path)
    assert says in errors
    first_line = needle.splitlines()[0]
    assert f":{line_of(path, first_line)}" in errors, errors
    assert counts() == before
    assert not Operation.objects.exists()


def test_an_operation_that_was_ordered_cannot_be_removed_by_a_file(tmp_path, requester):
    from portal.instances.models import ServiceInstance
    from portal.orders.models import Order

    run_import(with_operations(tmp_path / "a"))
    vm = Product.objects.get(slug="vm")
    instance = ServiceInstance.objects.create(product=vm, owner=requester, name="vm-1", state="active")
    Order.objects.create(
        requester=requester,
        product=vm,
        product_version=1,
        squad=vm.squad,
        fulfilment="automated",
        approval_policy="none",
        status="succeeded",
        operation=vm.operations.get(slug="resize"),
        instance=instance,
    )
    without_resize = (
        OPERATIONS.split("      - slug: extend")[0].split("    operations:\n")[0]
        + "    operations:\n      - slug: extend"
        + OPERATIONS.split("      - slug: extend")[1]
    )
    errors = failed_import(with_operations(tmp_path / "b", without_resize))
    assert "operation 'resize' was ordered: it cannot be removed" in errors
    assert vm.operations.count() == 3
