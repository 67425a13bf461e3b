"""The database and broker the suite runs on are the ones configured.

CI's second run sets SQUADRON_REQUIRE_SERVICES=1 with PostgreSQL and Redis: if
either is missing or silently replaced by the embedded defaults, this fails
instead of letting the suite pass on the wrong backend.
"""

from __future__ import annotations

import os

import pytest
from django.conf import settings
from django.db import connection

from portal.health import broker_ok

REQUIRE_SERVICES = os.environ.get("SQUADRON_REQUIRE_SERVICES") == "1"


@pytest.mark.django_db
def test_configured_database_answers():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone()[0] == 1
    if REQUIRE_SERVICES:
        assert connection.vendor == "postgresql"


def test_configured_broker_answers():
    assert broker_ok(timeout=5), f"broker {settings.CELERY_BROKER_URL} is unreachable"
    if REQUIRE_SERVICES:
        assert settings.CELERY_BROKER_URL.startswith("redis://")


@pytest.mark.django_db
def test_healthz_and_readyz_find_the_configured_database_and_broker(client):
    """On this run's backends (PostgreSQL and Redis in CI's second run);
    their outages are tests/portal/pages/test_health_endpoints.py's."""
    checks = {"database": "ok", "broker": "ok"}
    liveness, readiness = client.get("/healthz"), client.get("/readyz")
    assert (liveness.status_code, liveness.json()) == (200, {"status": "ok", "checks": checks})
    assert (readiness.status_code, readiness.json()) == (200, {"status": "ok", "down": [], "checks": checks})


def test_a_dropped_queue_leaves_no_message_behind():
    """What another connection declared and filled (the web process, a
    worker) is gone too: benchmarks and test sessions leave the broker clean."""
    from kombu import Exchange, Queue

    from portal.celery import app, queue_drop

    name = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-dropped"
    queue = Queue(name, Exchange(name), routing_key=name)
    with app.connection_for_write() as connection:
        producer = connection.Producer()
        for n in range(3):
            producer.publish({"n": n}, exchange=queue.exchange, routing_key=name, declare=[queue])
    with app.connection_for_read() as connection:
        assert queue(connection.default_channel).queue_declare(passive=True).message_count == 3

    taken = None
    if settings.CELERY_BROKER_URL.startswith("redis://"):
        # A worker that took a message and died: Redis keeps it aside, to put
        # it back on the queue hours later.
        with app.connection_for_read() as connection:
            channel = connection.default_channel
            taken = queue(channel).get(no_ack=False)
            assert taken is not None and channel.client.hexists(channel.unacked_key, taken.delivery_tag)
            channel.qos.restore_unacked = lambda: None  # dies: never gives it back itself

    queue_drop(name)

    with app.connection_for_read() as connection:
        channel = connection.default_channel
        assert queue(channel).queue_declare().message_count == 0
        if taken is not None:
            assert not channel.client.hexists(channel.unacked_key, taken.delivery_tag)
