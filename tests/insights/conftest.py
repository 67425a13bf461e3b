"""Known order histories for the insights tests, on a fixed clock.

Orders are written straight to the database with the timestamps a test
names: these tests check arithmetic over a history, not the transitions
that produce one (``tests/portal`` covers those).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from catalogue.choices import ApprovalPolicy, Fulfilment
from catalogue.models import Product
from portal.orders.choices import OrderStatus
from portal.orders.models import Order, OrderRun
from runbooks.choices import RunStatus
from runbooks.models import Run, RunEvent
from tests.factories import ProductFactory, UserFactory

#: The tests' "now": a Wednesday, so a week boundary is two days back.
NOW = datetime(2026, 3, 18, 12, 0, tzinfo=UTC)


def make_order(
    product: Product,
    *,
    submitted: datetime,
    status: str = OrderStatus.SUCCEEDED,
    lead: timedelta | None = None,
    requester: Any = None,
    approved_after: timedelta | None = None,
    queued_after: timedelta | None = None,
    started_after: timedelta | None = None,
    claimed_after: timedelta | None = None,
    claimed_by: Any = None,
    failure_reason: str = "",
    fulfilment: str | None = None,
    approval_policy: str | None = None,
) -> Order:
    """An order of ``product`` submitted at ``submitted`` that ended ``lead``
    later (when it has a final status); other phases relative to submission."""
    requester = requester or UserFactory(username="requester-of-history")
    fulfilment = fulfilment or product.fulfilment
    order = Order.objects.create(
        requester=requester,
        product=product,
        product_version=product.version,
        runbook_version=product.runbook.current_version if product.runbook_id else None,
        squad_id=product.squad_id,
        fulfilment=fulfilment,
        approval_policy=approval_policy or product.approval_policy,
        status=status,
        failure_reason=failure_reason,
        claimed_by=claimed_by,
    )
    stamps: dict[str, Any] = {"created_at": submitted}
    if lead is not None:
        stamps["finished_at"] = submitted + lead
    for name, after in (
        ("approved_at", approved_after),
        ("queued_at", queued_after),
        ("started_at", started_after),
        ("claimed_at", claimed_after),
    ):
        if after is not None:
            stamps[name] = submitted + after
    Order.objects.filter(pk=order.pk).update(**stamps)
    order.refresh_from_db()
    return order


def make_run(
    order: Order,
    *,
    status: str = RunStatus.SUCCEEDED,
    started: datetime,
    duration: timedelta,
    stdout: list[str] | None = None,
    attempt: int = 1,
) -> Run:
    """A finished run of the order's runbook version, with events printing
    ``stdout`` (one event each)."""
    run = Run.objects.create(
        runbook_version=order.runbook_version,
        status=status,
        started_at=started,
        finished_at=started + duration,
        rc=0 if status == RunStatus.SUCCEEDED else 2,
    )
    Run.objects.filter(pk=run.pk).update(created_at=started)
    OrderRun.objects.create(order=order, run=run, attempt=attempt)
    for counter, text in enumerate(stdout or [], start=1):
        RunEvent.objects.create(
            run=run,
            counter=counter,
            event="verbose",
            stdout=text,
            created_at=started + timedelta(seconds=counter),
        )
    run.refresh_from_db()
    return run


@pytest.fixture
def automated(squad):
    return ProductFactory(slug="vlan", name="VLAN", squad=squad, sla_minutes=30)


@pytest.fixture
def manual(squad):
    return ProductFactory(
        slug="firewall-rule",
        name="Firewall rule",
        squad=squad,
        sla_minutes=240,
        fulfilment=Fulfilment.MANUAL,
        runbook=None,
        approval_policy=ApprovalPolicy.SQUAD,
    )
