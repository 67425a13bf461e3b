"""Tables as data: one definition feeds the page, its CSV export and the
chart's table alternative, so the three can never disagree.

A cell holds the raw value (a fraction, seconds, a datetime); the column's
kind says how a page shows it and how the CSV writes it (percentages as
numbers from 0 to 100, durations in minutes, times in ISO 8601).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from portal.web.spreadsheet import defuse as _defuse
from portal.web.wording import duration

#: Kinds of column and the unit their CSV header names.
CSV_UNITS = {"percent": " (%)", "duration": " (minutes)", "hours": " (hours)", "days": " (days)"}


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str = "text"  # text, int, number, money, percent, duration, hours, days, date, datetime, list

    @property
    def numeric(self) -> bool:
        return self.kind not in ("text", "list", "date", "datetime")


@dataclass
class Table:
    slug: str
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]] = field(default_factory=list)
    empty: str = "Nothing to show for this period."
    note: str = ""

    def html(self) -> SafeString:
        """The table as HTML (built here rather than in a template: a year
        of weekly rows and dozens of products render in a fraction of the
        time, escaped all the same)."""
        if not self.rows:
            return format_html('<p class="empty">{}</p>', self.empty)
        head = format_html_join(
            "",
            '<th scope="col"{}>{}</th>',
            ((_numeric(column.numeric), column.label) for column in self.columns),
        )
        body = []
        for row in self.cells():
            cells = []
            for index, cell in enumerate(row):
                content = cell["text"]
                if cell["href"]:
                    content = format_html('<a href="{}">{}</a>', cell["href"], cell["text"])
                if cell["outside"]:
                    # Told in words too, not by colour alone.
                    content = format_html(
                        '{}<span class="visually-hidden"> (outside target: {})</span>',
                        content,
                        cell["outside"],
                    )
                if index == 0:
                    cells.append(format_html('<th scope="row">{}</th>', content))
                else:
                    cells.append(
                        format_html(
                            "<td{}{}{}>{}</td>",
                            _classes(cell),
                            _sort_value(cell["sort"]),
                            format_html(' title="Outside target: {}"', cell["outside"])
                            if cell["outside"]
                            else "",
                            content,
                        )
                    )
            body.append(format_html("<tr>{}</tr>", _joined(cells)))
        # The scrolling box takes the focus, so a keyboard scrolls a table
        # wider than the screen; its name says which table it is. The
        # headers become sort buttons in the browser (squadron.js).
        return format_html(
            '<div class="table-scroll" tabindex="0" role="region" aria-label="Table: {}">'
            '<table class="data" data-sortable><thead><tr>{}</tr></thead>'
            "<tbody>{}</tbody></table></div>",
            self.title,
            head,
            _joined(body),
        )

    def cells(self) -> list[list[dict[str, Any]]]:
        """Rows as lists of {text, href, kind, raw} for the template."""
        shown = []
        for row in self.rows:
            links = row.get("_links", {})
            outside = row.get("_outside", {})
            shown.append(
                [
                    {
                        "text": display(row.get(column.key), column.kind),
                        "href": links.get(column.key, ""),
                        "kind": column.kind,
                        "numeric": column.numeric,
                        "sort": sort_value(row.get(column.key), column.kind),
                        "outside": outside.get(column.key, ""),
                    }
                    for column in self.columns
                ]
            )
        return shown


_NUMERIC = mark_safe(' class="num"')


def _numeric(numeric: bool) -> str:
    return _NUMERIC if numeric else ""


def _classes(cell: dict[str, Any]) -> SafeString:
    names = [name for name, wanted in (("num", cell["numeric"]), ("outside", cell["outside"])) if wanted]
    return format_html(' class="{}"', " ".join(names)) if names else mark_safe("")


def _sort_value(value: str) -> SafeString:
    return format_html(' data-sort="{}"', value) if value else mark_safe("")


def sort_value(value: Any, kind: str) -> str:
    """What a column sorts by in the browser when its text would sort wrong
    ("2 h 5 min" after "45 s"): the raw number, or the ISO time."""
    if value is None or value == "" or kind in ("text", "list"):
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, int | float | Decimal):
        return f"{value}"
    return ""


def _joined(parts: list[SafeString]) -> SafeString:
    return mark_safe("".join(parts))  # noqa: S308 - each part was built by format_html


def duration_text(seconds: float | None) -> str:
    """A duration as the rest of the portal says it (45 s, 3 min 20 s,
    2 h 5 min, 3 days 4 h): a product's page and its dashboard agree."""
    if seconds is None:
        return "—"
    return duration(timedelta(seconds=seconds))


def percent_text(value: float | None) -> str:
    if value is None:
        return "—"
    shown = f"{value * 100:.1f}".rstrip("0").rstrip(".")
    return f"{shown}%"


def display(value: Any, kind: str) -> str:
    if value is None or value == "":
        return "—"
    if kind == "percent":
        return percent_text(value)
    if kind == "duration":
        return duration_text(value)
    if kind == "hours":
        return f"{value:.1f} h"
    if kind == "number":
        return f"{value:,.1f}"
    if kind == "money":
        return f"{value:,.2f}"
    if kind == "days":
        return f"{value:g} d"
    if kind == "datetime":
        return f"{timezone.localtime(value):%Y-%m-%d %H:%M}" if isinstance(value, datetime) else str(value)
    if kind == "date":
        return f"{timezone.localtime(value):%Y-%m-%d}" if isinstance(value, datetime) else str(value)
    if kind == "list":
        items = [str(item) for item in value]
        # Items that are sentences read as sentences; names as a list.
        separator = " " if items and all(item.endswith(".") for item in items) else ", "
        return separator.join(items) or "—"
    return str(value)


def csv_value(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if kind == "percent":
        return f"{value * 100:.2f}"
    if kind == "duration":
        return f"{value / 60:.2f}"
    if kind in ("hours", "number", "money"):
        return f"{value:.2f}"
    if kind in ("date", "datetime") and isinstance(value, datetime):
        return value.isoformat()
    if kind == "list":
        return "; ".join(str(item) for item in value)
    return str(value)


def to_csv(table: Table) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([column.label + CSV_UNITS.get(column.kind, "") for column in table.columns])
    for row in table.rows:
        writer.writerow([_defuse(csv_value(row.get(column.key), column.kind)) for column in table.columns])
    return buffer.getvalue()


def find(tables: Iterable[Table], slug: str) -> Table | None:
    return next((table for table in tables if table.slug == slug), None)
