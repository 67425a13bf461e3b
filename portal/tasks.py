"""Celery tasks: thin, by id, idempotent (the broker may deliver twice)."""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task

from portal import idempotency, services
from portal.integrations import tasks as integration_tasks  # noqa: F401 - registers its tasks
from portal.notifications import tasks as notification_tasks  # noqa: F401 - registers its tasks
from runbooks.execution.workspace import private_dirs_cleanup


@shared_task(name=services.EXECUTE_TASK, acks_late=True, reject_on_worker_lost=True)
def execute_order(order_id: int) -> None:
    """Run an order's runbook. Time limits are set per dispatch from the
    runbook's timeout (see ``services.order_dispatch``)."""
    services.order_execute(order_id=order_id)


@shared_task(name="portal.sweep_orders", time_limit=120, soft_time_limit=100)
def sweep_orders() -> dict:
    report = asdict(services.orders_sweep())
    # The sweep runs on a worker: it also tidies that worker's machine.
    report["private_dirs_removed"] = len(private_dirs_cleanup())
    return report


@shared_task(name=services.DRY_RUN_TASK, acks_late=True, reject_on_worker_lost=True)
def execute_dry_run(dry_run_id: int) -> None:
    """Run an order's runbook in check mode for its approvers."""
    services.order_dry_run_execute(dry_run_id=dry_run_id)


@shared_task(name="portal.remind_approvals", time_limit=120, soft_time_limit=100)
def remind_approvals() -> dict:
    return asdict(services.approvals_remind())


# --- REST API: idempotency keys -------------------------------------------


@shared_task(name="portal.purge_idempotency_keys", time_limit=300, soft_time_limit=280)
def purge_idempotency_keys() -> int:
    return idempotency.idempotency_records_purge()
