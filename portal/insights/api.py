"""``GET /api/v1/squads/{slug}/metrics/`` and ``GET /api/v1/products/{slug}/metrics/``:
the dashboards' numbers for programs, over ``?since=&until=`` (ISO dates or
date-times; ``until`` included when it is a date; default the last 90 days).

Who may read them is what the pages allow (``portal.insights.access``): a
squad's metrics for its members and superusers (others get a 404); a
published product's metrics for anyone signed in, its failure reasons only
for its squad and leads. Callers authenticate with their browser session or
``Authorization: Token KEY`` (``portal.tokens``); errors are JSON,
``{"detail", "code"}``, plus ``errors`` per parameter for a bad period.

These are plain Django views, not DRF ones, because the project's DRF
settings name the REST API package (``portal.api``: its authentication,
throttles and error handler), which is not on main yet, and importing DRF's
views fails without it. When ``portal.api`` lands they can move under its
router unchanged in behaviour: ``squad_metrics`` and ``product_metrics``
build the bodies.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache

from catalogue.models import Product
from portal.insights import access, dependencies, quality
from portal.insights.periods import Period, PeriodError, period_from_query
from portal.insights.reports import SquadReport
from portal.tokens import TokenError, token_authenticate
from squads.models import Squad

TOKEN_KEYWORD = "Token"  # noqa: S105 - the header keyword, not a secret


def _error(status: int, detail: str, code: str, **extra: Any) -> JsonResponse:
    response = JsonResponse({"detail": detail, "code": code, **extra}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = TOKEN_KEYWORD
    return response


class _Refused(Exception):
    def __init__(self, response: JsonResponse) -> None:
        super().__init__(response.status_code)
        self.response = response


def _caller(request: HttpRequest) -> AbstractBaseUser:
    """The user behind a token (preferred) or the session, or a 401."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    keyword, _, key = header.partition(" ")
    if header and keyword.lower() == TOKEN_KEYWORD.lower():
        if not key.strip() or " " in key.strip():
            raise _Refused(
                _error(401, "Send the header as 'Authorization: Token KEY'.", "authentication_failed")
            )
        try:
            return token_authenticate(key.strip()).user
        except TokenError as error:
            raise _Refused(_error(401, str(error), "authentication_failed")) from None
    if request.user.is_authenticated and request.user.is_active:
        return request.user
    raise _Refused(_error(401, "Authentication credentials were not provided.", "not_authenticated"))


def _period(request: HttpRequest) -> Period:
    try:
        return period_from_query(request.GET, now=timezone.now())
    except PeriodError as error:
        raise _Refused(
            _error(400, "The period is not usable.", "invalid_period", errors=error.errors)
        ) from None


def _not_found() -> _Refused:
    return _Refused(_error(404, "Not found.", "not_found"))


def _json(body: dict[str, Any]) -> JsonResponse:
    return JsonResponse(body, encoder=DjangoJSONEncoder)


def _period_dict(period: Period) -> dict[str, str]:
    return {"since": period.since.isoformat(), "until": period.until.isoformat()}


def _histogram(buckets: list[quality.Bucket]) -> list[dict[str, Any]]:
    return [
        {"bucket": bucket.label, "upper_seconds": bucket.upper_seconds, "orders": bucket.orders}
        for bucket in buckets
    ]


def _reasons(reasons: list[quality.FailureReason]) -> list[dict[str, Any]]:
    return [
        {
            "reason": row.reason,
            "orders": row.orders,
            "products": row.products,
            "last_seen": row.last_seen.isoformat(),
        }
        for row in reasons
    ]


