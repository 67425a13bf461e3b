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


def _scope(request: HttpRequest) -> CostScope:
    scope = access.cost_scope(request.user)
    if scope.empty:
        raise Http404("The cost page is for leads, business units' members and squads.")
    return scope


def _report(request: HttpRequest, scope: CostScope) -> CostReport:
    """Raises ``PeriodError`` naming a bad ``since``, ``until``, ``days`` or ``idle_days``."""
    now = timezone.now()
    errors: dict[str, list[str]] = {}
    period: Period | None = None
    idle_days = 0
    try:
        period = cost_period(request.GET, now=now)
    except PeriodError as error:
        errors.update(error.errors)
    try:
        idle_days = idle_days_from_query(request.GET)
    except PeriodError as error:
        errors.update(error.errors)
    if errors or period is None:
        raise PeriodError(errors)
    return CostReport(viewer=request.user, scope=scope, period=period, idle_days=idle_days)


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


def _query(report: CostReport) -> str:
    return urlencode({**report.period.as_query(), "idle_days": report.idle_days})


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


def _tables(report: CostReport, slugs: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    query = _query(report)
    return {
        slug.replace("-", "_"): {
            "table": table,
            "csv": f"{reverse('insights:cost-csv', args=[slug])}?{query}",
        }
        for slug in slugs
        if (table := report.table(slug)) is not None
    }


def _common(request: HttpRequest, report: CostReport) -> dict[str, Any]:
    """What both pages show above their figures: the period form and the tabs."""
    query = _query(report)
    return {
        "report": report,
        "period": report.period,
        "presets": _presets(request, report.period.now),
        "scope_names": report.scope_sentence,
        "spend_url": f"{reverse('insights:cost')}?{query}",
        "utilization_url": f"{reverse('insights:utilization')}?{query}",
    }


@login_required
@require_GET
def cost(request: HttpRequest) -> HttpResponse:
    """Spend per business unit, product and squad, the trend and the
    largest instances."""
    scope = _scope(request)
    try:
        report = _report(request, scope)
    except PeriodError as error:
        return _refused(request, error)
    months = len(report.months)
    context = {
        **_common(request, report),
        "tables": _tables(report, report.SPEND_TABLES),
        "total": cents(report.total),
        "average": cents(report.total / months) if months else 0,
        "months": months,
        "this_month": cents(report.per_month[report.months[-1]]) if months else 0,
        "chart": report.trend_chart,
    }
    return render(request, "insights/cost.html", context)


@login_required
@require_GET
def utilization(request: HttpRequest) -> HttpResponse:
    """What is kept without being used: idle instances, instances past
    their expiry and, for leads, replicated resources across squads."""
    scope = _scope(request)
    try:
        report = _report(request, scope)
    except PeriodError as error:
        return _refused(request, error)
    context = {
        **_common(request, report),
        "tables": _tables(report, report.UTILIZATION_TABLES),
        "running": report.running,
        "idle": report.idle_tally,
        "expired": report.expired_tally,
        "replicated": report.replicated if report.shows_replicated else None,
    }
    return render(request, "insights/utilization.html", context)


@login_required
@require_GET
def cost_csv(request: HttpRequest, table: str) -> HttpResponse:
    scope = _scope(request)
    try:
        report = _report(request, scope)
    except PeriodError as error:
        return _refused(request, error)
    found: Table | None = report.table(table, csv=True)
    if found is None:
        raise Http404("No such table on the cost page.")
    period = report.period
    response = HttpResponse(to_csv(found), content_type="text/csv; charset=utf-8")
    name = f"cost-{found.slug}-{period.first_day:%Y%m%d}-{period.last_day:%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
