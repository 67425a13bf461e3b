"""Charts drawn on the server as SVG: no script, no CDN, nothing to load.

Each chart is an ``<svg role="img">`` labelled by its ``<title>`` and
``<desc>`` (the desc states the figures in words); the page puts a table of
the same data next to it for anyone who would rather read numbers. Colours
come from classes styled in ``insights.css``, except the per-squad colours
of the dependency graph, which are data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

WIDTH = 720
HEIGHT = 260
MARGIN_LEFT = 56
MARGIN_RIGHT = 16
MARGIN_TOP = 16
MARGIN_BOTTOM = 56

#: Colour-blind-safe palette (Okabe-Ito) for squads in the dependency graph.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _open(chart_id: str, title: str, desc: str, width: int = WIDTH, height: int = HEIGHT) -> str:
    return format_html(
        '<svg class="chart" id="{id}" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
        'aria-labelledby="{id}-title {id}-desc" xmlns="http://www.w3.org/2000/svg">'
        '<title id="{id}-title">{title}</title><desc id="{id}-desc">{desc}</desc>',
        id=chart_id,
        w=width,
        h=height,
        title=title,
        desc=desc,
    )


def _nice_max(value: float) -> float:
    """A round axis maximum at or above ``value``."""
    if value <= 0:
        return 1
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000):
        if value <= step:
            return step
    return float(value)


def nice_maximum(value: float) -> float:
    """A round axis maximum at or above ``value`` at any scale (1, 2, 2.5
    or 5 times a power of ten): amounts of money run into millions."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _grid_line(y: float, label: str) -> str:
    """A horizontal grid line at ``y`` with its tick label on the left."""
    return format_html(
        '<line class="grid" x1="{x1}" x2="{x2}" y1="{y}" y2="{y}"></line>'
        '<text class="tick" x="{tx}" y="{ty}" text-anchor="end">{label}</text>',
        x1=MARGIN_LEFT,
        x2=WIDTH - MARGIN_RIGHT,
        y=_number(y),
        tx=MARGIN_LEFT - 6,
        ty=_number(y + 4),
        label=label,
    )


def _y_axis(maximum: float, *, unit: str = "", ticks: int = 4) -> list[str]:
    parts = []
    plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    for index in range(ticks + 1):
        value = maximum * index / ticks
        parts.append(
            _grid_line(MARGIN_TOP + plot_height - plot_height * index / ticks, f"{_number(value)}{unit}")
        )
    return parts


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    css: str = "bar"
    hint: str = ""


