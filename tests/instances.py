"""Helpers of the instance tests: a product that creates instances (a
database) with its day-2 operations (the ``database`` fixture in
``tests/conftest.py``), an application server that depends on databases,
and a way to play an order's run without a playbook."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from catalogue.choices import OperationKind
from catalogue.models import Operation
from portal.instances.models import ServiceInstance
from portal.orders.execution import order_finish, order_start
from portal.orders.models import Order
from portal.orders.submission import order_submit
from runbooks.choices import RunStatus
from runbooks.services import run_claim, run_finish
from tests.factories import ProductFactory, RunbookFactory

DATABASE_FORM = {
    "type": "object",
    "required": ["db_name"],
    "properties": {
        "db_name": {"type": "string", "maxLength": 40},
        "size_gb": {"type": "integer", "minimum": 10, "default": 10},
        "admin_password": {"type": "string", "x-secret": True, "minLength": 8},
    },
}
RESIZE_FORM = {
    "type": "object",
    "required": ["size_gb"],
    "properties": {"size_gb": {"type": "integer", "minimum": 10, "maximum": 1000}},
}


def make_database(squad):
    product = ProductFactory(
        slug="postgres",
        name="PostgreSQL database",
        squad=squad,
        form_schema=DATABASE_FORM,
        instance=True,
        max_lifetime_days=30,
        unit_cost=Decimal("40.00"),
    )
    for position, (slug, name, kind, form) in enumerate(
        [
            ("resize", "Resize", OperationKind.UPDATE, RESIZE_FORM),
            ("extend", "Extend", OperationKind.EXTEND, {"type": "object", "properties": {}}),
            ("drop", "Decommission", OperationKind.DELETE, {"type": "object", "properties": {}}),
        ]
    ):
        Operation.objects.create(
            product=product,
            slug=slug,
            name=name,
            kind=kind,
            position=position,
            runbook=RunbookFactory(squad=squad, slug=f"{slug}-postgres"),
            form_schema=form,
        )
    return product


APP_FORM = {"type": "object", "properties": {"app_name": {"type": "string", "maxLength": 40}}}


def make_app(squad):
    """An application server (instances that depend on databases) with a
    resize and a delete operation."""
    product = ProductFactory(
        slug="app-server", name="Application server", squad=squad, form_schema=APP_FORM, instance=True
    )
    for position, (slug, name, kind) in enumerate(
        [("resize", "Resize", OperationKind.UPDATE), ("retire", "Retire", OperationKind.DELETE)]
    ):
        Operation.objects.create(
            product=product,
            slug=slug,
            name=name,
            kind=kind,
            position=position,
            runbook=RunbookFactory(squad=squad, slug=f"{slug}-app-server"),
            form_schema={"type": "object", "properties": {}},
        )
    return product


def depending(*ids: Any, name: str | None = None) -> dict:
    """A report naming what the instance depends on."""
    instance: dict[str, Any] = {"depends_on": list(ids)}
    if name:
        instance["name"] = name
    return {"squadron": {"instance": instance}}


def create_app(product, requester, *depends_on: Any, name: str = "app") -> ServiceInstance:
    """An active instance of the application server ``product`` whose
    runbook reported that it depends on ``depends_on``."""
    order = order_submit(requester=requester, product=product, inputs={"app_name": name})
    play(order, reported=depending(*depends_on, name=name))
    return ServiceInstance.objects.get(created_by_order=order)


def play(
    order: Order, *, status: str = RunStatus.SUCCEEDED, reported: Any = None, reported_masked: Any = None
) -> Order:
    """Run the queued order as a worker would, the playbook ending ``status``
    and reporting ``reported`` with set_stats (masked by the executor as
    ``reported_masked``)."""
    run = order_start(order_id=order.pk)
    assert run is not None, f"order {order.pk} was not queued"
    return play_started(order, status=status, reported=reported, reported_masked=reported_masked)


def play_started(
    order: Order, *, status: str = RunStatus.SUCCEEDED, reported: Any = None, reported_masked: Any = None
) -> Order:
    """Finish the run of the started order as ``play`` does."""
    run = Order.objects.get(pk=order.pk).current_run
    assert run is not None, f"order {order.pk} has not started"
    run_claim(run_id=run.pk, worker="test:1")
    run_finish(
        run_id=run.pk,
        status=status,
        rc=0 if status == RunStatus.SUCCEEDED else 2,
        failure_reason="" if status == RunStatus.SUCCEEDED else "task create on host localhost: disk full",
        reported=reported,
        reported_masked=reported_masked,
    )
    finished = order_finish(order_id=order.pk, run=run)
    assert finished is not None
    return finished


def reporting(name: str | None = None, **attributes: Any) -> dict:
    instance: dict[str, Any] = {"attributes": attributes}
    if name:
        instance["name"] = name
    return {"squadron": {"instance": instance}}


def create(
    product, requester, *, reported: Any = None, reported_masked: Any = None, **inputs: Any
) -> ServiceInstance:
    """An active instance of ``product`` owned by ``requester``."""
    order = order_submit(
        requester=requester,
        product=product,
        inputs={"db_name": "orders", "admin_password": "correct-horse-battery", **inputs},
    )
    reported = reported if reported is not None else reporting("orders-db", host="db1.example.com")
    play(order, reported=reported, reported_masked=reported_masked)
    return ServiceInstance.objects.get(created_by_order=order)
