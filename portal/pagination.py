"""Keyset ("seek") pagination for lists that grow without bound.

A page of "My orders" must cost the same for someone with ten orders and an
integration account with a hundred thousand: no COUNT of every row, no OFFSET
that reads and throws away the pages before. The page after is "older than
the last row shown", the page before "newer than the first", both walking the
(requester, created_at) index; the price is that there are no page numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import QuerySet


@dataclass(frozen=True)
class KeysetPage:
    items: list[Any]
    older: str | None  # cursor of the next page (older rows), if any
    newer: str | None  # cursor of the previous page (newer rows), if any

    @property
    def has_other_pages(self) -> bool:
        return bool(self.older or self.newer)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def cursor_of(row: Any) -> str:
    # Integer arithmetic: a float timestamp can be off by a microsecond, and
    # the row on the page boundary would then be shown twice or never.
    micros = (row.created_at - EPOCH) // MICROSECOND
    return f"{micros}-{row.pk}"


def parse_cursor(value: str | None) -> tuple[datetime, int] | None:
    """(created_at, pk) from a cursor; None for anything malformed."""
    if not value:
        return None
    micros, _, pk = value.partition("-")
    if not (micros.isdigit() and pk.isdigit()) or len(micros) > 20:
        return None
    try:
        when = EPOCH + int(micros) * MICROSECOND
    except OverflowError:
        return None
    return when, int(pk)


def newest_first_page(
    queryset: QuerySet, *, older: str | None = None, newer: str | None = None, size: int
) -> KeysetPage:
    """One page of ``queryset`` newest first, after ``older`` or before ``newer``."""
    before = parse_cursor(older)
    after = parse_cursor(newer) if before is None else None
    if after is not None:
        created, pk = after
        rows = list(
            queryset.filter(created_at__gte=created)
            .exclude(created_at=created, pk__lte=pk)
            .order_by("created_at", "id")[: size + 1]
        )
        more_newer = len(rows) > size
        items = list(reversed(rows[:size]))
        return KeysetPage(
            items=items,
            older=cursor_of(items[-1]) if items else None,
            newer=cursor_of(items[0]) if items and more_newer else None,
        )
    rows_query = queryset.order_by("-created_at", "-id")
    if before is not None:
        created, pk = before
        # A range on the index plus a cheap exclusion, rather than an OR the
        # planner would turn into a scan of every older row.
        rows_query = rows_query.filter(created_at__lte=created).exclude(created_at=created, pk__gte=pk)
    rows = list(rows_query[: size + 1])
    items = rows[:size]
    return KeysetPage(
        items=items,
        older=cursor_of(items[-1]) if len(rows) > size else None,
        newer=cursor_of(items[0]) if before is not None and items else None,
    )
