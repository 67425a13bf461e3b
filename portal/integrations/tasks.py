"""Webhook tasks: thin, by id; a delivery delivered twice sends once."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from portal.integrations.webhooks.delivery import DELIVER_TASK, webhook_deliver, webhook_deliveries_sweep


@shared_task(
    name=DELIVER_TASK,
    acks_late=True,
    # Bounds a receiver that drips its answer byte by byte.
    time_limit=settings.SQUADRON_WEBHOOK_TIMEOUT_SECONDS * 3 + 30,
    soft_time_limit=settings.SQUADRON_WEBHOOK_TIMEOUT_SECONDS * 3 + 20,
)
def deliver_webhook(delivery_id: int) -> None:
    webhook_deliver(delivery_id=delivery_id)


@shared_task(name="portal.sweep_webhook_deliveries", time_limit=120, soft_time_limit=100)
def sweep_webhook_deliveries() -> int:
    return len(webhook_deliveries_sweep())