def squad_metrics(report: SquadReport) -> dict[str, Any]:
    """The squad dashboard's numbers as JSON-ready data."""
    graph = report.graph
    needs, needed_by = [], []
    for node in graph.nodes.values():
        if node.product.squad_id != report.squad.pk:
            continue
        for pk in node.depends_on:
            other = graph.nodes[pk]
            needs.append(
                {
                    "product": node.product.slug,
                    "depends_on": other.product.slug,
                    "owner": other.product.squad.slug,
                    "failing": other.failing,
                    "retired": other.retired,
                }
            )
        for pk in node.dependents:
            other = graph.nodes[pk]
            needed_by.append(
                {
                    "product": node.product.slug,
                    "needed_by": other.product.slug,
                    "owner": other.product.squad.slug,
                    "open_orders": other.open_total,
                }
            )
    return {
        "squad": report.squad.slug,
        "period": _period_dict(report.period),
        "summary": report.summary.as_dict(),
        "products": [
            {"product": row.product.slug, "name": row.product.name, "sla_minutes": row.product.sla_minutes}
            | row.quality.as_dict()
            for row in report.products
        ],
        "weekly": [week.as_dict() for week in report.weeks],
        "lead_time_histogram": _histogram(report.histogram),
        "failure_reasons": _reasons(report.reasons),
        "automation_candidates": [
            {
                "product": row.product.slug,
                "orders": row.orders,
                "fulfilled": row.fulfilled,
                "hands_on_hours": row.hands_on_hours,
                "hands_on_mean_seconds": row.hands_on_mean_seconds,
                "waiting_mean_seconds": row.waiting_mean_seconds,
            }
            for row in report.candidates
        ],
        "load": report.load.as_dict(),
        "dependencies": {"needs": needs, "needed_by": needed_by, "alerts": report.alerts},
        "duplicates": [
            {
                "runbook": pair.first.runbook.slug,
                "squad": pair.first.runbook.squad.slug,
                "similar_runbook": pair.second.runbook.slug,
                "similar_squad": pair.second.runbook.squad.slug,
                "score": round(pair.score, 4),
                "by_facet": {facet: round(value, 4) for facet, value in pair.similarity.by_facet.items()},
            }
            for pair in report.duplicates
        ],
        "debt": [subject.as_dict() for subject in report.debt],
        "debt_register": [
            {
                "title": item.title,
                "product": item.product.slug,
                "severity": item.severity,
                "estimated_effort_days": float(item.estimated_effort_days),
                "status": item.status,
                "created_at": item.created_at.isoformat(),
            }
            for item in report.register
        ],
    }


def product_metrics(product: Product, period: Period, *, details: bool) -> dict[str, Any]:
    """A product's numbers; ``details`` adds the failure reasons."""
    orders = quality.orders_in(period, product_id=product.pk)
    expected = quality.expected_lead_time(product, now=period.now)
    body: dict[str, Any] = {
        "product": product.slug,
        "squad": product.squad.slug,
        "sla_minutes": product.sla_minutes,
        "period": _period_dict(period),
        "summary": quality.quality(orders).as_dict(),
        "weekly": [week.as_dict() for week in quality.weekly_trend(orders, period)],
        "lead_time_histogram": _histogram(quality.lead_time_histogram(orders)),
        "expected_lead_time": {
            "median_seconds": expected.median.total_seconds(),
            "p90_seconds": expected.p90.total_seconds(),
            "sample_size": expected.sample_size,
            "within_sla": expected.within_sla,
        }
        if expected
        else None,
        "dependency_alerts": [
            {
                "product": alert.dependency.slug,
                "kind": alert.kind,
                "direct": alert.direct,
                "message": alert.message,
            }
            for alert in dependencies.dependency_alerts(product, now=period.now)
        ],
    }
    if details:
        body["failure_reasons"] = _reasons(quality.failure_reasons(orders))
    return body


@never_cache
def squad_metrics_view(request: HttpRequest, slug: str) -> JsonResponse:
    if request.method != "GET":
        return _error(405, f'Method "{request.method}" not allowed.', "method_not_allowed")
    try:
        user = _caller(request)
        squad = Squad.objects.filter(slug=slug).first()
        if squad is None or not access.can_see_squad(user, squad):
            raise _not_found()
        return _json(squad_metrics(SquadReport(squad, _period(request))))
    except _Refused as refused:
        return refused.response


@never_cache
def product_metrics_view(request: HttpRequest, slug: str) -> JsonResponse:
    if request.method != "GET":
        return _error(405, f'Method "{request.method}" not allowed.', "method_not_allowed")
    try:
        user = _caller(request)
        product = Product.objects.select_related("squad").filter(slug=slug).first()
        if product is None or not access.can_see_product_metrics(user, product):
            raise _not_found()
        details = access.sees_product_details(user, product)
        return _json(product_metrics(product, _period(request), details=details))
    except _Refused as refused:
        return refused.response
