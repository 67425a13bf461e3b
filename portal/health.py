"""Checks used by /healthz."""

from __future__ import annotations

from portal.celery import app


def broker_ok(timeout: float = 2.0) -> bool:
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=timeout)
        return True
    except Exception:  # noqa: BLE001 - any failure means the broker is unusable
        return False
