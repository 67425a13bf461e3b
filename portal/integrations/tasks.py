"""Webhook tasks: thin, by id; a delivery delivered twice sends once."""

from __future__ import annotations

from celery import shared_task

from portal.integrations.webhooks.delivery import (
    DELIVER_TASK,
    claim_lease,
    webhook_deliver,
    webhook_deliveries_sweep,
)

# Bounds a receiver that drips its answer byte by byte; the claim's lease is
# as long, so the sweep retries only attempts no task can still be making.
DELIVER_TIME_LIMIT = int(claim_lease().total_seconds())


@shared_task(
    name=DELIVER_TASK,
    acks_late=True,
    time_limit=DELIVER_TIME_LIMIT,
    soft_time_limit=DELIVER_TIME_LIMIT - 10,
)
def deliver_webhook(delivery_id: int) -> None:
    webhook_deliver(delivery_id=delivery_id)


@shared_task(name="portal.sweep_webhook_deliveries", time_limit=120, soft_time_limit=100)
def sweep_webhook_deliveries() -> int:
    return len(webhook_deliveries_sweep())
