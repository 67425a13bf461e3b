"""The tables of the squad dashboard and the leads' overview (shown as HTML
tables, downloaded as CSV), each built from what the insights selectors
measured. The reports (``reports.py``) decide which tables a page shows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.urls import reverse

from catalogue.choices import ProductStatus
from portal.insights import breakdowns, debt, dependencies, load, quality, tooling
from portal.insights.tables import Column, Table
from portal.web.wording import FAILURE_CODES
from squads.models import Squad
from squads.selectors import display_name


def _product_link(product: Any) -> str:
    if product.status == ProductStatus.PUBLISHED:
        return reverse("product-detail", args=[product.slug])
    return ""


def impact_link(product: Any) -> str:
    return reverse("insights:impact", args=[product.slug])


QUALITY_COLUMNS = [
    Column("orders", "Orders", "int"),
    Column("succeeded", "Succeeded", "int"),
    Column("failed", "Failed or timed out", "int"),
    Column("open", "Open", "int"),
    Column("success_rate", "Success rate", "percent"),
    Column("lead_median", "Lead time median", "duration"),
    Column("lead_p90", "Lead time p90", "duration"),
    Column("sla_attainment", "Within SLA", "percent"),
    Column("automation_rate", "Automation rate", "percent"),
]


def outside_target(result: quality.Quality, *, sla_seconds: float | None = None) -> dict[str, str]:
    """The cells a table colours, with why: a success rate at which a
    product counts as failing (``dependencies.FAILING_RATE``), lead times
    longer than the product's SLA."""
    outside = {}
    if result.success_rate is not None and result.success_rate < 1 - dependencies.FAILING_RATE:
        outside["success_rate"] = f"under {1 - dependencies.FAILING_RATE:.0%}"
    if sla_seconds:
        for key, seconds in (
            ("lead_median", result.lead_median_seconds),
            ("lead_p90", result.lead_p90_seconds),
        ):
            if seconds is not None and seconds > sla_seconds:
                outside[key] = "longer than the SLA"
    return outside


def quality_cells(result: quality.Quality) -> dict[str, Any]:
    return {
        "orders": result.orders,
        "succeeded": result.succeeded,
        "failed": result.failed,
        "open": result.open,
        "success_rate": result.success_rate,
        "lead_median": result.lead_median_seconds,
        "lead_p90": result.lead_p90_seconds,
        "sla_attainment": result.sla_attainment,
        "automation_rate": result.automation_rate,
    }


def products_table(rows: list[quality.ProductQuality], *, with_squad: bool = False) -> Table:
    columns = [Column("product", "Product")]
    if with_squad:
        columns.append(Column("squad", "Squad"))
    columns += [Column("sla", "SLA", "duration"), *QUALITY_COLUMNS]
    return Table(
        slug="products",
        title="Service quality per product",
        columns=columns,
        rows=[
            {
                "product": row.product.name,
                "squad": row.product.squad.name,
                "sla": row.product.sla_minutes * 60,
                **quality_cells(row.quality),
                "_links": {"product": _product_link(row.product)},
                "_outside": outside_target(row.quality, sla_seconds=row.product.sla_minutes * 60),
            }
            for row in rows
        ],
        empty="No products.",
    )


def weekly_table(weeks: list[breakdowns.Week]) -> Table:
    return Table(
        slug="weekly",
        title="Weekly trend",
        columns=[
            Column("week", "Week of"),
            Column("orders", "Orders", "int"),
            Column("succeeded", "Succeeded", "int"),
            Column("failed", "Failed or timed out", "int"),
            Column("success_rate", "Success rate", "percent"),
            Column("lead_median", "Lead time median", "duration"),
            Column("lead_p90", "Lead time p90", "duration"),
            Column("sla_attainment", "Within SLA", "percent"),
            Column("automation_rate", "Automation rate", "percent"),
        ],
        rows=[
            {
                "week": f"{week.start:%Y-%m-%d}",
                "orders": week.orders,
                "succeeded": week.succeeded,
                "failed": week.failed,
                "success_rate": week.success_rate,
                "lead_median": week.lead_median_seconds,
                "lead_p90": week.lead_p90_seconds,
                "sla_attainment": week.sla_attainment,
                "automation_rate": week.automation_rate,
            }
            for week in weeks
        ],
    )


