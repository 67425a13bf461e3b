"""Server-drawn charts: what the reader can make out of them."""

from __future__ import annotations

import re

from portal.insights import charts
from portal.insights.dashboard_charts import LEAD_TIME_TICKS
from portal.insights.tables import duration_text


def _points(svg: str) -> dict[str, float]:
    """Each point's tooltip mapped to its height above the bottom of the plot."""
    bottom = charts.HEIGHT - charts.MARGIN_BOTTOM
    return {
        hint: bottom - float(cy)
        for cy, hint in re.findall(r'<circle class="[^"]+" cx="[^"]+" cy="([^"]+)" r="3"><title>([^<]+)', svg)
    }


def _ticks(svg: str) -> list[str]:
    return re.findall(r'<text class="tick"[^>]*>([^<]+)</text>', svg)


def lead_time_chart(median: tuple, p90: tuple) -> str:
    return charts.line_chart(
        "lead",
        "Lead time per week",
        "desc",
        [f"W{n}" for n in range(len(median))],
        [charts.Series("median", "line-median", median), charts.Series("p90", "line-p90", p90)],
        log_ticks=LEAD_TIME_TICKS,
        hint=duration_text,
    )


def test_a_median_of_seconds_stays_readable_under_a_p90_of_days():
    svg = lead_time_chart((30, 45), (2 * 86400, 3 * 86400))
    points = _points(svg)
    plot_height = charts.HEIGHT - charts.MARGIN_TOP - charts.MARGIN_BOTTOM

    # The axis spans the units around the data, not a fixed range.
    assert _ticks(svg) == ["10 s", "1 min", "10 min", "1 h", "6 h", "1 d", "1 w"]
    # On a linear axis 30 s under 3 days sits 0.03 px above the floor.
    assert points["W0: median 30 s"] > 0.1 * plot_height
    assert points["W1: median 45 s"] > points["W0: median 30 s"]
    assert points["W0: p90 2 days"] < points["W1: p90 3 days"] < plot_height


def test_the_axis_has_two_ticks_at_least_and_clamps_what_is_below_its_first():
    svg = lead_time_chart((0, None), (0.5, None))
    assert _ticks(svg) == ["1 s", "10 s"]
    assert set(_points(svg).values()) == {0.0}


def test_a_linear_chart_keeps_its_numbers_and_unit():
    rate = charts.Series("rate", "line", (50, 100))
    svg = charts.line_chart("rate", "Rate", "desc", ["W0", "W1"], [rate], unit="%", maximum=100)
    assert _ticks(svg) == ["0%", "25%", "50%", "75%", "100%"]
    assert set(_points(svg)) == {"W0: rate 50%", "W1: rate 100%"}
