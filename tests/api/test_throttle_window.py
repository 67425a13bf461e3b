"""The throttles' sliding window: never more than the rate in any period,
whatever the cache holds."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import RequestFactory

from portal.api.throttling import SLICES, UserRateThrottle


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def throttle_at(settings, monkeypatch):
    """``throttle_at(moment)``: whether one more request of one anonymous
    caller at ``moment`` passes a rate of 10 per minute."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": None, "user": "10/minute"},
    }
    request = RequestFactory().get("/api/v1/me/")
    request.user = None
    clock = _Clock(0.0)
    monkeypatch.setattr(UserRateThrottle, "timer", clock)

    def at(moment: float) -> UserRateThrottle | None:
        clock.now = moment
        throttle = UserRateThrottle()
        return None if throttle.allow_request(request, None) else throttle

    return at


def test_no_period_holds_more_than_the_rate(throttle_at):
    start = 1_800_000_000.0
    passed = [start + n * 0.7 for n in range(400) if throttle_at(start + n * 0.7) is None]
    assert len(passed) > 10
    for moment in passed:
        assert sum(1 for other in passed if moment <= other < moment + 60) <= 10


def test_a_refused_caller_is_told_when_room_comes_back(throttle_at):
    start = 1_800_000_000.0
    for n in range(10):
        assert throttle_at(start + n) is None
    refused = throttle_at(start + 30)
    assert refused is not None
    back = start + 30 + refused.wait()
    assert 60 <= back - start <= 60 + 60 / SLICES + 1
    assert throttle_at(back - 2) is not None
    assert throttle_at(back) is None


@pytest.mark.parametrize(
    "forged",
    [
        "text",
        [1800000000, 5],
        [[1800000000, "5"]],
        [[True, 5]],
        [[1800000000, 1]] * (SLICES + 2),
    ],
    ids=["text", "flat", "string-count", "bool-slice", "too-many-slices"],
)
def test_counts_of_another_shape_read_as_none(throttle_at, forged):
    cache.set("throttle_user_ip127.0.0.1", forged)
    assert throttle_at(1_800_000_000.0) is None


def test_a_forged_count_holds_one_period_at_most(throttle_at):
    now = 1_800_000_000.0
    cache.set("throttle_user_ip127.0.0.1", [[int(now) + 3600, 10**6], [int(now), 10**6]])
    assert throttle_at(now) is not None
    assert throttle_at(now + 62) is None
