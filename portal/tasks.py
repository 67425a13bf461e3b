"""Celery tasks: thin, by id, idempotent (the broker may deliver twice).

The module Celery autodiscovers in the ``portal`` app: it imports the task
modules of the domains so that their tasks are registered too."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from portal import notifications, webhooks
from portal.orders import tasks as order_tasks  # noqa: F401 - registers the order tasks


@shared_task(
    name=notifications.EMAIL_TASK,
    autoretry_for=(Exception,),
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=notifications.EMAIL_MAX_ATTEMPTS - 1,
    time_limit=60,
    soft_time_limit=45,
)
def send_notification_email(notification_id: int) -> bool:
    """Send one notification's email; a mail server error retries it with
    backoff, and the last failure is recorded on the notification."""
    return notifications.notification_send_email(notification_id=notification_id)


# --- REST API: webhooks -------------------------------------------


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
