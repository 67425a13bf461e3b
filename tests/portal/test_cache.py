"""The cache's own rules, without a Redis server: JSON in, JSON out, and
anything else read back is a miss."""

from __future__ import annotations

import os
import pickle

import pytest
from django.core.cache import cache

from portal.cache import UNDECODABLE, JsonLocMemCache, JsonSerializer, redis_database
from portal.settings import CACHES


class _RunsACommand:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, ("false",)


def test_values_round_trip_as_json():
    serializer = JsonSerializer()
    value = {"history": [1733260000.5, 1733259999.0], "page": '{"count": 1}', "n": 3}
    stored = serializer.dumps(value)
    assert stored.startswith(b"{") and serializer.loads(stored) == value
    # An integer stays text Redis can INCR.
    assert serializer.dumps(12) == b"12"


@pytest.mark.parametrize(
    "data",
    [
        pickle.dumps(_RunsACommand()),
        pickle.dumps([1.0, 2.0]),
        b"\xff\xfe not utf-8",
        b"{not json",
        b"[" * 100_000,
        b"",
    ],
    ids=["pickle-that-runs-a-command", "harmless-pickle", "not-utf8", "broken-json", "deep-nesting", "empty"],
)
def test_bytes_that_are_not_json_read_as_undecodable_and_run_nothing(data, monkeypatch):
    ran = []
    monkeypatch.setattr(os, "system", ran.append)
    assert JsonSerializer().loads(data) is UNDECODABLE
    assert ran == []


@pytest.mark.parametrize("value", [b"bytes", object(), {1, 2}, float("nan")])
def test_a_value_json_cannot_hold_is_refused_when_stored(value):
    with pytest.raises((TypeError, ValueError)):
        JsonSerializer().dumps(value)


def test_the_embedded_cache_holds_what_redis_would_hold():
    """Development and the default test run use the per-process cache: a
    value the Redis cache could not hold fails there too, and a tuple reads
    back as the list Redis gives."""
    assert CACHES["default"]["BACKEND"] in {"portal.cache.JsonLocMemCache", "portal.cache.JsonRedisCache"}
    local = JsonLocMemCache("test-embedded-cache", {})
    local.set("pair", (1, "a"))
    assert local.get("pair") == [1, "a"]
    assert local.get_or_set("made", lambda: ("x",)) == ["x"]
    with pytest.raises(TypeError):
        local.set("response", b"rendered bytes")
    assert local.get("response") is None
    local.clear()


def test_the_configured_cache_refuses_what_json_cannot_hold():
    with pytest.raises(TypeError):
        cache.set("test-cache-bytes", b"rendered bytes")
    assert cache.get("test-cache-bytes") is None


@pytest.mark.parametrize(
    "url, expected",
    [
        ("redis://redis:6379/1", ("tcp", "redis:6379", 1)),
        ("redis://:secret@Redis/0", ("tcp", "redis:6379", 0)),
        ("rediss://web:pw@cache.internal:6380", ("tcp", "cache.internal:6380", 0)),
        ("redis://127.0.0.1:6379/2", ("tcp", "localhost:6379", 2)),
        ("redis://[::1]:6379?db=3", ("tcp", "localhost:6379", 3)),
        ("unix:///run/redis.sock?db=4", ("unix", "/run/redis.sock", 4)),
        ("redis+socket:///run/redis.sock?virtual_host=5", ("unix", "/run/redis.sock", 5)),
        ("filesystem://localhost/", None),
    ],
)
def test_a_redis_url_names_its_server_and_database(url, expected):
    assert redis_database(url) == expected
