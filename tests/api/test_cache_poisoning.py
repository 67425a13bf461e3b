"""What someone else wrote into the cache is never run and never breaks a request.

A playbook that reaches the cache's Redis can write any bytes under any key.
The API reads two kinds of keys on ordinary requests (throttle counts and
rendered catalogue pages): a pickle there must not run, and garbage or JSON
of the wrong shape must read as a miss, not as a 500.
"""

from __future__ import annotations

import json
import os
import pickle
import runpy
import shlex
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.test import override_settings

from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

REQUIRE_SERVICES = os.environ.get("SQUADRON_REQUIRE_SERVICES") == "1"
SETTINGS_FILE = Path(__file__).resolve().parents[2] / "portal" / "settings.py"
REDIS_SERVER = os.environ.get("SQUADRON_TEST_CACHE_SERVER", "redis://127.0.0.1:6379")
#: Not the broker's db 0 and not compose's cache db 1; keys carry a prefix of
#: this test's own, so parallel runs never read or delete each other's keys.
REDIS_DB = 15


class _RunsACommand:
    """What the playbook wrote: unpickling it runs a shell command."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (self.command,)


def caches_for(cache_url: str) -> dict:
    """``CACHES`` exactly as the project's settings build it from ``CACHE_URL``."""
    previous = os.environ.get("CACHE_URL")
    os.environ["CACHE_URL"] = cache_url
    try:
        return runpy.run_path(str(SETTINGS_FILE))["CACHES"]
    finally:
        if previous is None:
            del os.environ["CACHE_URL"]
        else:
            os.environ["CACHE_URL"] = previous


@pytest.fixture
def shared_redis() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(f"{REDIS_SERVER}/{REDIS_DB}", socket_connect_timeout=2)
    try:
        client.ping()
    except redis.ConnectionError:
        if REQUIRE_SERVICES:
            raise
        pytest.skip(f"no Redis at {REDIS_SERVER} (SQUADRON_REQUIRE_SERVICES is not set)")
    yield client
    client.close()


@pytest.fixture
def redis_cache(shared_redis: redis.Redis) -> Iterator[tuple[redis.Redis, str]]:
    """The project's Redis cache, under a key prefix of this test's own."""
    prefix = f"squadron-test-{uuid.uuid4().hex}"
    caches = caches_for(f"{REDIS_SERVER}/{REDIS_DB}")
    caches["default"] = {**caches["default"], "KEY_PREFIX": prefix}
    try:
        with override_settings(CACHES=caches):
            yield shared_redis, prefix
    finally:
        keys = list(shared_redis.scan_iter(match=f"{prefix}:*"))
        if keys:
            shared_redis.delete(*keys)


def overwrite_every_key(client: redis.Redis, prefix: str, value: bytes) -> int:
    """What a playbook with the cache's address does: replace every key it finds."""
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    for key in keys:
        client.set(key, value, keepttl=True)
    return len(keys)


def test_a_pickle_in_the_cache_is_never_unpickled(redis_cache, api_for, outsider, tmp_path, product):
    client, prefix = redis_cache
    marker = tmp_path / "web-ran-the-playbooks-command"
    api = api_for(outsider)
    assert api.get("/api/v1/products/").status_code == 200  # throttle counts and a page, cached

    poison = pickle.dumps(_RunsACommand(f"touch {shlex.quote(str(marker))}"))
    # Throttle counts (per token, per user) and the rendered catalogue page.
    assert overwrite_every_key(client, prefix, poison) >= 3

    for path in ("/api/v1/products/", "/api/v1/me/", "/api/v1/products/"):
        response = api.get(path)
        assert response.status_code == 200, response.content
    assert not marker.exists()
    assert response.json()["results"][0]["slug"] == product.slug


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x80\x05not even a pickle",
        b"{not json",
        b"[" * 100_000,
        json.dumps({"history": "wrong shape"}).encode(),
        json.dumps(["not", "a", "timestamp"]).encode(),
        json.dumps([float("nan"), None]).encode(),
        json.dumps([[1, "x"], [2]]).encode(),
        json.dumps(12).encode(),
        json.dumps(None).encode(),
    ],
    ids=[
        "pickle-like",
        "broken-json",
        "deep-nesting",
        "object",
        "strings",
        "nan-and-null",
        "bad-slices",
        "number",
        "null",
    ],
)
def test_garbage_in_the_cache_reads_as_a_miss(redis_cache, api_for, outsider, product, garbage):
    client, prefix = redis_cache
    api = api_for(outsider)
    expected = api.get("/api/v1/products/").json()
    assert overwrite_every_key(client, prefix, garbage) >= 3

    response = api.get("/api/v1/products/")
    assert response.status_code == 200, response.content
    assert response.json() == expected
    # Read as a miss, each key now holds a value of our own again.
    for key in client.scan_iter(match=f"{prefix}:*"):
        assert client.get(key) != garbage


def test_a_redis_page_is_reused_until_the_catalogue_changes(redis_cache, api_for, outsider, product):
    client, prefix = redis_cache
    api = api_for(outsider)
    first = api.get("/api/v1/products/")
    assert api.get("/api/v1/products/").content == first.content
    assert len(list(client.scan_iter(match=f"{prefix}:*:api:products:*"))) == 1

    ProductFactory(slug="another-one", squad=product.squad)
    assert len(api.get("/api/v1/products/").json()["results"]) == 2


def test_throttle_counts_kept_in_redis_still_throttle(redis_cache, api_for, outsider, settings):
    client, prefix = redis_cache
    rates = {"token": "2/minute", "user": None}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    api = api_for(outsider)
    assert [api.get("/api/v1/me/").status_code for _ in range(3)] == [200, 200, 429]
    (key,) = client.scan_iter(match=f"{prefix}:*:throttle_token_*")
    assert sum(requests for _, requests in json.loads(client.get(key))) == 2


def test_a_count_someone_else_replaced_reads_as_missing_and_starts_again(redis_cache):
    """What ``cache.add`` then ``cache.incr`` counts (the webhooks' hand-sent
    events) survives a value that Redis cannot increment."""
    from django.core.cache import cache

    client, prefix = redis_cache
    cache.add("count", 0)
    assert cache.incr("count") == 1
    (key,) = client.scan_iter(match=f"{prefix}:*:count")
    for garbage in (pickle.dumps(_RunsACommand("false")), b"1.5", str(2**63 - 1).encode()):
        client.set(key, garbage)
        with pytest.raises(ValueError, match="not found"):
            cache.incr("count")
        assert cache.add("count", 0) is True
        assert cache.incr("count") == 1


def test_get_many_leaves_out_what_is_not_json(redis_cache):
    from django.core.cache import cache

    client, prefix = redis_cache
    cache.set_many({"a": [1], "b": {"c": "d"}})
    (key,) = client.scan_iter(match=f"{prefix}:*:a")
    client.set(key, pickle.dumps(_RunsACommand("false")))
    assert cache.get_many(["a", "b", "missing"]) == {"b": {"c": "d"}}
