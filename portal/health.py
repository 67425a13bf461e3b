"""The checks behind /healthz (liveness, which reports them) and /readyz
(readiness, which answers by them).

A check's outcome names only the kind of failure (``error: OperationalError``),
never its message: an error from a driver may quote a host, a user or a URL,
and both endpoints answer anonymous callers.
"""

from __future__ import annotations

from django.db import connection

from portal.celery import app

OK = "ok"


def broker_ok(timeout: float = 2.0) -> bool:
    """Whether the broker takes a connection within ``timeout`` seconds. One
    attempt, no retry (kombu waits two seconds before its first): a probe
    answers at once, and the next probe is the retry."""
    try:
        with app.connection_for_write() as broker:
            broker.ensure_connection(max_retries=0, timeout=timeout)
        return True
    except Exception:  # noqa: BLE001 - any failure means the broker is unusable
        return False


def database_check() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as error:  # noqa: BLE001 - any failure means the database is unusable
        return f"error: {error.__class__.__name__}"
    return OK


def broker_check() -> str:
    return OK if broker_ok() else "error: unreachable"


def dependency_checks() -> dict[str, str]:
    """What the web needs to serve every page: ``{"database": "ok", "broker": "error: ..."}``."""
    return {"database": database_check(), "broker": broker_check()}


def down(checks: dict[str, str]) -> list[str]:
    """The names of the failed checks, in the order they were made."""
    return [name for name, outcome in checks.items() if outcome != OK]
