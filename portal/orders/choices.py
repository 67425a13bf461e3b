"""The statuses of an order and the sets of them that rules check."""

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
