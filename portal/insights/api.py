"""The dashboards' numbers as JSON, for ``GET /api/v1/squads/{slug}/metrics/``
and ``GET /api/v1/products/{slug}/metrics/`` (``portal.api``): the same
figures the pages show, over the same period."""

from __future__ import annotations

from typing import Any

from catalogue.models import Product
from portal.insights import breakdowns, dependencies, quality
from portal.insights.periods import Period
from portal.insights.reports import SquadReport


def _period_dict(period: Period) -> dict[str, str]:
    return {"since": period.since.isoformat(), "until": period.until.isoformat()}


def _histogram(buckets: list[breakdowns.Bucket]) -> list[dict[str, Any]]:
    return [
        {"bucket": bucket.label, "upper_seconds": bucket.upper_seconds, "orders": bucket.orders}
        for bucket in buckets
    ]


def _reasons(reasons: list[breakdowns.FailureReason]) -> list[dict[str, Any]]:
    return [
        {
            "reason": row.reason,
            "orders": row.orders,
            "products": row.products,
            "last_seen": row.last_seen.isoformat() if row.last_seen else None,
            "example": row.example,
            "variants": row.variants,
        }
        for row in reasons
    ]


def _dependencies(report: SquadReport) -> dict[str, Any]:
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
    return {"needs": needs, "needed_by": needed_by, "alerts": report.alerts}


def _candidates(report: SquadReport) -> list[dict[str, Any]]:
    return [
        {
            "product": row.product.slug,
            "orders": row.orders,
            "fulfilled": row.fulfilled,
            "hands_on_hours": row.hands_on_hours,
            "hands_on_mean_seconds": row.hands_on_mean_seconds,
            "waiting_mean_seconds": row.waiting_mean_seconds,
        }
        for row in report.candidates
    ]


def _duplicates(report: SquadReport) -> list[dict[str, Any]]:
    return [
        {
            "runbook": pair.first.runbook.slug,
            "squad": pair.first.runbook.squad.slug,
            "similar_runbook": pair.second.runbook.slug,
            "similar_squad": pair.second.runbook.squad.slug,
            "score": round(pair.score, 4),
            "by_facet": {facet: round(value, 4) for facet, value in pair.similarity.by_facet.items()},
        }
        for pair in report.duplicates
    ]


def _register(report: SquadReport) -> list[dict[str, Any]]:
    return [
        {
            "title": item.title,
            "product": item.product.slug,
            "severity": item.severity,
            "estimated_effort_days": float(item.estimated_effort_days),
            "status": item.status,
            "created_at": item.created_at.isoformat(),
        }
        for item in report.register
    ]


def squad_metrics(report: SquadReport) -> dict[str, Any]:
    """The squad dashboard's numbers as JSON-ready data."""
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
        "automation_candidates": _candidates(report),
        "load": report.load.as_dict(),
        "dependencies": _dependencies(report),
        "duplicates": _duplicates(report),
        "debt": [subject.as_dict() for subject in report.debt],
        "debt_register": _register(report),
    }


def product_metrics(product: Product, period: Period, *, details: bool) -> dict[str, Any]:
    """A product's numbers; ``details`` adds the failure reasons."""
    orders = quality.orders_in(period, product_id=product.pk)
    expected = breakdowns.expected_lead_time(product, now=period.now)
    body: dict[str, Any] = {
        "product": product.slug,
        "squad": product.squad.slug,
        "sla_minutes": product.sla_minutes,
        "period": _period_dict(period),
        "summary": quality.quality(orders).as_dict(),
        "weekly": [week.as_dict() for week in breakdowns.weekly_trend(orders, period)],
        "lead_time_histogram": _histogram(breakdowns.lead_time_histogram(orders)),
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
        body["failure_reasons"] = _reasons(breakdowns.failure_reasons(orders))
    return body