def histogram_table(buckets: list[breakdowns.Bucket]) -> Table:
    return Table(
        slug="lead-time",
        title="Lead time distribution (succeeded orders)",
        columns=[Column("bucket", "Lead time"), Column("orders", "Orders", "int")],
        rows=[{"bucket": bucket.label, "orders": bucket.orders} for bucket in buckets],
    )


def phases_table(result: quality.Quality) -> Table:
    return Table(
        slug="phases",
        title="Where the time goes",
        columns=[
            Column("phase", "Phase"),
            Column("orders", "Orders through it", "int"),
            Column("mean", "Mean", "duration"),
            Column("total", "Total", "hours"),
        ],
        rows=[
            {
                "phase": phase.label,
                "orders": phase.orders,
                "mean": phase.mean_seconds,
                "total": phase.total_seconds / 3600 if phase.total_seconds is not None else None,
            }
            for phase in result.phases
        ],
    )


def reasons_table(reasons: list[breakdowns.FailureReason]) -> Table:
    return Table(
        slug="failure-reasons",
        title="Why orders failed",
        columns=[
            Column("reason", "Reason"),
            Column("orders", "Orders", "int"),
            Column("products", "Products", "int"),
            Column("last_seen", "Last seen", "datetime"),
            Column("example", "Details"),
        ],
        rows=[
            {
                "reason": row.reason,
                "orders": row.orders,
                "products": row.products,
                "last_seen": row.last_seen,
                # The latest text where the row stands for several; a code in words.
                "example": f"Latest: {row.example}"
                if row.variants > 1
                else FAILURE_CODES.get(row.reason, ""),
            }
            for row in reasons
        ],
        empty="No order failed in this period.",
    )


def candidates_table(candidates: list[breakdowns.AutomationCandidate], *, with_squad: bool = False) -> Table:
    columns = [Column("product", "Product")]
    if with_squad:
        columns.append(Column("squad", "Squad"))
    columns += [
        Column("orders", "Orders", "int"),
        Column("fulfilled", "Fulfilled", "int"),
        Column("hands_on", "Hands-on work", "hours"),
        Column("hands_on_mean", "Per order", "duration"),
        Column("waiting_mean", "Wait before someone claims it", "duration"),
    ]
    return Table(
        slug="automation-candidates",
        title="Automation candidates",
        columns=columns,
        rows=[
            {
                "product": row.product.name,
                "squad": row.product.squad.name,
                "orders": row.orders,
                "fulfilled": row.fulfilled,
                "hands_on": row.hands_on_hours,
                "hands_on_mean": row.hands_on_mean_seconds,
                "waiting_mean": row.waiting_mean_seconds,
                "_links": {"product": _product_link(row.product)},
            }
            for row in candidates
        ],
        empty="No manual product was ordered in this period.",
        note="Manual products ranked by the hands-on time they cost: orders times minutes from claim to end.",
    )


def members_table(squad_load: load.SquadLoad) -> Table:
    return Table(
        slug="members",
        title="Load per member",
        columns=[
            Column("member", "Member"),
            Column("role", "Role"),
            Column("claimed_open", "Manual orders held", "int"),
            Column("approvals_waiting", "Approvals they may decide", "int"),
            Column("fulfilled", "Fulfilled by hand", "int"),
            Column("failed", "Failed by hand", "int"),
            Column("decided", "Approval decisions", "int"),
            Column("throughput", "Throughput", "int"),
        ],
        rows=[
            {
                "member": display_name(member.user),
                "role": member.role_label,
                "claimed_open": member.claimed_open,
                "approvals_waiting": member.approvals_waiting,
                "fulfilled": member.fulfilled,
                "failed": member.failed_by_hand,
                "decided": member.approvals_decided,
                "throughput": member.throughput,
            }
            for member in squad_load.members
        ],
        empty="The squad has no members.",
        note=_instances_note(squad_load),
    )


def _instances_note(squad_load: load.SquadLoad) -> str:
    running = squad_load.instances_running
    kept = f"The squad keeps {running} service instance{'s' if running != 1 else ''} running"
    per_member = squad_load.instances_per_member
    return f"{kept}: {per_member:.1f} per member." if per_member is not None else f"{kept}."


