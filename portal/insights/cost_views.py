"""The cost pages, for what the reader may see (``access.cost_scope``):
``/insights/cost/`` (spend per business unit, product and squad, its trend,
the largest instances) and ``/insights/cost/utilization/`` (idle instances,
instances past their expiry, replicated resources), with a CSV export of
every table of either (``/insights/cost/<table>.csv``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from portal.consumption.cost import CostScope, cents
from portal.insights import access
from portal.insights.cost_report import CostReport, cost_period, idle_days_from_query
from portal.insights.periods import Period, PeriodError
from portal.insights.tables import Table, to_csv
from portal.insights.utilization_report import UtilizationReport


def _scope(request: HttpRequest) -> CostScope:
    scope = access.cost_scope(request.user)
    if scope.empty:
        raise Http404("The cost page is for leads, business units' members and squads.")
    return scope


def _reports(request: HttpRequest) -> UtilizationReport:
    """The reader's reports (the cost report is ``.costs``). Raises
    ``PeriodError`` naming a bad ``since``, ``until``, ``days`` or ``idle_days``."""
    scope = _scope(request)
    errors: dict[str, list[str]] = {}
    period: Period | None = None
    idle_days = 0
    try:
        period = cost_period(request.GET, now=timezone.now())
    except PeriodError as error:
        errors.update(error.errors)
    try:
        idle_days = idle_days_from_query(request.GET)
    except PeriodError as error:
        errors.update(error.errors)
    if errors or period is None:
        raise PeriodError(errors)
    costs = CostReport(viewer=request.user, scope=scope, period=period)
    return UtilizationReport(costs, idle_days=idle_days)


def _refused(request: HttpRequest, error: PeriodError) -> HttpResponse:
    return render(
        request,
        "insights/bad_period.html",
        {
            "errors": error.errors,
            "back": reverse("insights:cost"),
            "back_label": "Show the last twelve months instead",
        },
        status=400,
    )


def _query(reports: UtilizationReport) -> str:
    """The query string that names the same period and idle days again."""
    return urlencode({**reports.costs.period.as_query(), "idle_days": reports.idle_days})


def _presets(request: HttpRequest, now: Any) -> list[dict[str, Any]]:
    year = timezone.localtime(now).year
    choices = [
        ("Last 12 months", {}),
        (f"{year} so far", {"since": f"{year}-01-01"}),
        (str(year - 1), {"since": f"{year - 1}-01-01", "until": f"{year - 1}-12-31"}),
    ]
    asked = {name: request.GET[name] for name in ("since", "until", "days") if request.GET.get(name)}
    return [
        {"label": label, "query": urlencode(params), "current": params == asked} for label, params in choices
    ]


def _tables(report: CostReport | UtilizationReport, query: str) -> dict[str, dict[str, Any]]:
    return {
        slug.replace("-", "_"): {
            "table": table,
            "csv": f"{reverse('insights:cost-csv', args=[slug])}?{query}",
        }
        for slug in report.TABLES
        if (table := report.table(slug)) is not None
    }


def _common(request: HttpRequest, reports: UtilizationReport) -> dict[str, Any]:
    """What both pages show above their figures: whose costs, the tabs, the period form."""
    query = _query(reports)
    return {
        "report": reports,
        "period": reports.costs.period,
        "presets": _presets(request, reports.now),
        "scope_names": reports.costs.scope_sentence,
        "spend_url": f"{reverse('insights:cost')}?{query}",
        "utilization_url": f"{reverse('insights:utilization')}?{query}",
    }


@login_required
@require_GET
def cost(request: HttpRequest) -> HttpResponse:
    """Spend per business unit, product and squad, the trend and the
    largest instances."""
    try:
        reports = _reports(request)
    except PeriodError as error:
        return _refused(request, error)
    costs = reports.costs
    months = len(costs.months)
    context = {
        **_common(request, reports),
        "tables": _tables(costs, _query(reports)),
        "total": cents(costs.total),
        "average": cents(costs.total / months) if months else 0,
        "months": months,
        "this_month": cents(costs.per_month[costs.months[-1]]) if months else 0,
        "chart": costs.trend_chart,
    }
    return render(request, "insights/cost.html", context)


@login_required
@require_GET
def utilization(request: HttpRequest) -> HttpResponse:
    """What is kept without being used: idle instances, instances past
    their expiry and, for leads, replicated resources across squads."""
    try:
        reports = _reports(request)
    except PeriodError as error:
        return _refused(request, error)
    context = {
        **_common(request, reports),
        "tables": _tables(reports, _query(reports)),
        "running": reports.running,
        "idle": reports.idle_tally,
        "expired": reports.expired_tally,
        "replicated": reports.replicated if reports.shows_replicated else None,
    }
    return render(request, "insights/utilization.html", context)


@login_required
@require_GET
def cost_csv(request: HttpRequest, table: str) -> HttpResponse:
    try:
        reports = _reports(request)
    except PeriodError as error:
        return _refused(request, error)
    found: Table | None = reports.costs.table(table, csv=True) or reports.table(table, csv=True)
    if found is None:
        raise Http404("No such table on the cost pages.")
    period = reports.costs.period
    response = HttpResponse(to_csv(found), content_type="text/csv; charset=utf-8")
    name = f"cost-{found.slug}-{period.first_day:%Y%m%d}-{period.last_day:%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
