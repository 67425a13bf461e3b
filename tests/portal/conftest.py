from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


def drain_queued_tasks(queue_name: str | None = None) -> list[tuple[str, list]]:
    """Take every message waiting on one of this test process's queues (its
    default queue unless named): (task, args)."""
    from django.conf import settings

    from portal.celery import app

    found = []
    with app.connection_for_read() as connection:
        queue = connection.SimpleQueue(queue_name or settings.CELERY_TASK_DEFAULT_QUEUE)
        while True:
            try:
                message = queue.get(block=True, timeout=1)
            except queue.Empty:
                break
            found.append((message.headers["task"], message.payload[0]))
            message.ack()
        queue.close()
    return found


@contextmanager
def broker_outage() -> Iterator[str]:
    """The broker is unreachable inside the block: every URL Celery may
    publish or connect with names a port that refuses connections (bound
    here, never listening, so nothing else can take it meanwhile). Yields
    that URL, whose password no answer may repeat."""
    from portal.celery import app

    try:
        with socket.socket() as refusing, pytest.MonkeyPatch.context() as down:
            refusing.bind(("127.0.0.1", 0))
            url = f"redis://:broker-password@127.0.0.1:{refusing.getsockname()[1]}/0"
            # Celery resolves the publishing URL from several keys (and the environment).
            for key in ("broker_url", "broker_write_url", "CELERY_BROKER_URL", "CELERY_BROKER_WRITE_URL"):
                down.setitem(app.conf, key, url)
            retry_once = {"max_retries": 1, "interval_start": 0.1}
            down.setitem(app.conf, "CELERY_BROKER_TRANSPORT_OPTIONS", retry_once)
            down.setattr(app, "_pool", None)
            down.setattr(app.amqp, "_producer_pool", None)
            yield url
    finally:
        # Back up: fresh connection pools for the real broker.
        app._pool = None
        app.amqp._producer_pool = None