def queues_table(squad_load: load.SquadLoad) -> Table:
    return Table(
        slug="queues",
        title="Queues",
        columns=[
            Column("queue", "Queue"),
            Column("open", "Waiting now", "int"),
            Column("arrived", f"Came in (last {load.FLOW_DAYS} days)", "int"),
            Column("left", f"Left (last {load.FLOW_DAYS} days)", "int"),
            Column("warning", "Warning"),
        ],
        rows=[
            {
                "queue": flow.label,
                "open": flow.open_now,
                "arrived": flow.arrived,
                "left": flow.left,
                "warning": "Growing faster than it is worked" if flow.growing else "",
            }
            for flow in squad_load.flows
        ],
    )


def duplicates_table(pairs: list[tooling.DuplicatePair]) -> Table:
    return Table(
        slug="duplicates",
        title="Near-duplicate runbooks across squads",
        columns=[
            Column("first", "Runbook"),
            Column("first_squad", "Squad"),
            Column("second", "Similar runbook"),
            Column("second_squad", "Its squad"),
            Column("score", "Similarity", "percent"),
            Column("modules", "Modules in common", "list"),
            Column("first_tools", "Kept by the first", "list"),
            Column("second_tools", "Kept by the second", "list"),
        ],
        rows=[
            {
                "first": pair.first.runbook.name,
                "first_squad": pair.first.runbook.squad.name,
                "second": pair.second.runbook.name,
                "second_squad": pair.second.runbook.squad.name,
                "score": pair.score,
                "modules": pair.similarity.shared_modules,
                "first_tools": pair.first.tools,
                "second_tools": pair.second.tools,
            }
            for pair in pairs
        ],
        empty="No runbooks of different squads look alike.",
        note="Candidates to merge into one product, owned by one squad (a platform squad) for everyone.",
    )


def debt_table(subjects: list[debt.DebtSubject], *, with_squad: bool = False) -> Table:
    columns = [Column("subject", "Runbook or product")]
    if with_squad:
        columns.append(Column("squad", "Squad"))
    columns += [
        Column("products", "Products", "list"),
        Column("score", "Debt score", "int"),
        Column("items", "Why", "list"),
    ]
    return Table(
        slug="debt",
        title="Technical debt, worst first",
        columns=columns,
        rows=[
            {
                "subject": subject.name,
                "squad": subject.squad.name,
                "products": [product.name for product in subject.products],
                "score": subject.score,
                "items": [f"{item.label} (+{item.points}): {item.detail}" for item in subject.factors],
                "_links": {"subject": subject.admin_url},
            }
            for subject in subjects
        ],
        empty="No runbooks or products yet.",
    )


def register_table(items: list[Any]) -> Table:
    return Table(
        slug="register",
        title="Debt register",
        columns=[
            Column("title", "Item"),
            Column("product", "Product"),
            Column("severity", "Severity"),
            Column("effort", "Estimated effort", "days"),
            Column("status", "Status"),
            Column("created", "Recorded", "datetime"),
        ],
        rows=[
            {
                "title": item.title,
                "product": item.product.name,
                "severity": item.get_severity_display(),
                "effort": float(item.estimated_effort_days),
                "status": item.get_status_display(),
                "created": item.created_at,
                "_links": {"title": reverse("admin:insights_debtitem_change", args=[item.pk])},
            }
            for item in items
        ],
        empty="Nothing recorded yet.",
    )


@dataclass
class DependencyRow:
    product: Any
    other: Any
    direction: str  # "needs" or "needed by"