def bar_chart(
    chart_id: str, title: str, desc: str, bars: Sequence[Bar], *, unit: str = "", maximum: float | None = None
) -> SafeString:
    """Vertical bars, one per item, labelled underneath."""
    parts = [_open(chart_id, title, desc)]
    top = maximum if maximum is not None else _nice_max(max((bar.value for bar in bars), default=0))
    parts.extend(_y_axis(top, unit=unit))
    plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    slot = plot_width / max(len(bars), 1)
    every = max(1, round(len(bars) / 12))
    for index, bar in enumerate(bars):
        height = plot_height * (bar.value / top) if top else 0
        x = MARGIN_LEFT + slot * index + slot * 0.15
        parts.append(
            format_html(
                '<rect class="{css}" x="{x}" y="{y}" width="{w}" height="{h}"><title>{hint}</title></rect>',
                css=bar.css,
                x=_number(x),
                y=_number(MARGIN_TOP + plot_height - height),
                w=_number(slot * 0.7),
                h=_number(height),
                hint=bar.hint or f"{bar.label}: {_number(bar.value)}{unit}",
            )
        )
        if index % every == 0:
            parts.append(
                format_html(
                    '<text class="label" x="{x}" y="{y}" text-anchor="middle">{label}</text>',
                    x=_number(MARGIN_LEFT + slot * index + slot / 2),
                    y=HEIGHT - MARGIN_BOTTOM + 18,
                    label=bar.label,
                )
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every piece was escaped by format_html


@dataclass(frozen=True)
class Stack:
    """One bar made of segments: (css class, label, value)."""

    label: str
    segments: tuple[tuple[str, str, float], ...]

    @property
    def total(self) -> float:
        return sum(value for _css, _label, value in self.segments)


def stacked_bar_chart(chart_id: str, title: str, desc: str, stacks: Sequence[Stack]) -> SafeString:
    """Vertical stacked bars (orders per week by outcome), with a legend."""
    parts = [_open(chart_id, title, desc)]
    top = _nice_max(max((stack.total for stack in stacks), default=0))
    parts.extend(_y_axis(top))
    plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    slot = plot_width / max(len(stacks), 1)
    every = max(1, round(len(stacks) / 8))
    for index, stack in enumerate(stacks):
        base: float = MARGIN_TOP + plot_height
        for css, label, value in stack.segments:
            height = plot_height * value / top if top else 0
            base -= height
            if value:
                parts.append(
                    format_html(
                        '<rect class="{css}" x="{x}" y="{y}" width="{w}" height="{h}">'
                        "<title>{hint}</title></rect>",
                        css=css,
                        x=_number(MARGIN_LEFT + slot * index + slot * 0.15),
                        y=_number(base),
                        w=_number(slot * 0.7),
                        h=_number(height),
                        hint=f"{stack.label}: {_number(value)} {label}",
                    )
                )
        if index % every == 0:
            parts.append(
                format_html(
                    '<text class="label" x="{x}" y="{y}" text-anchor="middle">{label}</text>',
                    x=_number(MARGIN_LEFT + slot * index + slot / 2),
                    y=HEIGHT - MARGIN_BOTTOM + 18,
                    label=stack.label,
                )
            )
    legend = stacks[0].segments if stacks else ()
    for index, (css, label, _value) in enumerate(legend):
        x = MARGIN_LEFT + index * 150
        parts.append(
            format_html(
                '<rect class="{css}" x="{x}" y="{y}" width="12" height="12"></rect>'
                '<text class="legend" x="{tx}" y="{ty}">{label}</text>',
                css=css,
                x=x,
                y=HEIGHT - 20,
                tx=x + 18,
                ty=HEIGHT - 10,
                label=label,
            )
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every piece was escaped by format_html


@dataclass(frozen=True)
class Series:
    label: str
    css: str
    values: tuple[float | None, ...]


def _log_ticks_around(
    ticks: Sequence[tuple[float, str]], values: Sequence[float]
) -> Sequence[tuple[float, str]]:
    """The run of ``ticks`` from the last at or below the smallest value to
    the first at or above the largest (at least two ticks)."""
    if not values:
        return ticks[:2]
    smallest, largest = min(values), max(values)
    first = max((i for i, (tick, _) in enumerate(ticks) if tick <= smallest), default=0)
    last = min((i for i, (tick, _) in enumerate(ticks) if tick >= largest), default=len(ticks) - 1)
    return ticks[first : max(last, first + 1) + 1]


def _log_y_axis(ticks: Sequence[tuple[float, str]]) -> list[str]:
    plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    low, high = math.log10(ticks[0][0]), math.log10(ticks[-1][0])
    return [
        _grid_line(MARGIN_TOP + plot_height - plot_height * (math.log10(value) - low) / (high - low), label)
        for value, label in ticks
    ]


def line_chart(
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    unit: str = "",
    maximum: float | None = None,
    log_ticks: Sequence[tuple[float, str]] = (),
    hint: Callable[[float], str] | None = None,
) -> SafeString:
    """Lines over time; a missing value (no data that week) breaks the line.

    With ``log_ticks`` ((value, label) pairs, ascending) the axis is
    logarithmic and spans the ticks around the data: a median of seconds and
    a 90th percentile of days then both stay readable. ``hint`` words a
    point's value in its tooltip (default: the number and ``unit``)."""
    parts = [_open(chart_id, title, desc)]
    values = [value for line in series for value in line.values if value is not None]
    plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    if log_ticks:
        shown = _log_ticks_around(log_ticks, values)
        parts.extend(_log_y_axis(shown))
        low, high = math.log10(shown[0][0]), math.log10(shown[-1][0])

        def height_of(value: float) -> float:
            return plot_height * (math.log10(max(value, shown[0][0])) - low) / (high - low)

    else:
        top = maximum if maximum is not None else _nice_max(max(values, default=0))
        parts.extend(_y_axis(top, unit=unit))

        def height_of(value: float) -> float:
            return plot_height * value / top if top else 0

    words = hint or (lambda value: f"{_number(value)}{unit}")
    step = plot_width / max(len(labels) - 1, 1)
    every = max(1, round(len(labels) / 8))
    for index, label in enumerate(labels):
        if index % every == 0:
            parts.append(
                format_html(
                    '<text class="label" x="{x}" y="{y}" text-anchor="middle">{label}</text>',
                    x=_number(MARGIN_LEFT + step * index),
                    y=HEIGHT - MARGIN_BOTTOM + 18,
                    label=label,
                )
            )
    for number, line in enumerate(series):
        bottom = MARGIN_TOP + plot_height
        points = [
            None if value is None else (MARGIN_LEFT + step * index, bottom - height_of(value))
            for index, value in enumerate(line.values)
        ]
        parts.extend(_line(line, points, labels, words))
        parts.append(_line_legend(line, MARGIN_LEFT + number * 180))
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every piece was escaped by format_html


def _line(
    line: Series,
    points: list[tuple[float, float] | None],
    labels: Sequence[str],
    words: Callable[[float], str],
) -> list[str]:
    """A series' points (each with its tooltip) and the polylines between
    them: a missing point (None) breaks the line."""
    parts: list[str] = []
    segments: list[list[tuple[float, float]]] = [[]]
    for index, (point, value) in enumerate(zip(points, line.values, strict=True)):
        if point is None or value is None:
            segments.append([])
            continue
        segments[-1].append(point)
        parts.append(
            format_html(
                '<circle class="{css}" cx="{x}" cy="{y}" r="3"><title>{hint}</title></circle>',
                css=line.css,
                x=_number(point[0]),
                y=_number(point[1]),
                hint=f"{labels[index]}: {line.label} {words(value)}",
            )
        )
    for segment in segments:
        if len(segment) > 1:
            joined = " ".join(f"{_number(x)},{_number(y)}" for x, y in segment)
            parts.append(
                format_html('<polyline class="{css}" points="{p}"></polyline>', css=line.css, p=joined)
            )
    return parts


def _line_legend(line: Series, x: float) -> str:
    return format_html(
        '<line class="{css}" x1="{x}" x2="{x2}" y1="{y}" y2="{y}"></line>'
        '<text class="legend" x="{tx}" y="{ty}">{label}</text>',
        css=line.css,
        x=x,
        x2=x + 16,
        y=HEIGHT - 14,
        tx=x + 22,
        ty=HEIGHT - 10,
        label=line.label,
    )


def horizontal_bars(
    chart_id: str, title: str, desc: str, bars: Sequence[Bar], *, unit: str = "%", maximum: float = 100
) -> SafeString:
    """One horizontal bar per item (automation rate per product), 0 to ``maximum``."""
    row = 26
    label_width = 220
    height = MARGIN_TOP + row * max(len(bars), 1) + 24
    parts = [_open(chart_id, title, desc, height=height)]
    plot_width = WIDTH - label_width - MARGIN_RIGHT - 48
    for index, bar in enumerate(bars):
        y = MARGIN_TOP + row * index
        width = plot_width * min(bar.value, maximum) / maximum if maximum else 0
        parts.append(
            format_html(
                '<text class="label" x="{lx}" y="{ty}" text-anchor="end">{label}</text>'
                '<rect class="track" x="{x}" y="{y}" width="{pw}" height="16"></rect>'
                '<rect class="{css}" x="{x}" y="{y}" width="{w}" height="16"><title>{hint}</title></rect>'
                '<text class="value" x="{vx}" y="{ty}">{value}</text>',
                lx=label_width - 8,
                ty=y + 12,
                label=bar.label if len(bar.label) <= 32 else bar.label[:31] + "…",
                x=label_width,
                y=y,
                pw=_number(plot_width),
                w=_number(width),
                css=bar.css,
                hint=bar.hint or f"{bar.label}: {_number(bar.value)}{unit}",
                vx=_number(label_width + plot_width + 6),
                value=f"{_number(bar.value)}{unit}",
            )
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every piece was escaped by format_html


def week_label(moment: datetime) -> str:
    return f"{moment:%d %b}"


def squad_colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def text(value: object) -> str:
    return str(escape(value))
