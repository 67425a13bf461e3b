"""Django's cache, holding JSON and nothing else.

Django's Redis cache pickles what it stores, and unpickling runs whatever
the bytes say: anyone who can write to the cache's Redis (a playbook on the
same network, before compose gave the cache its own server) could make the
web process run a command. Here values go in and out as JSON, so a value
read back is data at worst; one that is not JSON reads as a miss, so
garbage in the cache costs a recomputation, never a 500.

Callers still check the *shape* of what they read: JSON of the wrong shape
is valid JSON (see ``portal.api.throttling`` and the catalogue page cache).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache, RedisCacheClient

logger = logging.getLogger(__name__)

#: What ``JsonSerializer.loads`` answers for bytes that are not JSON.
UNDECODABLE = object()


class JsonSerializer:
    """``dumps``/``loads`` for Django's ``RedisCacheClient`` (its ``serializer`` option).

    Integers are JSON text Redis can ``INCR``, so ``cache.incr`` still works.
    Tuples come back as lists, like any JSON; a value JSON cannot hold
    (bytes, a model, a response) is a ``TypeError`` at ``set`` time."""

    def dumps(self, value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()

    def loads(self, data: bytes) -> Any:
        try:
            return json.loads(data)
        # Not UTF-8, not JSON, or nested deeper than the parser recurses.
        except (ValueError, RecursionError):
            return UNDECODABLE


class JsonRedisCacheClient(RedisCacheClient):
    """Django's Redis client, reading a value that is not JSON as a miss and
    a count Redis cannot increment as a missing key."""

    # The redis module, set by Django's __init__ (which its stubs leave out).
    _lib: ModuleType

    def get(self, key: str | bytes | memoryview, default: Any) -> Any:
        value = super().get(key, default)
        if value is UNDECODABLE:
            logger.warning("The cache key %r held a value that is not JSON: read as a miss.", key)
            return default
        return value

    def get_many(self, keys: Iterable[str | bytes | memoryview]) -> dict[str | bytes | memoryview, Any]:
        found = super().get_many(keys)
        for key in [key for key, value in found.items() if value is UNDECODABLE]:
            logger.warning("The cache key %r held a value that is not JSON: read as a miss.", key)
            del found[key]
        return found

    def incr(self, key: str | bytes | memoryview, delta: int) -> int:
        try:
            return super().incr(key, delta)
        except self._lib.ResponseError:
            # Not an integer Redis can add to: not a count this cache wrote.
            # Gone, it reads as the missing key Django's contract names, and
            # the caller's ``add`` can start the count again.
            logger.warning("The cache key %r held a value that is not a count: removed.", key)
            self.get_client(key, write=True).delete(key)
            raise ValueError(f"Key {key!r} not found.") from None


class JsonRedisCache(RedisCache):
    """Django's ``RedisCache`` that stores JSON: the backend ``CACHE_URL`` selects.

    The serializer is not an option: a configured pickle serializer would
    open the hole again."""

    # Set by Django's __init__ (which its stubs leave out).
    _options: dict[str, Any]

    def __init__(self, server: str | list[str], params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = JsonRedisCacheClient
        self._options = {**self._options, "serializer": JsonSerializer}


class JsonLocMemCache(LocMemCache):
    """The embedded, per-process cache, holding only what ``JsonRedisCache`` can.

    Nothing outside the process can write here, so its pickling is no hole;
    but values go through JSON on the way in, so a value Redis could not
    hold fails in development and tests too, and tuples read back as the
    lists Redis would give."""

    def add(
        self, key: str, value: Any, timeout: float | None = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        return super().add(key, _as_json_reads_it(value), timeout, version)

    def set(
        self, key: str, value: Any, timeout: float | None = DEFAULT_TIMEOUT, version: int | None = None
    ) -> None:
        super().set(key, _as_json_reads_it(value), timeout, version)


def _as_json_reads_it(value: Any) -> Any:
    serializer = JsonSerializer()
    return serializer.loads(serializer.dumps(value))


def redis_database(url: str) -> tuple[str, str, int] | None:
    """``(scheme family, server, db)`` a Redis URL names, to tell whether two
    URLs share a database; ``None`` for a URL that is not Redis (the
    embedded broker). Loopback names count as one server; other host names
    are compared as written."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    query_db = parse_qs(parts.query).get("db", [""])[0] or parse_qs(parts.query).get("virtual_host", [""])[0]
    if scheme in {"unix", "redis+socket"}:
        return "unix", parts.path, int(query_db or 0)
    if scheme not in {"redis", "rediss"}:
        return None
    host = (parts.hostname or "localhost").lower()
    if host in {"localhost", "127.0.0.1", "::1"}:
        host = "localhost"
    path_db = parts.path.strip("/")
    return "tcp", f"{host}:{parts.port or 6379}", int(path_db or query_db or 0)
