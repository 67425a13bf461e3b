"""The notification email task: thin, by id. A failed attempt is not
retried by Celery: the service schedules the next one and the sweep sends
it when due (over a day of retries, no task held for hours by the broker)."""

from __future__ import annotations

from celery import shared_task

from portal.notifications import services


@shared_task(name=services.EMAIL_TASK, time_limit=60, soft_time_limit=45)
def send_notification_email(notification_id: int) -> bool:
    """Send one notification's email if it is due and not being sent; a mail
    server error schedules the next attempt, the last one is recorded."""
    return services.notification_send_email(notification_id=notification_id)
