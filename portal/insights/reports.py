"""What the squad dashboard and the leads' overview show, assembled from the
selectors: their figures, tables (``report_tables``) and charts
(``dashboard_charts``). Each part is computed when first asked for, so a CSV
export of one table computes that table only."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.urls import reverse

from portal.insights import breakdowns, debt, dependencies, load, quality, tooling
from portal.insights.dashboard_charts import dashboard_charts
from portal.insights.periods import Period
from portal.insights.report_tables import (
    QUALITY_COLUMNS,
    candidates_table,
    debt_table,
    dependencies_table,
    duplicates_table,
    histogram_table,
    impact_link,
    members_table,
    outside_target,
    phases_table,
    products_table,
    quality_cells,
    queues_table,
    reasons_table,
    register_table,
    summary_table,
    weekly_table,
)
from portal.insights.tables import Column, Table
from squads.models import Squad
from squads.selectors import display_name


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
    def weeks(self) -> list[breakdowns.Week]:
        return breakdowns.weekly_trend(self.orders, self.period)

    @cached_property
    def histogram(self) -> list[breakdowns.Bucket]:
        return breakdowns.lead_time_histogram(self.orders)

    @cached_property
    def reasons(self) -> list[breakdowns.FailureReason]:
        return breakdowns.failure_reasons(self.orders)

    @cached_property
    def candidates(self) -> list[breakdowns.AutomationCandidate]:
        return breakdowns.automation_candidates(self.period, squad_id=self.squad.pk)

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

    @cached_property
    def charts(self) -> dict[str, str]:
        automation = [
            (row.product.name, row.quality.automation_rate * 100)
            for row in self.products
            if row.quality.automation_rate is not None
        ]
        return dashboard_charts("squad", self.weeks, self.histogram, automation)

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
    def weeks(self) -> list[breakdowns.Week]:
        return breakdowns.weekly_trend(self.orders, self.period)

    @cached_property
    def histogram(self) -> list[breakdowns.Bucket]:
        return breakdowns.lead_time_histogram(self.orders)

    @cached_property
    def candidates(self) -> list[breakdowns.AutomationCandidate]:
        return breakdowns.automation_candidates(self.period)

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
    def charts(self) -> dict[str, str]:
        automation = [
            (squad_load.squad.name, rate * 100)
            for squad_load in self.loads
            if squad_load.squad.pk in self.by_squad
            and (rate := self.by_squad[squad_load.squad.pk].automation_rate) is not None
        ]
        return dashboard_charts("overview", self.weeks, self.histogram, automation)

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
                    **quality_cells(result),
                    "approvals_open": entry.approvals_open,
                    "manual_open": entry.manual_open,
                    "manual_unclaimed": entry.manual_unclaimed,
                    "instances_running": entry.instances_running,
                    "instances_per_member": entry.instances_per_member,
                    "warnings": [f"{flow.label} growing" for flow in entry.flows if flow.growing],
                    "debt": debt_by_squad.get(entry.squad.pk, 0),
                    "duplicates": duplicates.get(entry.squad.pk, 0),
                    "_links": {"squad": reverse("insights:squad-dashboard", args=[entry.squad.slug])},
                    "_outside": outside_target(result),
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
                Column("instances_running", "Instances running", "int"),
                Column("instances_per_member", "Instances per member", "number"),
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
                    "_links": {"product": impact_link(node.product)},
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
