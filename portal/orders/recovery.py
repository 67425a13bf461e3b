"""The periodic sweep that makes sure no order is stuck or lost. It reports
what it recovered; the task that runs it records the counters.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone

from portal.notifications.services import notification_emails_resend
from portal.orders.choices import RETRYABLE_STATUSES, OrderStatus
from portal.orders.execution import RUN_TO_ORDER_STATUS, dry_run_dispatch, order_dispatch, order_finish
from portal.orders.models import Order, OrderDryRun
from runbooks.choices import RunStatus
from runbooks.services import (
    WORKER_LOST,
    run_abandon,
    runs_mark_lost,
)

logger = logging.getLogger(__name__)
User = User


@dataclass
class SweepReport:
    lost_runs: list[int] = field(default_factory=list)
    finished_orders: list[int] = field(default_factory=list)
    redispatched_orders: list[int] = field(default_factory=list)
    secrets_purged: int = 0
    redispatched_dry_runs: list[int] = field(default_factory=list)
    emails_resent: int = 0


def orders_sweep() -> SweepReport:
    """Make sure no order is stuck or lost (run by beat every few seconds).

    - runs whose worker stopped heartbeating are marked lost, and their
      orders fail with ``worker_lost``;
    - orders whose run ended but were never updated (worker died in between)
      get the run's outcome;
    - orders left ``queued`` (broker down at submission, message lost) are
      dispatched again; a duplicate message is harmless (it runs once);
    - secret inputs of failed orders are destroyed after the retention period.
    """
    report = SweepReport()
    now = timezone.now()
    stale = timedelta(seconds=settings.SQUADRON_HEARTBEAT_STALE_SECONDS)
    report.lost_runs = runs_mark_lost(stale_after=stale)
    # A worker that died between taking an order and starting its playbook
    # leaves a run that never started and never heartbeats.
    for run_id in Order.objects.filter(
        status=OrderStatus.RUNNING,
        current_run__status=RunStatus.PENDING,
        current_run__created_at__lt=now - stale,
    ).values_list("current_run_id", flat=True):
        if run_abandon(run_id=run_id, failure_reason=WORKER_LOST):
            report.lost_runs.append(run_id)
    ended = Order.objects.filter(
        status=OrderStatus.RUNNING, current_run__status__in=list(RUN_TO_ORDER_STATUS)
    )
    for order in ended.select_related("current_run"):
        assert order.current_run is not None  # filtered on its status
        if order_finish(order_id=order.pk, run=order.current_run):
            report.finished_orders.append(order.pk)
    after = timedelta(seconds=settings.SQUADRON_REDISPATCH_AFTER_SECONDS)
    for order_id, queued_at, dispatched_at, count in Order.objects.filter(
        status=OrderStatus.QUEUED
    ).values_list("pk", "queued_at", "dispatched_at", "dispatch_count"):
        last = dispatched_at or queued_at or now
        # Back off for orders that simply wait behind a long queue.
        if now - last >= after * (2 ** min(max(count - 1, 0), 6)) and order_dispatch(order_id=order_id):
            report.redispatched_orders.append(order_id)
    for dry_run_id in OrderDryRun.objects.filter(
        run__status=RunStatus.PENDING, run__created_at__lt=now - after
    ).values_list("pk", flat=True):
        if dry_run_dispatch(dry_run_id):
            report.redispatched_dry_runs.append(dry_run_id)
    report.emails_resent = notification_emails_resend()
    retention = timedelta(hours=settings.SQUADRON_SECRET_RETENTION_HOURS)
    report.secrets_purged = (
        Order.objects.filter(status__in=list(RETRYABLE_STATUSES), finished_at__lt=now - retention)
        .exclude(secret_inputs_ciphertext="")
        .update(secret_inputs_ciphertext="")
    )
    if report.lost_runs or report.redispatched_orders or report.finished_orders:
        logger.warning("sweep: %s", report)
    return report
