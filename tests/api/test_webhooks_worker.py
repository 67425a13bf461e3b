"""End to end: an order placed through the API, run by a real Celery worker,
told to a real receiver while the receiver is slow; and receivers that never
answer, which hold up only the webhooks' own worker, never an order."""

from __future__ import annotations

import json
import time

import pytest

from portal.integrations.models import WebhookDelivery
from portal.integrations.webhooks import subscriptions
from portal.orders.models import Order
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
        response = client.post(
            "/api/v1/orders/", data=json.dumps({"product": "quick"}), content_type="application/json"
        )
        assert response.status_code == 201
        # Ordering never waits for a receiver: the receiver answers each
        # delivery only after holding it, and none was answered when the
        # order came back (a condition, not a stopwatch: a busy machine is slow).
        assert not WebhookDelivery.objects.filter(status="delivered").exists(), "ordering waited"
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


def test_deliveries_hanging_on_a_receiver_never_hold_up_an_order(
    api_for, squad, requester, outsider, settings
):
    """Issue #12: 16 pings to a receiver that never answers kept other users'
    orders queued for 78 s, as deliveries shared the playbooks' queue. With
    production's layout (a worker for orders, one for webhooks) an order
    runs while every delivery is still stuck."""
    settings.SQUADRON_WEBHOOK_PINGS_PER_MINUTE = 16
    runbook = RunbookFactory(squad=squad, slug="quick")
    ProductFactory(
        slug="quick", squad=squad, runbook=runbook, form_schema={"type": "object", "properties": {}}
    )
    hanging = Receiver(hang=True).start()
    workers = []
    try:
        workers.append(Worker(queues=[settings.CELERY_TASK_DEFAULT_QUEUE]).start())
        workers.append(
            Worker(
                queues=[settings.SQUADRON_WEBHOOK_QUEUE],
                # Longer than any wait below: the receiver decides when they end.
                extra_env={"SQUADRON_WEBHOOK_TIMEOUT_SECONDS": "600"},
            ).start()
        )
        subscription, _ = subscriptions.webhook_subscribe(actor=outsider, url=hanging.url)
        for _ in range(16):
            subscriptions.webhook_ping(subscription=subscription, actor=outsider)
        wait_for(lambda: len(hanging.received) == 1, timeout=60)

        response = api_for(requester).post(
            "/api/v1/orders/", data=json.dumps({"product": "quick"}), content_type="application/json"
        )
        assert response.status_code == 201
        wait_for(lambda: Order.objects.get(pk=response.json()["id"]).status == "succeeded", timeout=90)

        assert len(hanging.received) == 1, "the webhooks' worker is still waiting for its first answer"
        assert WebhookDelivery.objects.filter(status="pending", last_status_code=None).count() == 16
    finally:
        hanging.release()  # so the webhooks' worker can stop at once
        for worker in workers:
            worker.stop()
        hanging.stop()
