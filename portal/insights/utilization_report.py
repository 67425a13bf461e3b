"""What the utilization page (``/insights/cost/utilization/``) and its CSV
exports show, for one reader's scope: instances running, idle instances,
instances past their expiry and, for leads, replicated resources with the
spend over the cost report's period."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from functools import cached_property

from portal.consumption import utilization
from portal.consumption.cost import cents
from portal.insights.cost_report import INSTANCE_COLUMNS, CostReport, instance_cells
from portal.insights.replication import ReplicatedPair, replicated_resources
from portal.insights.tables import Column, Table
from portal.instances.models import ServiceInstance

#: The page lists this many idle or expired instances; the CSV up to ``CSV_ROWS``.
PAGE_ROWS = 50
CSV_ROWS = 10_000


class UtilizationReport:
    """The utilization page of one reader: ``costs`` gives the scope, the
    period (the replicated products' spend) and the clock."""

    TABLES = ("idle", "expired", "replicated")

    def __init__(self, costs: CostReport, *, idle_days: int = utilization.DEFAULT_IDLE_DAYS) -> None:
        self.costs = costs
        self.scope = costs.scope
        self.now = costs.period.now
        self.idle_days = idle_days

    @cached_property
    def running(self) -> utilization.Tally:
        return utilization.running_tally(self.scope)

    @cached_property
    def idle_tally(self) -> utilization.Tally:
        return utilization.idle_tally(self.scope, now=self.now, days=self.idle_days)

    def idle(self, limit: int) -> list[ServiceInstance]:
        return utilization.listed(
            utilization.idle_instances(self.scope, now=self.now, days=self.idle_days), limit
        )

    @cached_property
    def expired_tally(self) -> utilization.Tally:
        return utilization.expired_tally(self.scope, now=self.now)

    def expired(self, limit: int) -> list[ServiceInstance]:
        return utilization.listed(utilization.expired_instances(self.scope, now=self.now), limit)

    @property
    def shows_replicated(self) -> bool:
        """Replicated resources compare squads: for those who see them all."""
        return self.scope.everything

    @cached_property
    def replicated(self) -> list[ReplicatedPair]:
        if not self.shows_replicated:
            return []
        spend = {
            pk: cents(sum(months.values(), start=Decimal(0))) for pk, months in self.costs.by_product.items()
        }
        return replicated_resources(spend)

    def idle_table(self, *, limit: int = PAGE_ROWS, links: bool = True) -> Table:
        instances = self.idle(limit)
        last = utilization.last_orders(instances)
        now = self.now
        rows = []
        for instance, cells in zip(
            instances, instance_cells(self.costs.viewer, instances, links=links), strict=True
        ):
            since = last.get(instance.pk) or instance.created_at
            rows.append({**cells, "last_order": last.get(instance.pk), "idle_days": (now - since).days})
        count = self.idle_tally.count
        return Table(
            slug="idle",
            title=f"Idle instances: no order for {self.idle_days} days",
            columns=[
                *INSTANCE_COLUMNS,
                Column("last_order", "Last order", "date"),
                Column("idle_days", "Days without an order", "int"),
                Column("monthly_cost", "Cost a month", "money"),
            ],
            rows=rows,
            empty=f"Every instance had an order in the last {self.idle_days} days.",
            note=_more(count, len(rows)),
        )

    def expired_table(self, *, limit: int = PAGE_ROWS, links: bool = True) -> Table:
        instances = self.expired(limit)
        now = self.now
        return Table(
            slug="expired",
            title="Instances past their expiry",
            columns=[
                *INSTANCE_COLUMNS,
                Column("expired", "Expired on", "date"),
                Column("overdue", "Days overdue", "int"),
                Column("monthly_cost", "Cost a month", "money"),
            ],
            rows=[
                {
                    **cells,
                    "expired": instance.expires_at,
                    "overdue": (now - instance.expires_at).days if instance.expires_at else None,
                }
                for instance, cells in zip(
                    instances, instance_cells(self.costs.viewer, instances, links=links), strict=True
                )
            ],
            empty="No instance is kept past its expiry.",
            note=_more(self.expired_tally.count, len(instances)),
        )

    def replicated_table(self) -> Table:
        return Table(
            slug="replicated",
            title="Replicated resources: products of different squads that provide the same thing",
            columns=[
                Column("product", "Product"),
                Column("squad", "Squad"),
                Column("similar", "Similar product"),
                Column("similar_squad", "Its squad"),
                Column("score", "Similarity", "percent"),
                Column("runbook", "Runbooks alike", "percent"),
                Column("category", "Same category"),
                Column("attributes", "Attributes in common", "list"),
                Column("running", "Instances kept", "int"),
                Column("similar_running", "Instances kept (similar)", "int"),
                Column("spend", "Spend", "money"),
                Column("similar_spend", "Spend (similar)", "money"),
                Column("together", "Spend together", "money"),
            ],
            rows=[
                {
                    "product": pair.first.name,
                    "squad": pair.first.squad.name,
                    "similar": pair.second.name,
                    "similar_squad": pair.second.squad.name,
                    "score": pair.score,
                    "runbook": pair.by_facet.get("runbook"),
                    "category": "yes" if pair.by_facet.get("category") else "no",
                    "attributes": pair.shared_attributes,
                    "running": pair.first_running,
                    "similar_running": pair.second_running,
                    "spend": pair.first_spend,
                    "similar_spend": pair.second_spend,
                    "together": pair.spend,
                }
                for pair in self.replicated
            ],
            empty="No two squads offer the same kind of product.",
            note="Spend over the period chosen above; the pairs that cost most together first.",
        )

    def table(self, slug: str, *, csv: bool = False) -> Table | None:
        """A table of the page by its slug; a CSV lists every idle or
        expired instance (up to ``CSV_ROWS``), not the page's first
        ``PAGE_ROWS``, and links nowhere."""
        limit = CSV_ROWS if csv else PAGE_ROWS
        builders: dict[str, Callable[[], Table]] = {
            "idle": lambda: self.idle_table(limit=limit, links=not csv),
            "expired": lambda: self.expired_table(limit=limit, links=not csv),
        }
        if self.shows_replicated:
            builders["replicated"] = self.replicated_table
        builder = builders.get(slug)
        return builder() if builder else None


def _more(count: int, shown: int) -> str:
    if count <= shown:
        return ""
    return f"{count} in all; the first {shown} are shown here, up to {CSV_ROWS:,} in the CSV."
