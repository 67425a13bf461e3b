"""Celery tasks: thin, by id, idempotent (the broker may deliver twice)."""

from __future__ import annotations

from celery import shared_task

from portal import services


@shared_task(name=services.EXECUTE_TASK, acks_late=True, reject_on_worker_lost=True)
def execute_order(order_id: int) -> None:
    """Run an order's runbook. Time limits are set per dispatch from the
    runbook's timeout (see ``services.order_dispatch``)."""
    services.order_execute(order_id=order_id)


@shared_task(name="portal.sweep_orders", time_limit=120, soft_time_limit=100)
def sweep_orders() -> dict:
    report = services.orders_sweep()
    return {
        "lost_runs": report.lost_runs,
        "finished_orders": report.finished_orders,
        "redispatched_orders": report.redispatched_orders,
        "secrets_purged": report.secrets_purged,
    }
