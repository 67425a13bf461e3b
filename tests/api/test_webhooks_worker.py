"""End to end: an order placed through the API, run by a real Celery worker,
told to a real receiver by the same worker, while the receiver is slow."""

from __future__ import annotations

import json
import time

import pytest

from portal.models import Order, WebhookDelivery
from tests.api.receiver import Receiver
from tests.factories import ProductFactory, RunbookFactory
from tests.worker import Worker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def wait_for(predicate, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"condition not met in {timeout}s")


def test_a_run_is_told_to_the_receiver_by_the_worker_and_a_slow_receiver_delays_nothing(
    api_for, squad, requester
):
    runbook = RunbookFactory(squad=squad, slug="quick")
    ProductFactory(
        slug="quick", squad=squad, runbook=runbook, form_schema={"type": "object", "properties": {}}
    )
    receiver = Receiver(delay=2).start()
    worker = Worker().start()
    try:
        client = api_for(requester)
        receiver.secret = client.post("/api/v1/webhooks/", {"url": receiver.url}, format="json").json()[
            "secret"
        ]
        started = time.monotonic()
        response = client.post(
            "/api/v1/orders/", data=json.dumps({"product": "quick"}), content_type="application/json"
        )
        assert response.status_code == 201
        assert time.monotonic() - started < receiver.delay, "ordering never waits for a receiver"
        order_id = response.json()["id"]
        wait_for(lambda: Order.objects.get(pk=order_id).status == "succeeded")
        wait_for(lambda: WebhookDelivery.objects.filter(status="delivered").count() == 3)
    finally:
        worker.stop()
        receiver.stop()
    transitions = sorted(
        ((r.payload["from_status"], r.payload["to_status"]) for r in receiver.received), key=str
    )
    assert transitions == sorted([(None, "queued"), ("queued", "running"), ("running", "succeeded")], key=str)
    assert all(r.signature_valid for r in receiver.received)
