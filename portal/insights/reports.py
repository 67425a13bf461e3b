"""What the squad dashboard and the leads' overview show, assembled from the
selectors. Each part is computed when first asked for, so a CSV export of
one table computes that table only."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.urls import reverse

from catalogue.choices import ProductStatus
from portal.insights import debt, dependencies, load, quality, tooling
from portal.insights.periods import Period
from portal.insights.tables import Column, Table
from portal.web.wording import FAILURE_CODES
from squads.models import Squad
from squads.selectors import display_name


def _product_link(product: Any) -> str:
    if product.status == ProductStatus.PUBLISHED:
        return reverse("product-detail", args=[product.slug])
    return ""


def _impact_link(product: Any) -> str:
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


def _quality_cells(result: quality.Quality) -> dict[str, Any]:
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
                **_quality_cells(row.quality),
                "_links": {"product": _product_link(row.product)},
            }
            for row in rows
        ],
        empty="No products.",
    )


def weekly_table(weeks: list[quality.Week]) -> Table:
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


def histogram_table(buckets: list[quality.Bucket]) -> Table:
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


def reasons_table(reasons: list[quality.FailureReason]) -> Table:
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


def candidates_table(candidates: list[quality.AutomationCandidate], *, with_squad: bool = False) -> Table:
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
    )


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
                    "_links": {"other": _impact_link(other.product), "product": _impact_link(node.product)},
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
                    "_links": {"other": _impact_link(other.product), "product": _impact_link(node.product)},
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


class SquadReport:
    """Everything on one squad's dashboard for one period."""

    def __init__(self, squad: Squad, period: Period) -> None:
        self.squad = squad
        self.period = period

    @cached_property
    def orders(self) -> Any:
        return quality.orders_in(self.period, squad_id=self.squad.pk)

    @cached_property
    def _quality(self) -> tuple[quality.Quality, dict[Any, quality.Quality]]:
        return quality.quality_with_groups(self.orders, "product_id")

    @property
    def summary(self) -> quality.Quality:
        return self._quality[0]

    @cached_property
    def products(self) -> list[quality.ProductQuality]:
        return quality.product_quality_table(self.period, squad_id=self.squad.pk, by_product=self._quality[1])

    @cached_property
    def weeks(self) -> list[quality.Week]:
        return quality.weekly_trend(self.orders, self.period)

    @cached_property
    def histogram(self) -> list[quality.Bucket]:
        return quality.lead_time_histogram(self.orders)

    @cached_property
    def reasons(self) -> list[quality.FailureReason]:
        return quality.failure_reasons(self.orders)

    @cached_property
    def candidates(self) -> list[quality.AutomationCandidate]:
        return quality.automation_candidates(self.period, squad_id=self.squad.pk)

    @cached_property
    def load(self) -> load.SquadLoad:
        return load.squad_load(self.squad, self.period)

    @cached_property
    def graph(self) -> dependencies.Graph:
        return dependencies.dependency_graph(now=self.period.now, squad_id=self.squad.pk)

    @cached_property
    def duplicates(self) -> list[tooling.DuplicatePair]:
        return tooling.duplicate_runbooks(squad_id=self.squad.pk)

    @cached_property
    def debt(self) -> list[debt.DebtSubject]:
        return debt.debt_subjects(squad_id=self.squad.pk, now=self.period.now)

    @cached_property
    def register(self) -> list[Any]:
        return debt.debt_register(squad_id=self.squad.pk)

    @property
    def alerts(self) -> list[str]:
        """Plain sentences for the top of the page."""
        messages = list(self.load.warnings)
        for node, retired in self.graph.retired_dependencies():
            if node.product.squad_id == self.squad.pk:
                messages.append(f"{node.product.name} depends on {retired.product.name}, which is retired.")
        for node, failing in self.graph.failing_dependencies():
            if node.product.squad_id == self.squad.pk:
                messages.append(
                    f"{node.product.name} depends on {failing.product.name} ({failing.product.squad.name}), "
                    f"which is failing: {failing.health.summary if failing.health else ''}."
                )
        return messages

    def table(self, slug: str) -> Table | None:
        builders = {
            "summary": lambda: summary_table(self.summary),
            "products": lambda: products_table(self.products),
            "weekly": lambda: weekly_table(self.weeks),
            "lead-time": lambda: histogram_table(self.histogram),
            "phases": lambda: phases_table(self.summary),
            "failure-reasons": lambda: reasons_table(self.reasons),
            "automation-candidates": lambda: candidates_table(self.candidates),
            "queues": lambda: queues_table(self.load),
            "members": lambda: members_table(self.load),
            "dependencies": lambda: dependencies_table(self.squad, self.graph),
            "duplicates": lambda: duplicates_table(self.duplicates),
            "debt": lambda: debt_table(self.debt),
            "register": lambda: register_table(self.register),
        }
        builder = builders.get(slug)
        return builder() if builder else None

    TABLES = (
        "summary",
        "products",
        "weekly",
        "lead-time",
        "phases",
        "failure-reasons",
        "automation-candidates",
        "queues",
        "members",
        "dependencies",
        "duplicates",
        "debt",
        "register",
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


class OverviewReport:
    """Across all squads, for platform and chapter leads."""

    TABLES = (
        "squads",
        "products",
        "weekly",
        "lead-time",
        "automation-candidates",
        "duplicates",
        "shared-credentials",
        "people",
        "debt",
        "dependencies",
    )

    def __init__(self, period: Period) -> None:
        self.period = period

    @cached_property
    def orders(self) -> Any:
        return quality.orders_in(self.period)

    @cached_property
    def _quality(self) -> tuple[quality.Quality, dict[Any, quality.Quality]]:
        return quality.quality_with_groups(self.orders, "squad_id")

    @property
    def summary(self) -> quality.Quality:
        return self._quality[0]

    @property
    def by_squad(self) -> dict[Any, quality.Quality]:
        return self._quality[1]

    @cached_property
    def products(self) -> list[quality.ProductQuality]:
        return quality.product_quality_table(self.period)

    @cached_property
    def weeks(self) -> list[quality.Week]:
        return quality.weekly_trend(self.orders, self.period)

    @cached_property
    def histogram(self) -> list[quality.Bucket]:
        return quality.lead_time_histogram(self.orders)

    @cached_property
    def candidates(self) -> list[quality.AutomationCandidate]:
        return quality.automation_candidates(self.period)

    @cached_property
    def loads(self) -> list[load.SquadLoad]:
        return load.squads_load(now=self.period.now)

    @cached_property
    def duplicates(self) -> list[tooling.DuplicatePair]:
        return tooling.duplicate_runbooks()

    @cached_property
    def shared_credentials(self) -> list[tooling.SharedCredential]:
        return tooling.shared_credentials()

    @cached_property
    def people(self) -> list[load.SharedPerson]:
        return load.people_in_several_squads()

    @cached_property
    def debt(self) -> list[debt.DebtSubject]:
        return debt.debt_subjects(now=self.period.now)

    @cached_property
    def graph(self) -> dependencies.Graph:
        return dependencies.dependency_graph(now=self.period.now)

    def squads_table(self) -> Table:
        debt_by_squad: dict[int, int] = {}
        for subject in self.debt:
            debt_by_squad[subject.squad.pk] = debt_by_squad.get(subject.squad.pk, 0) + subject.score
        duplicates: dict[int, int] = {}
        for pair in self.duplicates:
            for squad in pair.squads:
                duplicates[squad.pk] = duplicates.get(squad.pk, 0) + 1
        rows = []
        for entry in self.loads:
            result = self.by_squad.get(entry.squad.pk, quality.Quality())
            rows.append(
                {
                    "squad": entry.squad.name,
                    **_quality_cells(result),
                    "approvals_open": entry.approvals_open,
                    "manual_open": entry.manual_open,
                    "manual_unclaimed": entry.manual_unclaimed,
                    "warnings": [f"{flow.label} growing" for flow in entry.flows if flow.growing],
                    "debt": debt_by_squad.get(entry.squad.pk, 0),
                    "duplicates": duplicates.get(entry.squad.pk, 0),
                    "_links": {"squad": reverse("insights:squad-dashboard", args=[entry.squad.slug])},
                }
            )
        return Table(
            slug="squads",
            title="Squads side by side",
            columns=[
                Column("squad", "Squad"),
                *QUALITY_COLUMNS,
                Column("approvals_open", "Approvals waiting", "int"),
                Column("manual_open", "Manual queue", "int"),
                Column("manual_unclaimed", "Unclaimed", "int"),
                Column("debt", "Debt score", "int"),
                Column("duplicates", "Near-duplicate runbooks", "int"),
                Column("warnings", "Warnings", "list"),
            ],
            rows=rows,
            empty="No squads yet.",
        )

    def shared_credentials_table(self) -> Table:
        return Table(
            slug="shared-credentials",
            title="Accounts kept by several squads",
            columns=[
                Column("account", "Account"),
                Column("kind", "Kind"),
                Column("squads", "Squads", "list"),
                Column("credentials", "Credentials", "list"),
            ],
            rows=[
                {
                    "account": group.username,
                    "kind": group.kind,
                    "squads": [squad.name for squad in group.squads],
                    "credentials": [credential.name for credential in group.credentials],
                }
                for group in self.shared_credentials
            ],
            empty="No account is kept twice.",
        )

    def people_table(self) -> Table:
        return Table(
            slug="people",
            title="People in several squads",
            columns=[
                Column("person", "Person"),
                Column("seats", "Seats", "list"),
                Column("claimed_open", "Manual orders held", "int"),
            ],
            rows=[
                {
                    "person": display_name(person.user),
                    "seats": [f"{squad.name} ({role})" for squad, role in person.seats],
                    "claimed_open": person.claimed_open,
                }
                for person in self.people
            ],
            empty="Everyone sits in one squad.",
        )

    def dependencies_table(self) -> Table:
        rows = []
        for node, count in self.graph.most_depended_on(limit=50):
            impact = self.graph.impact(node.product.pk)
            rows.append(
                {
                    "product": node.product.name,
                    "squad": node.product.squad.name,
                    "dependents": count,
                    "squads": [squad.name for squad in impact.other_squads],
                    "open": impact.open_total,
                    "state": "retired" if node.retired else "failing" if node.failing else "ok",
                    "_links": {"product": _impact_link(node.product)},
                }
            )
        return Table(
            slug="dependencies",
            title="Most depended-on products",
            columns=[
                Column("product", "Product"),
                Column("squad", "Owned by"),
                Column("dependents", "Products depending on it", "int"),
                Column("squads", "Other squads affected", "list"),
                Column("open", "Open orders affected", "int"),
                Column("state", "State"),
            ],
            rows=rows,
            empty="No product depends on another.",
        )

    def table(self, slug: str) -> Table | None:
        builders = {
            "squads": self.squads_table,
            "products": lambda: products_table(self.products, with_squad=True),
            "weekly": lambda: weekly_table(self.weeks),
            "lead-time": lambda: histogram_table(self.histogram),
            "automation-candidates": lambda: candidates_table(self.candidates, with_squad=True),
            "duplicates": lambda: duplicates_table(self.duplicates),
            "shared-credentials": self.shared_credentials_table,
            "people": self.people_table,
            "debt": lambda: debt_table([subject for subject in self.debt if subject.score], with_squad=True),
            "dependencies": self.dependencies_table,
        }
        builder = builders.get(slug)
        return builder() if builder else None