def dependencies_table(squad: Squad, graph: dependencies.Graph) -> Table:
    rows = []
    for node in sorted(graph.nodes.values(), key=lambda node: node.product.name):
        if node.product.squad_id != squad.pk:
            continue
        for pk in node.depends_on:
            other = graph.nodes[pk]
            state = "retired" if other.retired else "failing" if other.failing else "ok"
            rows.append(
                {
                    "product": node.product.name,
                    "direction": "needs",
                    "other": other.product.name,
                    "squad": other.product.squad.name,
                    "state": state,
                    "detail": other.health.summary if other.health and other.failing else "",
                    "open": node.open_total,
                    "_links": {"other": impact_link(other.product), "product": impact_link(node.product)},
                }
            )
        for pk in node.dependents:
            other = graph.nodes[pk]
            rows.append(
                {
                    "product": node.product.name,
                    "direction": "needed by",
                    "other": other.product.name,
                    "squad": other.product.squad.name,
                    "state": "retired" if other.retired else "failing" if other.failing else "ok",
                    "detail": "",
                    "open": other.open_total,
                    "_links": {"other": impact_link(other.product), "product": impact_link(node.product)},
                }
            )
    return Table(
        slug="dependencies",
        title="Dependencies of our products",
        columns=[
            Column("product", "Our product"),
            Column("direction", ""),
            Column("other", "Product"),
            Column("squad", "Owned by"),
            Column("state", "State"),
            Column("detail", "Detail"),
            Column("open", "Open orders affected", "int"),
        ],
        rows=rows,
        empty="Our products neither depend on others nor are depended on.",
    )


def summary_table(result: quality.Quality) -> Table:
    return Table(
        slug="summary",
        title="Summary",
        columns=[Column("metric", "Metric"), Column("value", "Value")],
        rows=[
            {"metric": "Orders", "value": result.orders},
            {"metric": "Finished", "value": result.finished},
            {"metric": "Succeeded", "value": result.succeeded},
            {"metric": "Success rate (%)", "value": _round_percent(result.success_rate)},
            {"metric": "Lead time median (minutes)", "value": _minutes(result.lead_median_seconds)},
            {"metric": "Lead time p90 (minutes)", "value": _minutes(result.lead_p90_seconds)},
            {"metric": "Within SLA (%)", "value": _round_percent(result.sla_attainment)},
            {"metric": "Automation rate (%)", "value": _round_percent(result.automation_rate)},
            {"metric": "Zero-touch rate (%)", "value": _round_percent(result.zero_touch_rate)},
        ],
    )


def _round_percent(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.2f}"


def _minutes(value: float | None) -> str:
    return "" if value is None else f"{value / 60:.2f}"


def graph_table(graph: dependencies.Graph) -> Table:
    """Every published product of the graph, layer by layer."""
    rows = []
    for node in sorted(graph.nodes.values(), key=lambda node: (node.depth, node.product.name)):
        state = [label for flag, label in ((node.retired, "retired"), (node.failing, "failing")) if flag]
        if node.in_cycle:
            state.append("in a dependency cycle")
        rows.append(
            {
                "product": node.product.name,
                "squad": node.product.squad.name,
                "depth": node.depth,
                "depends_on": [graph.nodes[pk].product.name for pk in node.depends_on],
                "needed_by": [graph.nodes[pk].product.name for pk in node.dependents],
                "state": state or ["ok"],
                "open": node.open_total,
                "_links": {"product": impact_link(node.product)},
            }
        )
    return Table(
        slug="graph",
        title="Products and their dependencies",
        columns=[
            Column("product", "Product"),
            Column("squad", "Squad"),
            Column("depth", "Layer", "int"),
            Column("depends_on", "Depends on", "list"),
            Column("needed_by", "Needed by", "list"),
            Column("state", "State", "list"),
            Column("open", "Open orders", "int"),
        ],
        rows=rows,
        empty="No published products yet.",
    )


def affected_orders_table(impact: dependencies.Impact, visible: set[int]) -> Table:
    """The open orders of a product and of what depends on it; linked where
    the viewer may open them (``visible``)."""
    product_ids = [impact.product.pk, *(node.product.pk for node in impact.affected)]
    rows = []
    for order in dependencies.open_orders_affected(product_ids):
        rows.append(
            {
                "order": f"#{order['pk']}",
                "product": order["product__name"],
                "squad": order["squad__name"],
                "status": order["status"].replace("_", " "),
                "submitted": order["created_at"],
                "_links": {"order": reverse("order-detail", args=[order["pk"]])}
                if order["pk"] in visible
                else {},
            }
        )
    return Table(
        slug="open-orders",
        title="Open orders affected",
        columns=[
            Column("order", "Order"),
            Column("product", "Product"),
            Column("squad", "Owned by"),
            Column("status", "Status"),
            Column("submitted", "Submitted", "datetime"),
        ],
        rows=rows,
        empty="No open order would be affected.",
    )
