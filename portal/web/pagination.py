"""Keyset ("seek") pagination for lists that grow without bound, one for
both faces: "My orders" pages and the API's orders and webhook deliveries.

A page must cost the same for someone with ten rows and an integration
account with a hundred thousand: no COUNT of every row, no OFFSET that reads
and throws away the pages before. A page continues strictly after the last
row of the previous one on ``(created_at, id)``, walking the index however
deep the reader pages; rows that share a creation time (bulk imports) are
neither skipped nor repeated, and rows that arrive between two pages never
shift them. (DRF's CursorPagination breaks such ties with an OFFSET, which
repeats rows when the tie spans a page boundary.) The price is that there
are no page numbers.

A cursor is one opaque token, the same in both faces: the URL-safe base64
of ``c`` (the edge row's ``created_at``, ISO 8601), ``i`` (its id) and ``b``
(``1`` when it leads back towards the first page).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

from django.db.models import QuerySet

#: The dates a database keeps whatever its time zone: a made-up date near
#: year 1 or 9999 leaves the calendar once converted to UTC.
MIN_DATETIME = datetime(1900, 1, 1, tzinfo=UTC)
MAX_DATETIME = datetime(9000, 1, 1, tzinfo=UTC)


class InvalidCursor(ValueError):
    """A cursor this module did not make (or one made up): no page starts there."""


@dataclass(frozen=True)
class Cursor:
    created_at: datetime
    pk: int
    backwards: bool = False


def cursor_of(row: Any, *, backwards: bool = False) -> str:
    """The cursor of ``row`` (a model instance or a ``values()`` dict): the
    page after it, or with ``backwards`` the page before it."""
    if isinstance(row, dict):
        created_at, pk = row["created_at"], row["id"]
    else:
        created_at, pk = row.created_at, row.pk
    token = urlencode({"c": created_at.isoformat(), "i": pk, "b": "1" if backwards else "0"}).encode()
    return base64.urlsafe_b64encode(token).decode()


def parse_cursor(raw: str) -> Cursor:
    """The cursor in ``raw``; ``InvalidCursor`` for anything malformed or off the calendar."""
    try:
        fields = parse_qs(base64.urlsafe_b64decode(raw.encode("ascii")).decode("ascii"), strict_parsing=True)
        created_at = datetime.fromisoformat(fields["c"][0])
        pk = int(fields["i"][0])
        if created_at.tzinfo is None or not 0 <= pk < 2**63:
            raise InvalidCursor("cursor out of range")
        # A made-up date near year 1 or 9999 leaves the calendar once
        # the database converts it to UTC: no page starts there.
        if not MIN_DATETIME <= created_at.astimezone(UTC) <= MAX_DATETIME:
            raise InvalidCursor("cursor out of range")
        return Cursor(created_at=created_at, pk=pk, backwards=fields["b"][0] == "1")
    except (ValueError, KeyError, IndexError, UnicodeError, binascii.Error, OverflowError):
        raise InvalidCursor("invalid cursor") from None


@dataclass(frozen=True)
class Seek:
    """One page of rows, in reading order, and whether pages lie either side."""

    rows: list[Any]
    has_next: bool
    has_previous: bool


def seek(queryset: QuerySet, *, cursor: Cursor | None, size: int, descending: bool = True) -> Seek:
    """The ``size`` rows of ``queryset`` after ``cursor`` (before it, for a
    backwards cursor), newest first unless ``descending`` is False."""
    backwards = bool(cursor and cursor.backwards)
    newest_first = descending != backwards
    if cursor is not None:
        # A range on the index plus a cheap exclusion, rather than an OR the
        # planner would turn into a scan of every older row.
        if newest_first:
            queryset = queryset.filter(created_at__lte=cursor.created_at).exclude(
                created_at=cursor.created_at, pk__gte=cursor.pk
            )
        else:
            queryset = queryset.filter(created_at__gte=cursor.created_at).exclude(
                created_at=cursor.created_at, pk__lte=cursor.pk
            )
    queryset = queryset.order_by(*(("-created_at", "-id") if newest_first else ("created_at", "id")))
    rows = list(queryset[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
    return Seek(
        rows=rows,
        has_next=more if not backwards else cursor is not None,
        has_previous=(cursor is not None) if not backwards else more,
    )


# --- Pages: "Older" and "Newer" -----------------------------------------------------


@dataclass(frozen=True)
class KeysetPage:
    items: list[Any]
    older: str | None  # cursor of the next page (older rows), if any
    newer: str | None  # cursor of the previous page (newer rows), if any

    @property
    def has_other_pages(self) -> bool:
        return bool(self.older or self.newer)


def _page_cursor(raw: str | None) -> Cursor | None:
    """A page ignores a cursor it cannot read and shows the newest rows."""
    if not raw:
        return None
    try:
        return parse_cursor(raw)
    except InvalidCursor:
        return None


def newest_first_page(
    queryset: QuerySet, *, older: str | None = None, newer: str | None = None, size: int
) -> KeysetPage:
    """One page of ``queryset`` newest first, after ``older`` or before ``newer``."""
    cursor = _page_cursor(older) or _page_cursor(newer)
    page = seek(queryset, cursor=cursor, size=size)
    items = page.rows
    return KeysetPage(
        items=items,
        older=cursor_of(items[-1]) if items and page.has_next else None,
        newer=cursor_of(items[0], backwards=True) if items and page.has_previous else None,
    )
