from django.db import models


class DebtSeverity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


#: What an open register item adds to its subject's debt score.
SEVERITY_POINTS: dict[str, int] = {
    DebtSeverity.LOW: 2,
    DebtSeverity.MEDIUM: 5,
    DebtSeverity.HIGH: 10,
    DebtSeverity.CRITICAL: 20,
}
#: Worst first, for ordering in the database.
SEVERITY_RANK: dict[str, int] = {
    DebtSeverity.CRITICAL: 0,
    DebtSeverity.HIGH: 1,
    DebtSeverity.MEDIUM: 2,
    DebtSeverity.LOW: 3,
}


class DebtStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Paid off"
    ACCEPTED = "accepted", "Accepted (won't fix)"


#: Items that still weigh on the squad.
OPEN_DEBT_STATUSES = frozenset({DebtStatus.OPEN, DebtStatus.IN_PROGRESS})


class SweepRecoveryKind(models.TextChoices):
    """What the periodic sweep recovered (``portal.orders.recovery.orders_sweep``)."""

    LOST_RUN = "lost_run", "Run whose worker died, marked lost"
    FINISHED_ORDER = "finished_order", "Order given the outcome of its ended run"
    REDISPATCHED_ORDER = "redispatched_order", "Queued order sent to the broker again"
    REDISPATCHED_DRY_RUN = "redispatched_dry_run", "Dry run sent to the broker again"
