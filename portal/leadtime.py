"""The lead time a business user can expect, measured from recent orders.

A product's SLA is what its squad commits to; what people actually wait is
the median, from submission to the end, of its latest succeeded orders. The
median, not the mean: one order that waited a weekend for an approval must
not make every later requester expect days.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import timedelta

from portal.choices import OrderStatus
from portal.models import Order

#: How many of the latest succeeded orders the estimate uses.
SAMPLE_SIZE = 20


@dataclass(frozen=True)
class LeadTime:
    median: timedelta
    sample_size: int
    sla: timedelta

    @property
    def within_sla(self) -> bool:
        return self.median <= self.sla


def expected_lead_time(
    *, product_id: int, sla_minutes: int, sample_size: int = SAMPLE_SIZE
) -> LeadTime | None:
    """The median lead time of the product's latest succeeded orders, or
    None while it has none (one query, at most ``sample_size`` rows)."""
    rows = (
        Order.objects.filter(product_id=product_id, status=OrderStatus.SUCCEEDED, finished_at__isnull=False)
        .order_by("-finished_at")
        .values_list("created_at", "finished_at")[:sample_size]
    )
    durations = [finished - submitted for submitted, finished in rows if finished >= submitted]
    if not durations:
        return None
    return LeadTime(
        median=statistics.median(durations),
        sample_size=len(durations),
        sla=timedelta(minutes=sla_minutes),
    )
