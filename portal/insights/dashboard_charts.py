"""The charts of the squad dashboard and the leads' overview, drawn from a
report's weekly figures and lead-time histogram with the SVG primitives of
``charts``."""

from __future__ import annotations

from django.utils.safestring import SafeString

from portal.insights import charts
from portal.insights.breakdowns import Bucket, Week
from portal.insights.tables import duration_text, percent_text

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


def dashboard_charts(
    prefix: str, weeks: list[Week], histogram: list[Bucket], automation: list[tuple[str, float]]
) -> dict[str, str]:
    """The dashboard's charts (SVG) of one report: ``prefix`` keeps their
    element ids apart when a page shows two reports; ``automation`` holds
    (name, automation rate in %) per product or per squad."""
    labels = [charts.week_label(week.start) for week in weeks]
    return {
        "histogram": histogram_chart(prefix, histogram),
        "weekly_orders": weekly_orders_chart(prefix, labels, weeks),
        "weekly_lead_time": weekly_lead_time_chart(prefix, labels, weeks),
        "weekly_automation": weekly_automation_chart(prefix, labels, weeks),
        "automation_by_product": automation_chart(prefix, automation) if automation else "",
    }


def histogram_chart(prefix: str, histogram: list[Bucket]) -> SafeString:
    total = sum(bucket.orders for bucket in histogram)
    busiest = max(histogram, key=lambda bucket: bucket.orders) if total else None
    return charts.bar_chart(
        f"{prefix}-histogram",
        "Lead time distribution",
        f"{total} succeeded orders by lead time"
        + (f"; most took {busiest.label} ({busiest.orders} orders)." if busiest else "."),
        [charts.Bar(bucket.label, bucket.orders, "bar") for bucket in histogram],
    )


def weekly_orders_chart(prefix: str, labels: list[str], weeks: list[Week]) -> SafeString:
    ordered = sum(week.orders for week in weeks)
    succeeded = sum(week.succeeded for week in weeks)
    return charts.stacked_bar_chart(
        f"{prefix}-weekly-orders",
        "Orders per week by outcome",
        f"{ordered} orders over {len(weeks)} weeks, {succeeded} succeeded.",
        [
            charts.Stack(
                label,
                (
                    ("bar-succeeded", "succeeded", week.succeeded),
                    ("bar-failed", "failed or timed out", week.failed),
                    ("bar-other", "open, rejected or cancelled", week.orders - week.succeeded - week.failed),
                ),
            )
            for label, week in zip(labels, weeks, strict=True)
        ],
    )


def weekly_lead_time_chart(prefix: str, labels: list[str], weeks: list[Week]) -> SafeString:
    return charts.line_chart(
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
    )


def _percents(values: list[float | None]) -> tuple[float | None, ...]:
    return tuple(None if value is None else value * 100 for value in values)


def weekly_automation_chart(prefix: str, labels: list[str], weeks: list[Week]) -> SafeString:
    succeeded = sum(week.succeeded for week in weeks)
    automated = sum(week.automated for week in weeks)
    return charts.line_chart(
        f"{prefix}-weekly-automation",
        "Automation rate per week",
        "Share of succeeded orders fulfilled without a manual step: "
        f"{percent_text(automated / succeeded)} over the period."
        if succeeded
        else "No order succeeded in the period.",
        labels,
        [
            charts.Series(
                "automation rate", "line-automation", _percents([w.automation_rate for w in weeks])
            ),
            charts.Series("within SLA", "line-sla", _percents([w.sla_attainment for w in weeks])),
        ],
        unit="%",
        maximum=100,
    )


def automation_chart(prefix: str, automation: list[tuple[str, float]]) -> SafeString:
    return charts.horizontal_bars(
        f"{prefix}-automation-by-product",
        "Automation rate per product",
        "; ".join(f"{name}: {value:.0f}%" for name, value in automation) or "No product delivered anything.",
        [charts.Bar(name, value, "bar-automation") for name, value in automation],
    )
