"""The order's Celery tasks: thin, by id, idempotent (the broker may deliver
twice). Their names are public (``portal.execute_order``…) and stay as they
were; ``portal.tasks`` imports this module so that Celery finds them."""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task

from portal.orders.approvals import approvals_remind
from portal.orders.execution import DRY_RUN_TASK, EXECUTE_TASK, order_dry_run_execute, order_execute
from portal.orders.submission import idempotency_records_purge


@shared_task(name=EXECUTE_TASK, acks_late=True, reject_on_worker_lost=True)
def execute_order(order_id: int) -> None:
    """Run an order's runbook. Time limits are set per dispatch from the
    runbook's timeout (see ``portal.orders.execution.order_dispatch``)."""
    order_execute(order_id=order_id)


@shared_task(name=DRY_RUN_TASK, acks_late=True, reject_on_worker_lost=True)
def execute_dry_run(dry_run_id: int) -> None:
    """Run an order's runbook in check mode for its approvers."""
    order_dry_run_execute(dry_run_id=dry_run_id)


@shared_task(name="portal.remind_approvals", time_limit=120, soft_time_limit=100)
def remind_approvals() -> dict:
    return asdict(approvals_remind())


@shared_task(name="portal.purge_idempotency_keys", time_limit=300, soft_time_limit=280)
def purge_idempotency_keys() -> int:
    return idempotency_records_purge()
