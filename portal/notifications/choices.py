"""The kinds of notification a person can receive, and which are emailed
unless they choose otherwise."""

from django.db import models


class NotificationKind(models.TextChoices):
    ORDER_PROGRESS = "order_progress", "My order moved on (approved, started, in a manual queue)"
    ORDER_FINISHED = "order_finished", "My order finished (succeeded, failed, rejected, cancelled)"
    APPROVAL_REQUESTED = "approval_requested", "An order waits for my approval"
    APPROVAL_REMINDER = "approval_reminder", "Reminder: an approval is still waiting"
    APPROVAL_ESCALATED = "approval_escalated", "An approval in my squad waits too long (escalation)"
    MANUAL_QUEUED = "manual_queued", "A manual order landed in my squad's queue"
    ORDER_COMMENT = "order_comment", "A comment on my order, or on an order my squad works on"
    WORK_NOTE = "work_note", "A squad work note on an order I work on (squad only)"
    INSTANCE_EXPIRING = "instance_expiring", "A service of mine expires soon (a week and a day before)"
    INSTANCE_EXPIRED = "instance_expired", "A service of mine expired and is being decommissioned"
    TRANSFER_OFFERED = "transfer_offered", "Someone offers me a service of theirs (or no longer does)"
    TRANSFER_DECIDED = "transfer_decided", "A service changed hands, or my offer of one was declined"


#: Whether a kind is emailed when the person has not chosen (they always see
#: it in the portal). Progress of an order is frequent and rarely urgent.
EMAIL_BY_DEFAULT = {
    NotificationKind.ORDER_PROGRESS: False,
    NotificationKind.ORDER_FINISHED: True,
    NotificationKind.APPROVAL_REQUESTED: True,
    NotificationKind.APPROVAL_REMINDER: True,
    NotificationKind.APPROVAL_ESCALATED: True,
    NotificationKind.MANUAL_QUEUED: True,
    NotificationKind.ORDER_COMMENT: True,
    NotificationKind.WORK_NOTE: False,
    NotificationKind.INSTANCE_EXPIRING: True,
    NotificationKind.INSTANCE_EXPIRED: True,
    NotificationKind.TRANSFER_OFFERED: True,
    NotificationKind.TRANSFER_DECIDED: True,
}
