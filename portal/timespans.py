"""Elapsed time between two timestamps, computed by the database exactly.

Below every domain that measures time (insights' lead times, consumption's
days of use), so each may use it without importing the other.
"""

from __future__ import annotations

from typing import Any

from django.db import NotSupportedError
from django.db.models import BigIntegerField, Func

MICROSECONDS = 1_000_000
DAY_MICROSECONDS = 86_400 * MICROSECONDS


class Elapsed(Func):
    """Microseconds from ``start`` to ``end`` as a big integer (NULL if either
    is NULL). Exact to the microsecond on both databases, so a lead time equal
    to the SLA compares as equal, never as a rounding error above it."""

    arity = 2
    output_field = BigIntegerField()

    def __init__(self, end: Any, start: Any, **extra: Any) -> None:
        super().__init__(end, start, **extra)

    def as_sql(
        self,
        compiler: Any,
        connection: Any,
        function: str | None = None,
        template: str | None = None,
        arg_joiner: str | None = None,
        **extra_context: Any,
    ) -> Any:
        raise NotSupportedError(
            f"Elapsed() is implemented for PostgreSQL and SQLite, not {connection.vendor}."
        )

    def as_postgresql(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        # date_part() is a double (EXTRACT is numeric since PostgreSQL 14,
        # exact but several times slower over 100k rows). A double holds any
        # lead time shorter than 30 years to well under a microsecond, so
        # rounding gives back the exact microseconds.
        return super().as_sql(
            compiler,
            connection,
            template="CAST(ROUND(date_part('epoch', %(expressions)s) * 1000000) AS BIGINT)",
            arg_joiner=" - ",
            **extra_context,
        )

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        # Django keeps datetimes in SQLite as "YYYY-MM-DD HH:MM:SS[.ffffff]"
        # (UTC): whole seconds from strftime('%s') plus the six digits of
        # microseconds, all in C. Django's own django_timestamp_diff() is
        # exact too, but a Python call per row: ten times slower over 100k.
        end, end_params = compiler.compile(self.source_expressions[0])
        start, start_params = compiler.compile(self.source_expressions[1])

        def seconds(sql: str) -> str:
            # Without the fraction: strftime would round .999999 up a second.
            return f"CAST(strftime('%%s', substr({sql}, 1, 19)) AS INTEGER)"

        def micros(sql: str) -> str:
            return f"CAST(substr(({sql}) || '.000000', 21, 6) AS INTEGER)"

        template = f"(({seconds(end)} - {seconds(start)}) * 1000000 + ({micros(end)} - {micros(start)}))"
        return template, (*end_params, *start_params, *end_params, *start_params)
