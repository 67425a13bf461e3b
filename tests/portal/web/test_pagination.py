"""One cursor format for the pages' "Older"/"Newer" links and the API's
``next``/``previous``: it reads back as the row and direction it was made
from, and anything else is no cursor at all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from portal.web.pagination import InvalidCursor, cursor_of, parse_cursor


@pytest.mark.parametrize("backwards", [False, True])
def test_a_cursor_reads_back_as_the_row_and_direction_it_was_made_from(backwards):
    moment = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=2)))
    cursor = parse_cursor(cursor_of({"created_at": moment, "id": 42}, backwards=backwards))
    assert (cursor.created_at, cursor.pk, cursor.backwards) == (moment, 42, backwards)


@pytest.mark.parametrize("raw", ["garbage", "0-0", "", "Yz0yMDI2JmI9MA=="])
def test_anything_but_a_cursor_made_here_is_refused(raw):
    with pytest.raises(InvalidCursor):
        parse_cursor(raw)


def test_a_cursor_off_the_calendar_is_refused():
    with pytest.raises(InvalidCursor):
        parse_cursor(cursor_of({"created_at": datetime(1, 1, 1, tzinfo=UTC), "id": 1}))
