"""Changes of state owned by the insights: the debt register and the sweep's
recovery counters."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from portal.insights.choices import OPEN_DEBT_STATUSES, SweepRecoveryKind
from portal.insights.models import DebtItem, SweepRecovery
from squads.selectors import can_curate


def debt_item_save(*, item: DebtItem, actor: User) -> DebtItem:
    """Record or update a register item. Only the owning squad (or a
    superuser) may; the product must be the squad's own (``DebtItem.clean``).
    Closing an item stamps when; reopening clears it."""
    if not can_curate(actor, item.squad_id):
        raise PermissionDenied("Only the owning squad records debt against its products.")
    item.full_clean()
    if item.status in OPEN_DEBT_STATUSES:
        item.resolved_at = None
    elif item.resolved_at is None:
        item.resolved_at = timezone.now()
    if item.pk is None and item.created_by_id is None:
        item.created_by = actor
    item.save()
    return item


#: ``SweepReport`` fields and the kind of recovery each lists.
_REPORT_FIELDS = {
    "lost_runs": SweepRecoveryKind.LOST_RUN,
    "finished_orders": SweepRecoveryKind.FINISHED_ORDER,
    "redispatched_orders": SweepRecoveryKind.REDISPATCHED_ORDER,
    "redispatched_dry_runs": SweepRecoveryKind.REDISPATCHED_DRY_RUN,
}


def sweep_recoveries_record(report: Any) -> None:
    """Add what one sweep recovered to the persistent counters (a conditional
    increment per kind; never raises into the sweep)."""
    for name, kind in _REPORT_FIELDS.items():
        count = len(getattr(report, name, []) or [])
        if count:
            _increment(kind, count)


def _increment(kind: str, count: int) -> None:
    updated = SweepRecovery.objects.filter(kind=kind).update(
        count=F("count") + count, updated_at=timezone.now()
    )
    if updated:
        return
    try:
        with transaction.atomic():
            SweepRecovery.objects.create(kind=kind, count=count)
    except IntegrityError:
        # Another sweep created the row first: add to it.
        SweepRecovery.objects.filter(kind=kind).update(count=F("count") + count, updated_at=timezone.now())
