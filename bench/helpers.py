"""What the page benchmarks share (``bench/portal_pages.py``,
``bench/instances.py``): a database of their own, Django set up as in
production, bulk loading, and timing one request through Django's test
client with its queries counted.

A benchmark runs as a script (``.venv/bin/python bench/NAME.py``), so this
directory is on ``sys.path`` and ``import helpers`` finds this module.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/postgres"
#: Unmeasured requests before the measured ones: caches, connections, templates.
WARM_UP = 3


def postgres_admin_url() -> str:
    return os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES)


def postgres_url(database: str) -> str:
    """The URL of ``database`` on the server of ``$BENCH_POSTGRES_URL``."""
    parts = urlsplit(postgres_admin_url())
    return urlunsplit(parts._replace(path=f"/{database}"))


def postgres_admin(sql: str) -> None:
    import psycopg

    connection = psycopg.connect(postgres_admin_url(), autocommit=True)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
    finally:
        connection.close()


@contextmanager
def bench_database(vendor: str, name: str) -> Iterator[str]:
    """The URL of an empty database of the bench's own: on PostgreSQL
    ``name``, created now and dropped afterwards (so that benchmarks with
    different names may run at once); on SQLite a file in a new temporary
    directory."""
    if vendor != "postgres":
        yield f"sqlite:///{tempfile.mkdtemp(prefix='squadron-bench-')}/bench.sqlite3"
        return
    postgres_admin(f"DROP DATABASE IF EXISTS {name}")
    postgres_admin(f"CREATE DATABASE {name}")
    try:
        yield postgres_url(name)
    finally:
        postgres_admin(f"DROP DATABASE IF EXISTS {name}")


def setup_django(database_url: str) -> None:
    """Django on ``database_url`` with the portal's settings, production-like."""
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ["SQUADRON_VAR_DIR"] = tempfile.mkdtemp(prefix="squadron-bench-")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings

    # Production-like: no query log, no template debug; plain static storage
    # because the bench has not run collectstatic.
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["testserver"]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def bulk_insert(model: Any, rows: Iterable[Any], batch: int = 5_000) -> None:
    """``bulk_create`` the model rows ``rows`` yields, ``batch`` at a time
    (a generator of a million rows never sits in memory whole)."""
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == batch:
            model.objects.bulk_create(chunk)
            chunk = []
    if chunk:
        model.objects.bulk_create(chunk)


def time_request(client: Any, name: str, url: str, params: dict, repeat: int) -> dict:
    """GET ``url`` with ``client``: warmed up, then once with its queries
    captured, then ``repeat`` times timed. Answers the ``page`` (``name``),
    the ``median`` and ``p95`` in ms and the SQL of each query (``sql``)."""
    from django.core.signals import request_finished
    from django.db import close_old_connections, connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(WARM_UP):
        response = client.get(url, params)
        assert response.status_code == 200, (name, response.status_code)
    # Keep the connection across the request (as the test runner does) so
    # its queries can be counted; closing it would clear the log.
    request_finished.disconnect(close_old_connections)
    try:
        with CaptureQueriesContext(connection) as queries:
            client.get(url, params)
    finally:
        request_finished.connect(close_old_connections)
    # Read now: the context reads the connection's log lazily, and the next
    # requests reset that log.
    captured = [query["sql"] for query in queries.captured_queries]
    timings = []
    for _ in range(repeat):
        began = time.perf_counter()
        client.get(url, params)
        timings.append((time.perf_counter() - began) * 1000)
    timings.sort()
    return {
        "page": name,
        "median": statistics.median(timings),
        "p95": timings[max(0, round(len(timings) * 0.95) - 1)],
        "sql": captured,
    }
