"""Webhook deliveries travel on their own Celery queue
(``SQUADRON_WEBHOOK_QUEUE``), never on the queue of the workers that run
playbooks: first sends, retries, the sweep's re-sends and the sweep itself."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from kombu import Exchange, Queue

from portal.celery import app
from portal.integrations.models import WebhookDelivery
from portal.integrations.webhooks import delivery as webhook_delivery
from portal.integrations.webhooks import subscriptions
from portal.orders.execution import EXECUTE_TASK
from portal.orders.submission import order_submit
from tests.api.receiver import Receiver

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[3]


def take_all(name: str) -> list[tuple[str, list]]:
    """Take every message off the queue ``name``: (task name, args)."""
    taken = []
    with app.connection_for_read() as connection:
        queue = Queue(name, Exchange(name), routing_key=name)(connection.default_channel)
        queue.declare()
        while (message := queue.get(no_ack=True)) is not None:
            taken.append((message.headers["task"], message.decode()[0]))
    return taken


@pytest.fixture
def queues():
    """Both of this test process's queues, emptied before the test."""
    orders, hooks = settings.CELERY_TASK_DEFAULT_QUEUE, settings.SQUADRON_WEBHOOK_QUEUE
    assert orders != hooks
    take_all(orders)
    take_all(hooks)
    return orders, hooks


def test_an_order_change_goes_to_the_orders_queue_and_its_delivery_to_the_webhooks_queue(
    requester, product, queues, django_capture_on_commit_callbacks
):
    orders, hooks = queues
    subscription, _ = subscriptions.webhook_subscribe(actor=requester, url="https://cmdb.example.com/in")
    with django_capture_on_commit_callbacks(execute=True):
        order = order_submit(requester=requester, product=product, inputs={"hostname": "a"})
    delivery = WebhookDelivery.objects.get(subscription=subscription)
    assert take_all(hooks) == [("portal.deliver_webhook", [delivery.pk])]
    assert take_all(orders) == [(EXECUTE_TASK, [order.pk])]


def test_pings_redeliveries_and_retries_go_to_the_webhooks_queue(
    requester, settings, queues, django_capture_on_commit_callbacks
):
    orders, hooks = queues
    settings.SQUADRON_WEBHOOK_ALLOW_PRIVATE = True
    receiver = Receiver(status=503).start()
    try:
        subscription, _ = subscriptions.webhook_subscribe(actor=requester, url=receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            ping = subscriptions.webhook_ping(subscription=subscription, actor=requester)
        assert take_all(hooks) == [("portal.deliver_webhook", [ping.pk])]
        webhook_delivery.webhook_deliver(delivery_id=ping.pk)  # fails: a retry is scheduled
        assert take_all(hooks) == [("portal.deliver_webhook", [ping.pk])]
        with django_capture_on_commit_callbacks(execute=True):
            again = subscriptions.webhook_redeliver(delivery=ping, actor=requester)
        assert take_all(hooks) == [("portal.deliver_webhook", [again.pk])]
    finally:
        receiver.stop()
    assert take_all(orders) == []


def test_the_sweep_runs_on_the_webhooks_queue_and_resends_there(requester, queues):
    """The sweep (not a ping's on_commit, which this test never runs) sends it."""
    orders, hooks = queues
    subscription, _ = subscriptions.webhook_subscribe(actor=requester, url="https://cmdb.example.com/in")
    lost = subscriptions.webhook_ping(subscription=subscription, actor=requester)
    take_all(hooks)
    WebhookDelivery.objects.filter(pk=lost.pk).update(next_attempt_at=timezone.now() - timedelta(minutes=5))

    assert webhook_delivery.webhook_deliveries_sweep() == [lost.pk]
    assert take_all(hooks) == [("portal.deliver_webhook", [lost.pk])]
    # Beat sends the sweep itself by name: it lands with the webhooks' worker too.
    sweep = settings.CELERY_BEAT_SCHEDULE["sweep-webhook-deliveries"]["task"]
    app.send_task(sweep)
    assert take_all(hooks) == [(sweep, [])]
    assert take_all(orders) == []


def test_the_webhooks_queue_is_named_webhooks_unless_the_environment_says_otherwise():
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"SQUADRON_WEBHOOK_QUEUE", "DJANGO_SETTINGS_MODULE"}
    }
    script = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'portal.settings'; django.setup(); "
        "from django.conf import settings; from portal.celery import app; "
        "print(settings.SQUADRON_WEBHOOK_QUEUE, app.amqp.router.route({}, 'portal.deliver_webhook')"
        "['queue'].name, settings.SQUADRON_WEBHOOKS_PER_USER, settings.SQUADRON_WEBHOOK_PINGS_PER_MINUTE)"
    )

    def run(**env: str) -> str:
        return subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env={**environment, **env},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.split()

    assert run() == ["webhooks", "webhooks", "20", "5"]
    assert run(
        SQUADRON_WEBHOOK_QUEUE="hooks-eu",
        SQUADRON_WEBHOOKS_PER_USER="3",
        SQUADRON_WEBHOOK_PINGS_PER_MINUTE="1",
    ) == ["hooks-eu", "hooks-eu", "3", "1"]
    refused = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**environment, "SQUADRON_WEBHOOKS_PER_USER": "many"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0 and "SQUADRON_WEBHOOKS_PER_USER" in refused.stderr
