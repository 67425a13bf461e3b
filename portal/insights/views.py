"""Insight pages: the squad dashboard, the leads' overview, the dependency
graph with impact analysis, and a CSV export of every table on them."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from catalogue.choices import ProductStatus
from catalogue.models import Product
from portal.insights import access, dependencies
from portal.insights.graph_svg import dependency_svg
from portal.insights.periods import PRESET_DAYS, Period, PeriodError, period_from_query
from portal.insights.report_tables import affected_orders_table, graph_table, impact_link
from portal.insights.reports import OverviewReport, SquadReport
from portal.insights.tables import Table, duration_text, to_csv
from portal.instances.selectors import instance_counts
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
        "charts": report.charts,
        "debt_add_url": f"{reverse('admin:insights_debtitem_add')}?squad={squad.pk}",
        "graph_svg": dependency_svg(report.graph, link=lambda node: impact_link(node.product))
        if report.graph.nodes
        else "",
        "services": _services(squad),
        "lead_median": duration_text(report.summary.lead_median_seconds),
        "lead_p90": duration_text(report.summary.lead_p90_seconds),
    }
    return render(request, "insights/squad_dashboard.html", context)


def _services(squad: Squad) -> list[tuple[Product, int, Decimal | None]]:
    """The squad's products that make instances, with how many are active
    now and what they cost a month together."""
    products = list(Product.objects.filter(squad=squad, instance=True).order_by("name"))
    counts = instance_counts(products)
    return [
        (
            product,
            counts.get(product.pk, 0),
            product.unit_cost * counts.get(product.pk, 0) if product.unit_cost is not None else None,
        )
        for product in products
    ]


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
    warnings = [(entry.squad, warning) for entry in report.loads for warning in entry.warnings]
    context = {
        "period": period,
        "presets": _presets(request),
        "summary": report.summary,
        "warnings": warnings,
        "retired_dependencies": report.graph.retired_dependencies(),
        "failing_dependencies": report.graph.failing_dependencies(),
        "tables": _tables(report, "insights:overview-csv", {}, period),
        "charts": report.charts,
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


@login_required
@require_GET
def graph(request: HttpRequest) -> HttpResponse:
    _require_graph(request)
    # The filter's choices: every squad and product of the whole graph.
    whole = dependencies.dependency_graph(now=timezone.now())
    squads = {squad.slug: squad for squad in whole.squads}
    products = {node.product.slug: node.product for node in whole.nodes.values()}
    squad = squads.get(request.GET.get("squad", ""))
    product = products.get(request.GET.get("product", ""))
    found = (
        dependencies.dependency_graph(
            now=timezone.now(),
            squad_id=squad.pk if squad else None,
            product_id=product.pk if product else None,
        )
        if squad or product
        else whole
    )
    table = graph_table(found)
    if request.GET.get("format") == "csv":
        return _csv(table, "dependencies", None)
    return render(
        request,
        "insights/graph.html",
        {
            "graph": found,
            "squad_choices": whole.squads,
            "product_choices": sorted(products.values(), key=lambda item: item.name),
            "chosen_squad": squad,
            "chosen_product": product,
            "svg": dependency_svg(found, link=lambda node: impact_link(node.product)) if found.nodes else "",
            "graph_table": {"table": table, "csv": f"{reverse('insights:graph')}?format=csv"},
            "retired_dependencies": found.retired_dependencies(),
            "failing_dependencies": found.failing_dependencies(),
        },
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
    table = affected_orders_table(result, visible)
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
                link=lambda node: impact_link(node.product),
                highlight=product.pk,
            ),
        },
    )
