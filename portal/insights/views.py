"""Insight pages: the squad dashboard, the leads' overview, the dependency
graph with impact analysis, and a CSV export of every table on them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from catalogue.choices import ProductStatus
from catalogue.models import Product
from portal.insights import access, charts, dependencies
from portal.insights.graph_svg import dependency_svg
from portal.insights.periods import PRESET_DAYS, Period, PeriodError, period_from_query
from portal.insights.quality import Bucket, Week
from portal.insights.reports import OverviewReport, SquadReport
from portal.insights.tables import Column, Table, duration_text, percent_text, to_csv
from portal.orders.selectors import orders_visible_to
from squads.models import Squad
from squads.selectors import squads_of


def _period(request: HttpRequest) -> Period:
    return period_from_query(request.GET, now=timezone.now())


def _bad_period(request: HttpRequest, error: PeriodError, back: str) -> HttpResponse:
    return render(request, "insights/bad_period.html", {"errors": error.errors, "back": back}, status=400)


def _with_period(url: str, period: Period) -> str:
    return f"{url}?{urlencode(period.as_query())}"


def _csv(table: Table, name: str, period: Period | None) -> HttpResponse:
    suffix = f"-{period.first_day:%Y%m%d}-{period.last_day:%Y%m%d}" if period else ""  # as labelled
    response = HttpResponse(to_csv(table), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}-{table.slug}{suffix}.csv"'
    return response


def _presets(request: HttpRequest) -> list[dict[str, Any]]:
    current = request.GET.get("days")
    return [{"days": days, "current": str(days) == current} for days in PRESET_DAYS]


# --- Charts --------------------------------------------------------------------------


#: The lead-time axis: logarithmic, so an automated median of seconds and a
#: manual 90th percentile of days share one chart and both stay readable.
LEAD_TIME_TICKS = (
    (1, "1 s"),
    (10, "10 s"),
    (60, "1 min"),
    (600, "10 min"),
    (3600, "1 h"),
    (6 * 3600, "6 h"),
    (86400, "1 d"),
    (7 * 86400, "1 w"),
    (30 * 86400, "30 d"),
    (365 * 86400, "1 y"),
)


def _charts(
    prefix: str, weeks: list[Week], histogram: list[Bucket], automation: list[tuple[str, float]]
) -> dict:
    labels = [charts.week_label(week.start) for week in weeks]
    total = sum(bucket.orders for bucket in histogram)
    busiest = max(histogram, key=lambda bucket: bucket.orders) if total else None
    ordered = sum(week.orders for week in weeks)
    succeeded = sum(week.succeeded for week in weeks)
    automated = sum(week.automated for week in weeks)
    return {
        "histogram": charts.bar_chart(
            f"{prefix}-histogram",
            "Lead time distribution",
            f"{total} succeeded orders by lead time"
            + (f"; most took {busiest.label} ({busiest.orders} orders)." if busiest else "."),
            [charts.Bar(bucket.label, bucket.orders, "bar") for bucket in histogram],
        ),
        "weekly_orders": charts.stacked_bar_chart(
            f"{prefix}-weekly-orders",
            "Orders per week by outcome",
            f"{ordered} orders over {len(weeks)} weeks, {succeeded} succeeded.",
            [
                charts.Stack(
                    label,
                    (
                        ("bar-succeeded", "succeeded", week.succeeded),
                        ("bar-failed", "failed or timed out", week.failed),
                        (
                            "bar-other",
                            "open, rejected or cancelled",
                            week.orders - week.succeeded - week.failed,
                        ),
                    ),
                )
                for label, week in zip(labels, weeks, strict=True)
            ],
        ),
        "weekly_lead_time": charts.line_chart(
            f"{prefix}-weekly-lead-time",
            "Lead time per week",
            "Median and 90th percentile lead time of succeeded orders per week, "
            "on a logarithmic scale (each grid line is a longer unit of time).",
            labels,
            [
                charts.Series("median", "line-median", tuple(w.lead_median_seconds for w in weeks)),
                charts.Series("p90", "line-p90", tuple(w.lead_p90_seconds for w in weeks)),
            ],
            log_ticks=LEAD_TIME_TICKS,
            hint=duration_text,
        ),
        "weekly_automation": charts.line_chart(
            f"{prefix}-weekly-automation",
            "Automation rate per week",
            "Share of succeeded orders fulfilled without a manual step: "
            f"{percent_text(automated / succeeded)} over the period."
            if succeeded
            else "No order succeeded in the period.",
            labels,
            [
                charts.Series(
                    "automation rate",
                    "line-automation",
                    tuple(None if w.automation_rate is None else w.automation_rate * 100 for w in weeks),
                ),
                charts.Series(
                    "within SLA",
                    "line-sla",
                    tuple(None if w.sla_attainment is None else w.sla_attainment * 100 for w in weeks),
                ),
            ],
            unit="%",
            maximum=100,
        ),
        "automation_by_product": charts.horizontal_bars(
            f"{prefix}-automation-by-product",
            "Automation rate per product",
            "; ".join(f"{name}: {value:.0f}%" for name, value in automation)
            or "No product delivered anything.",
            [charts.Bar(name, value, "bar-automation") for name, value in automation],
        )
        if automation
        else "",
    }


def _tables(report: Any, csv_name: str, kwargs: dict[str, str], period: Period) -> dict[str, dict[str, Any]]:
    return {
        slug.replace("-", "_"): {
            "table": report.table(slug),
            "csv": _with_period(reverse(csv_name, kwargs={**kwargs, "table": slug}), period),
        }
        for slug in report.TABLES
    }


# --- Squad dashboard ------------------------------------------------------------------


def _squad_for(request: HttpRequest, slug: str) -> Squad:
    squad = get_object_or_404(Squad, slug=slug)
    if not access.can_see_squad(request.user, squad):
        raise Http404("No such squad, or not one of yours.")
    return squad


@login_required
@require_GET
def squad_dashboard(request: HttpRequest, slug: str) -> HttpResponse:
    squad = _squad_for(request, slug)
    try:
        period = _period(request)
    except PeriodError as error:
        return _bad_period(request, error, reverse("insights:squad-dashboard", args=[slug]))
    report = SquadReport(squad, period)
    automation = [
        (row.product.name, row.quality.automation_rate * 100)
        for row in report.products
        if row.quality.automation_rate is not None
    ]
    context = {
        "squad": squad,
        "period": period,
        # Queues, load, dependencies and debt are measured now, whatever the period.
        "period_in_past": period.until < period.now - timedelta(days=1),
        "presets": _presets(request),
        "report": report,
        "summary": report.summary,
        "load": report.load,
        "alerts": report.alerts,
        "tables": _tables(report, "insights:squad-dashboard-csv", {"slug": slug}, period),
        "charts": _charts("squad", report.weeks, report.histogram, automation),
        "debt_add_url": f"{reverse('admin:insights_debtitem_add')}?squad={squad.pk}",
        "graph_svg": dependency_svg(
            report.graph, link=lambda node: reverse("insights:impact", args=[node.product.slug])
        )
        if report.graph.nodes
        else "",
        "lead_median": duration_text(report.summary.lead_median_seconds),
        "lead_p90": duration_text(report.summary.lead_p90_seconds),
    }
    return render(request, "insights/squad_dashboard.html", context)


@login_required
@require_GET
def squad_dashboard_csv(request: HttpRequest, slug: str, table: str) -> HttpResponse:
    squad = _squad_for(request, slug)
    try:
        period = _period(request)
    except PeriodError as error:
        return _bad_period(request, error, reverse("insights:squad-dashboard", args=[slug]))
    found = SquadReport(squad, period).table(table)
    if found is None:
        raise Http404("No such table on the dashboard.")
    return _csv(found, f"squad-{squad.slug}", period)


@login_required
@require_GET
def my_dashboards(request: HttpRequest) -> HttpResponse:
    """The dashboards the user may open; straight to it when there is one."""
    squads = list(Squad.objects.order_by("name") if request.user.is_superuser else squads_of(request.user))
    if len(squads) == 1:
        return redirect("insights:squad-dashboard", slug=squads[0].slug)
    return render(
        request,
        "insights/my_dashboards.html",
        {"squads": squads, "is_lead": access.is_lead(request.user)},
    )


# --- Overview ---------------------------------------------------------------------------


def _require_lead(request: HttpRequest) -> None:
    if not access.can_see_overview(request.user):
        raise Http404("The overview is for platform and chapter leads.")


@login_required
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    _require_lead(request)
    try:
        period = _period(request)
    except PeriodError as error:
        return _bad_period(request, error, reverse("insights:overview"))
    report = OverviewReport(period)
    automation = [
        (squad_load.squad.name, report.by_squad[squad_load.squad.pk].automation_rate * 100)
        for squad_load in report.loads
        if squad_load.squad.pk in report.by_squad
        and report.by_squad[squad_load.squad.pk].automation_rate is not None
    ]
    warnings = [(entry.squad, warning) for entry in report.loads for warning in entry.warnings]
    context = {
        "period": period,
        "presets": _presets(request),
        "summary": report.summary,
        "warnings": warnings,
        "retired_dependencies": report.graph.retired_dependencies(),
        "failing_dependencies": report.graph.failing_dependencies(),
        "tables": _tables(report, "insights:overview-csv", {}, period),
        "charts": _charts("overview", report.weeks, report.histogram, automation),
        "lead_median": duration_text(report.summary.lead_median_seconds),
        "lead_p90": duration_text(report.summary.lead_p90_seconds),
    }
    return render(request, "insights/overview.html", context)


@login_required
@require_GET
def overview_csv(request: HttpRequest, table: str) -> HttpResponse:
    _require_lead(request)
    try:
        period = _period(request)
    except PeriodError as error:
        return _bad_period(request, error, reverse("insights:overview"))
    found = OverviewReport(period).table(table)
    if found is None:
        raise Http404("No such table on the overview.")
    return _csv(found, "overview", period)


# --- Dependency graph and impact -----------------------------------------------------------


def _require_graph(request: HttpRequest) -> None:
    if not access.can_see_graph(request.user):
        raise Http404("The dependency graph is for squads and their leads.")


def _nodes_table(graph: dependencies.Graph) -> Table:
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
                "_links": {"product": reverse("insights:impact", args=[node.product.slug])},
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


@login_required
@require_GET
def graph(request: HttpRequest) -> HttpResponse:
    _require_graph(request)
    found = dependencies.dependency_graph(now=timezone.now())
    table = _nodes_table(found)
    if request.GET.get("format") == "csv":
        return _csv(table, "dependencies", None)
    return render(
        request,
        "insights/graph.html",
        {
            "graph": found,
            "svg": dependency_svg(
                found, link=lambda node: reverse("insights:impact", args=[node.product.slug])
            )
            if found.nodes
            else "",
            "graph_table": {"table": table, "csv": f"{reverse('insights:graph')}?format=csv"},
            "retired_dependencies": found.retired_dependencies(),
            "failing_dependencies": found.failing_dependencies(),
        },
    )


def _order_link(order_id: int) -> str:
    """The order's page where the portal has one (the order pages are built
    on another branch); no link rather than a broken one."""
    try:
        return reverse("order-detail", args=[order_id])
    except NoReverseMatch:
        return ""


def _affected_table(impact: dependencies.Impact, visible: set[int]) -> Table:
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
                "_links": {"order": _order_link(order["pk"])} if order["pk"] in visible else {},
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


@login_required
@require_GET
def impact(request: HttpRequest, slug: str) -> HttpResponse:
    _require_graph(request)
    product = get_object_or_404(Product.objects.select_related("squad"), slug=slug)
    if product.status == ProductStatus.DRAFT and not access.sees_product_details(request.user, product):
        raise Http404("No such product.")
    found = dependencies.dependency_graph(now=timezone.now())
    if product.pk not in found.nodes:
        found.nodes[product.pk] = dependencies.Node(product=product)
    result = found.impact(product.pk)
    product_ids = [product.pk, *(node.product.pk for node in result.affected)]
    visible = set(
        orders_visible_to(request.user).filter(product_id__in=product_ids).values_list("pk", flat=True)[:1000]
    )
    table = _affected_table(result, visible)
    if request.GET.get("format") == "csv":
        return _csv(table, f"impact-{product.slug}", None)
    return render(
        request,
        "insights/impact.html",
        {
            "product": product,
            "impact": result,
            "node": found.nodes[product.pk],
            "orders_table": {"table": table, "csv": f"{reverse('insights:impact', args=[slug])}?format=csv"},
            "alerts": dependencies.dependency_alerts(product),
            "svg": dependency_svg(
                found,
                link=lambda node: reverse("insights:impact", args=[node.product.slug]),
                highlight=product.pk,
            ),
        },
    )
