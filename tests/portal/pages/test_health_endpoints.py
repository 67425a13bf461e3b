"""/healthz answers liveness, /readyz readiness.

A broker outage leaves the web alive (200 from /healthz: orders placed
meanwhile wait for the sweep) but not ready (503 from /readyz, naming the
broker); a database outage makes it not ready too. Both answer anyone, every
time a probe asks, and give away nothing of the failure but its kind.
"""

from __future__ import annotations

import pytest
from django.db import OperationalError, connection

from portal.orders.choices import OrderStatus
from portal.orders.submission import order_submit
from tests.portal.conftest import broker_outage

pytestmark = pytest.mark.django_db

# What a driver says when PostgreSQL is down: a host and an address that
# must not reach an anonymous caller.
DATABASE_ERROR = (
    'connection failed: could not connect to server "db.internal" (10.1.2.3), port 5432: Connection refused'
)


@pytest.fixture
def database_down(monkeypatch):
    """Every new use of the database fails the way a refused connection does."""

    def refuse() -> None:
        raise OperationalError(DATABASE_ERROR)

    monkeypatch.setattr(connection, "ensure_connection", refuse)


def test_broker_down_keeps_the_web_alive_not_ready_and_orders_wait_for_the_sweep(
    client, product, requester, django_capture_on_commit_callbacks
):
    with broker_outage() as broker_url:
        liveness = client.get("/healthz")
        readiness = client.get("/readyz")
        with django_capture_on_commit_callbacks(execute=True):
            order = order_submit(requester=requester, product=product, inputs={"hostname": "web-01"})

    assert liveness.status_code == 200
    assert liveness.json() == {"status": "ok", "checks": {"database": "ok", "broker": "error: unreachable"}}
    assert readiness.status_code == 503
    assert readiness.json() == {
        "status": "unavailable",
        "down": ["broker"],
        "checks": {"database": "ok", "broker": "error: unreachable"},
    }
    port = broker_url.rsplit(":", 1)[1].split("/")[0]
    for body in (liveness.content, readiness.content):
        assert b"broker-password" not in body and port.encode() not in body
    order.refresh_from_db()
    assert order.status == OrderStatus.QUEUED and order.dispatch_count == 0, "left for the sweep"
    # Back up: ready again, with no restart.
    assert client.get("/readyz").status_code == 200


def test_database_down_is_not_ready_and_the_driver_message_stays_inside(client, database_down):
    liveness = client.get("/healthz")
    readiness = client.get("/readyz")
    assert liveness.status_code == 200
    assert liveness.json()["checks"]["database"] == "error: OperationalError"
    assert readiness.status_code == 503
    assert readiness.json() == {
        "status": "unavailable",
        "down": ["database"],
        "checks": {"database": "error: OperationalError", "broker": "ok"},
    }
    for body in (liveness.content, readiness.content):
        assert b"db.internal" not in body and b"10.1.2.3" not in body and b"5432" not in body


def test_both_down_names_both(client, database_down):
    with broker_outage():
        readiness = client.get("/readyz")
        liveness = client.get("/healthz")
    assert readiness.status_code == 503 and readiness.json()["down"] == ["database", "broker"]
    assert liveness.status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_are_anonymous_uncached_and_never_throttled(client, path):
    # A probe every second for a minute, from one address, with no session.
    answers = [client.get(path, REMOTE_ADDR="10.0.0.9") for _ in range(60)]
    assert {answer.status_code for answer in answers} == {200}
    last = answers[-1]
    assert "no-cache" in last["Cache-Control"] and "max-age=0" in last["Cache-Control"]
    assert not last.cookies, "a probe gets no session or CSRF cookie"
    assert last["Content-Type"] == "application/json"


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_answer_get_only(client, path):
    assert client.post(path).status_code == 405
