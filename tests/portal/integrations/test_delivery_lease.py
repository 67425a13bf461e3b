"""A claimed delivery holds a lease, not a blank: if the task that claimed it
dies mid-request (its time limit on a slow-drip receiver, a killed worker),
the sweep finds it again once the lease is over and it is retried."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from billiard.exceptions import SoftTimeLimitExceeded
from django.utils import timezone

from portal.integrations import tasks
from portal.integrations.models import WebhookDelivery
from portal.integrations.webhooks import delivery as webhook_delivery
from portal.integrations.webhooks import subscriptions
from tests.api.receiver import Receiver
from tests.portal.conftest import drain_queued_tasks

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver(settings):
    settings.SQUADRON_WEBHOOK_ALLOW_PRIVATE = True
    started = Receiver().start()
    yield started
    started.stop()


def wait_until(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"condition not met in {timeout} s"
        time.sleep(0.1)


def die_mid_request(*args: object, **kwargs: object) -> None:
    raise SoftTimeLimitExceeded()


def later(monkeypatch: pytest.MonkeyPatch, by: timedelta) -> None:
    moment = timezone.now() + by
    monkeypatch.setattr(webhook_delivery.timezone, "now", lambda: moment)


def test_a_delivery_whose_task_died_is_found_again_by_the_sweep(requester, receiver, monkeypatch):
    subscription, receiver.secret = subscriptions.webhook_subscribe(actor=requester, url=receiver.url)
    ping = subscriptions.webhook_ping(subscription=subscription, actor=requester)
    with monkeypatch.context() as dying:
        dying.setattr(webhook_delivery, "post", die_mid_request)
        with pytest.raises(SoftTimeLimitExceeded):
            webhook_delivery.webhook_deliver(delivery_id=ping.pk)
    claimed = WebhookDelivery.objects.get(pk=ping.pk)
    assert (claimed.status, claimed.attempts) == ("pending", 1)
    lease = webhook_delivery.claim_lease()
    assert lease.total_seconds() == tasks.deliver_webhook.time_limit, "the lease outlasts the task"
    assert claimed.next_attempt_at > timezone.now() + lease - timedelta(seconds=5)

    # While the lease runs the task may still be working: a duplicate waits.
    assert webhook_delivery.webhook_deliveries_sweep() == []
    assert webhook_delivery.webhook_deliver(delivery_id=ping.pk) is None
    assert receiver.received == []

    later(monkeypatch, lease + webhook_delivery.SWEEP_GRACE + timedelta(seconds=1))
    sent = []
    monkeypatch.setattr(webhook_delivery, "enqueue", lambda pk, countdown=0: sent.append(pk) or True)
    assert webhook_delivery.webhook_deliveries_sweep() == [ping.pk]
    retried = webhook_delivery.webhook_deliver(delivery_id=ping.pk)
    assert (retried.status, retried.attempts) == ("delivered", 2)
    assert len(receiver.received) == 1 and receiver.received[0].signature_valid


def test_a_last_attempt_that_died_gives_up_instead_of_sending_past_the_limit(
    requester, receiver, monkeypatch, settings
):
    settings.SQUADRON_WEBHOOK_MAX_ATTEMPTS = 1
    subscription, receiver.secret = subscriptions.webhook_subscribe(actor=requester, url=receiver.url)
    ping = subscriptions.webhook_ping(subscription=subscription, actor=requester)
    with monkeypatch.context() as dying:
        dying.setattr(webhook_delivery, "post", die_mid_request)
        with pytest.raises(SoftTimeLimitExceeded):
            webhook_delivery.webhook_deliver(delivery_id=ping.pk)
    later(monkeypatch, webhook_delivery.claim_lease() + webhook_delivery.SWEEP_GRACE + timedelta(seconds=1))
    given_up = webhook_delivery.webhook_deliver(delivery_id=ping.pk)
    assert (given_up.status, given_up.attempts) == ("failed", 1)
    assert "did not finish" in given_up.last_error and given_up.next_attempt_at is None
    assert receiver.received == []


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_request_leaves_a_lease_the_sweep_recovers(requester, settings):
    """A real worker is lost (SIGKILL) while a receiver drips its answer: the
    delivery keeps a lease, and once it is over the sweep sends it again to
    a new worker, which delivers it."""
    from tests.worker import Worker

    settings.SQUADRON_WEBHOOK_ALLOW_PRIVATE = True
    # Messages earlier tests of this process left would reach the new worker
    # before the sweep's, and one of them could be a copy of this delivery's.
    drain_queued_tasks(settings.SQUADRON_WEBHOOK_QUEUE)
    receiver = Receiver(hang=True).start()
    environment = {"SQUADRON_WEBHOOK_ALLOW_PRIVATE": "true"}
    workers = [Worker(queues=[settings.SQUADRON_WEBHOOK_QUEUE], extra_env=environment).start()]
    try:
        subscription, receiver.secret = subscriptions.webhook_subscribe(actor=requester, url=receiver.url)
        # The ping is handed to the worker once, at commit: a second message
        # the lost worker had not yet taken would reach the new one and win
        # the race with the sweep.
        ping = subscriptions.webhook_ping(subscription=subscription, actor=requester)
        wait_until(lambda: len(receiver.received) == 1)
        workers[0].kill()

        lost = WebhookDelivery.objects.get(pk=ping.pk)
        assert (lost.status, lost.attempts) == ("pending", 1)
        assert lost.next_attempt_at > timezone.now(), "a lease, not a blank the sweep never finds"
        assert webhook_delivery.webhook_deliveries_sweep() == [], "the lease is not over yet"

        # The lease ran out (it lasts as long as the task's time limit).
        over = timezone.now() - webhook_delivery.SWEEP_GRACE - timedelta(seconds=1)
        WebhookDelivery.objects.filter(pk=ping.pk).update(next_attempt_at=over)
        receiver.release()
        workers.append(Worker(queues=[settings.SQUADRON_WEBHOOK_QUEUE], extra_env=environment).start())
        assert webhook_delivery.webhook_deliveries_sweep() == [ping.pk]
        wait_until(lambda: WebhookDelivery.objects.get(pk=ping.pk).status == "delivered")
    finally:
        receiver.release()
        for worker in workers[1:]:
            worker.stop()
        receiver.stop()
    delivered = WebhookDelivery.objects.get(pk=ping.pk)
    assert delivered.attempts == 2 and delivered.next_attempt_at is None
    assert len(receiver.received) == 2 and all(one.signature_valid for one in receiver.received)
