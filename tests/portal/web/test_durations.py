"""Durations are said one way across the portal, rounded, never cut off."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.insights.tables import duration_text
from portal.web.wording import duration


@pytest.mark.parametrize(
    "seconds, said",
    [
        (0, "0 s"),
        (44.6, "45 s"),
        (200, "3 min 20 s"),
        (599.6, "10 min"),
        (1500, "25 min"),
        (3590, "1 h"),
        (13071, "3 h 38 min"),  # 3 h 37 min 51 s: the page said "3 h 37 min", the dashboard "3 h 38"
        (28860, "8 h 1 min"),
        (86_399, "1 day"),
        (3 * 86_400 + 4 * 3600 + 1700, "3 days 4 h"),
    ],
)
def test_a_product_page_and_a_dashboard_say_the_same_duration(seconds, said):
    assert duration(timedelta(seconds=seconds)) == said
    assert duration_text(seconds) == said


def test_nothing_measured_is_a_dash():
    assert duration(None) == duration_text(None) == "—"


def test_a_failure_code_is_said_in_words_and_other_reasons_as_they_are():
    from portal.web.wording import failure_text

    assert failure_text("worker_lost").startswith("the worker running it stopped answering")
    assert failure_text("VLAN 120 already exists") == "VLAN 120 already exists"
    assert failure_text("") == ""
