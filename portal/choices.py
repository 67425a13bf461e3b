from django.db import models


class OrderStatus(models.TextChoices):
    """Status names are part of the public API (DESIGN.md)."""

    PENDING_APPROVAL = "pending_approval", "Pending approval"
    REJECTED = "rejected", "Rejected"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    AWAITING_FULFILMENT = "awaiting_fulfilment", "Awaiting fulfilment"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    TIMED_OUT = "timed_out", "Timed out"
    CANCELLED = "cancelled", "Cancelled"


TERMINAL_STATUSES = frozenset(
    {
        OrderStatus.REJECTED,
        OrderStatus.SUCCEEDED,
        OrderStatus.FAILED,
        OrderStatus.TIMED_OUT,
        OrderStatus.CANCELLED,
    }
)
OPEN_STATUSES = frozenset(set(OrderStatus) - TERMINAL_STATUSES)
CANCELLABLE_STATUSES = frozenset(
    {
        OrderStatus.PENDING_APPROVAL,
        OrderStatus.QUEUED,
        OrderStatus.RUNNING,
        OrderStatus.AWAITING_FULFILMENT,
    }
)
RETRYABLE_STATUSES = frozenset({OrderStatus.FAILED, OrderStatus.TIMED_OUT})


class NotificationKind(models.TextChoices):
    ORDER_PROGRESS = "order_progress", "My order moved on (approved, started, in a manual queue)"
    ORDER_FINISHED = "order_finished", "My order finished (succeeded, failed, rejected, cancelled)"
    APPROVAL_REQUESTED = "approval_requested", "An order waits for my approval"
    APPROVAL_REMINDER = "approval_reminder", "Reminder: an approval is still waiting"
    APPROVAL_ESCALATED = "approval_escalated", "An approval in my squad waits too long (escalation)"
    MANUAL_QUEUED = "manual_queued", "A manual order landed in my squad's queue"


#: Whether a kind is emailed when the person has not chosen (they always see
#: it in the portal). Progress of an order is frequent and rarely urgent.
EMAIL_BY_DEFAULT = {
    NotificationKind.ORDER_PROGRESS: False,
    NotificationKind.ORDER_FINISHED: True,
    NotificationKind.APPROVAL_REQUESTED: True,
    NotificationKind.APPROVAL_REMINDER: True,
    NotificationKind.APPROVAL_ESCALATED: True,
    NotificationKind.MANUAL_QUEUED: True,
}
