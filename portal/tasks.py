"""Celery tasks: thin, by id, idempotent (the broker may deliver twice)."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from portal import idempotency, services, webhooks


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


# --- REST API: webhooks and idempotency keys -------------------------------------------


@shared_task(
    name="portal.deliver_webhook",
    acks_late=True,
    # Bounds a receiver that drips its answer byte by byte.
    time_limit=settings.SQUADRON_WEBHOOK_TIMEOUT_SECONDS * 3 + 30,
    soft_time_limit=settings.SQUADRON_WEBHOOK_TIMEOUT_SECONDS * 3 + 20,
)
def deliver_webhook(delivery_id: int) -> None:
    webhooks.webhook_deliver(delivery_id=delivery_id)


@shared_task(name="portal.sweep_webhook_deliveries", time_limit=120, soft_time_limit=100)
def sweep_webhook_deliveries() -> int:
    return len(webhooks.webhook_deliveries_sweep())


@shared_task(name="portal.purge_idempotency_keys", time_limit=300, soft_time_limit=280)
def purge_idempotency_keys() -> int:
    return idempotency.idempotency_records_purge()
