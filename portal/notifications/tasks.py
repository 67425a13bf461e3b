"""The notification email task: thin, by id, retried with backoff."""

from __future__ import annotations

from celery import shared_task

from portal.notifications import services


@shared_task(
    name=services.EMAIL_TASK,
    autoretry_for=(Exception,),
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=services.EMAIL_MAX_ATTEMPTS - 1,
    time_limit=60,
    soft_time_limit=45,
)
def send_notification_email(notification_id: int) -> bool:
    """Send one notification's email; a mail server error retries it with
    backoff, and the last failure is recorded on the notification."""
    return services.notification_send_email(notification_id=notification_id)
