"""Database expressions the insights are made of: exact elapsed time between
two timestamps, and percentiles computed where the rows are.

Medians and p90s never load a table into Python. On PostgreSQL they are one
``PERCENTILE_CONT(f) WITHIN GROUP (ORDER BY x)`` per group. Elsewhere (SQLite)
the two rows around each percentile's position are fetched with
``ORDER BY x LIMIT 2 OFFSET k`` (one group) or picked by ``ROW_NUMBER()`` over
each group (several groups at once), and interpolated exactly as
PostgreSQL's ``percentile_cont`` does, so both databases give the same
figures to the last bit.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from typing import Any

from django.db import NotSupportedError, connection
from django.db.models import (
    Aggregate,
    BigIntegerField,
    Count,
    Expression,
    F,
    FloatField,
    Q,
    QuerySet,
    Value,
    Window,
)
from django.db.models.functions import Cast, Floor, RowNumber, TruncWeek

from portal.timespans import MICROSECONDS


class WeekStart(TruncWeek):
    """The Monday 00:00 starting a timestamp's week, as ``TruncWeek``. In UTC
    SQLite computes it in C from the stored text; Django's own version is a
    Python call per row, most of a dashboard's time over 100k orders. SQLite
    knows no named time zones, so any other zone keeps Django's version."""

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        if self.get_tzname() not in (None, "UTC"):
            return super().as_sql(compiler, connection, **extra_context)
        sql, params = compiler.compile(self.lhs)
        # 'weekday 0' goes forward to the Sunday ending the week (or stays
        # on a Sunday); six days back is its Monday.
        return f"(date(substr({sql}, 1, 10), 'weekday 0', '-6 days') || ' 00:00:00')", params


def minutes_as_microseconds(field: str) -> Any:
    """A column of minutes (the SLA) in microseconds, as a big integer so that
    PostgreSQL does not overflow a 32-bit multiplication."""
    return Cast(F(field), BigIntegerField()) * Value(60 * MICROSECONDS)


class PercentileCont(Aggregate):
    """PostgreSQL's continuous percentile (linear interpolation)."""

    function = "PERCENTILE_CONT"
    name = "PercentileCont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: Any, fraction: float, **extra: Any) -> None:
        if not 0 <= fraction <= 1:
            raise ValueError("A percentile is a fraction from 0 to 1.")
        self.fraction = float(fraction)
        super().__init__(expression, **extra)

    def as_sql(
        self,
        compiler: Any,
        connection: Any,
        function: str | None = None,
        template: str | None = None,
        arg_joiner: str | None = None,
        **extra_context: Any,
    ) -> Any:
        if connection.vendor != "postgresql":
            raise NotSupportedError("PERCENTILE_CONT is PostgreSQL's; use percentiles().")
        return super().as_sql(
            compiler,
            connection,
            function=function,
            template=template,
            arg_joiner=arg_joiner,
            fraction=repr(self.fraction),
            **extra_context,
        )


def _interpolate(low: float, high: float, position: float) -> float:
    # The same double arithmetic as PostgreSQL's percentile_cont_final_common.
    return low + (high - low) * (position - math.floor(position))


def native_percentiles() -> bool:
    """Whether the database computes percentiles itself."""
    return connection.vendor == "postgresql"


def percentiles(
    queryset: QuerySet,
    expression: Expression | F,
    fractions: Sequence[float],
    *,
    group_by: str | None = None,
    native: bool | None = None,
) -> dict[Hashable, dict[float, float]]:
    """Continuous percentiles of ``expression`` over the rows of ``queryset``
    where it is not NULL: ``{group: {fraction: value}}`` (group ``None``
    without ``group_by``). Groups without a value are absent.

    ``native`` forces (True) or avoids (False) ``PERCENTILE_CONT``; by
    default it is used where the database has it.
    """
    native = native_percentiles() if native is None else native
    rows = queryset.annotate(_value=expression).filter(_value__isnull=False)
    if native:
        aggregates = {
            f"p{index}": PercentileCont("_value", fraction) for index, fraction in enumerate(fractions)
        }
        if group_by is None:
            result = rows.order_by().aggregate(**aggregates)
            if result.get("p0") is None:
                return {}
            return {None: {fraction: result[f"p{index}"] for index, fraction in enumerate(fractions)}}
        found: dict[Hashable, dict[float, float]] = {}
        for row in rows.order_by().values(group_by).annotate(**aggregates):
            found[row[group_by]] = {fraction: row[f"p{index}"] for index, fraction in enumerate(fractions)}
        return found
    if group_by is None:
        return _percentiles_by_offset(rows, fractions)
    return _percentiles_by_rank(rows, fractions, group_by)


def _percentiles_by_offset(rows: QuerySet, fractions: Sequence[float]) -> dict[Hashable, dict[float, float]]:
    total = rows.order_by().count()
    if not total:
        return {}
    ordered = rows.order_by("_value").values_list("_value", flat=True)
    values: dict[float, float] = {}
    fetched: dict[int, list[Any]] = {}
    for fraction in fractions:
        position = fraction * (total - 1)
        low = math.floor(position)
        if low not in fetched:
            # The row at ``low`` and the one after it: LIMIT 2 OFFSET low.
            fetched[low] = list(ordered[low : low + 2])
        pair = fetched[low]
        high_value = pair[1] if math.ceil(position) > low else pair[0]
        values[fraction] = _interpolate(float(pair[0]), float(high_value), position)
    return {None: values}


def _percentiles_by_rank(
    rows: QuerySet, fractions: Sequence[float], group_by: str
) -> dict[Hashable, dict[float, float]]:
    """Every group's percentiles in one query: number the rows of each group
    by value and keep only those at the positions the fractions need."""
    partition = [F(group_by)]
    numbered = rows.annotate(
        _rank=Window(RowNumber(), partition_by=partition, order_by=F("_value").asc()),
        _total=Window(Count("*"), partition_by=partition),
    )
    wanted = Q()
    for fraction in fractions:
        place = Value(float(fraction)) * (F("_total") - 1)
        # FLOOR, not a cast: PostgreSQL rounds a float cast to an integer.
        below = Floor(place)
        wanted |= Q(_rank=below + 1) | Q(_rank=below + 2)
    picked: dict[Hashable, dict[int, float]] = defaultdict(dict)
    totals: dict[Hashable, int] = {}
    for key, rank, total, value in numbered.filter(wanted).values_list(group_by, "_rank", "_total", "_value"):
        picked[key][rank - 1] = float(value)
        totals[key] = total
    found: dict[Hashable, dict[float, float]] = {}
    for key, by_position in picked.items():
        values = {}
        for fraction in fractions:
            position = fraction * (totals[key] - 1)
            low = math.floor(position)
            high = math.ceil(position)
            values[fraction] = _interpolate(
                by_position[low], by_position.get(high, by_position[low]), position
            )
        found[key] = values
    return found


def microseconds_to_seconds(value: float | int | None) -> float | None:
    return None if value is None else value / MICROSECONDS


def safe_ratio(part: int | float | None, whole: int | float | None) -> float | None:
    """``part / whole``, or None when there is nothing to divide by."""
    if not whole:
        return None
    return (part or 0) / whole


def first(values: Iterable[Any]) -> Any:
    return next(iter(values), None)
