"""Celery tasks: thin, by id, idempotent (the broker may deliver twice)."""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task
from django.conf import settings

from portal import idempotency, notifications, services, webhooks
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
