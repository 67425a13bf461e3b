"""Webhooks against a real local HTTP receiver that verifies signatures:
subscription rules, deliveries after commit, retries with backoff, the
delivery log, and receivers that are slow, down or on forbidden addresses."""

from __future__ import annotations

import json
import socket
from datetime import timedelta

import pytest
from django.utils import timezone

from portal.integrations.models import WebhookDelivery, WebhookSubscription
from portal.integrations.webhooks import delivery as webhook_delivery
from portal.integrations.webhooks import subscriptions
from portal.orders.models import Order
from portal.orders.submission import order_submit
from tests.api.receiver import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    started = Receiver().start()
    yield started
    started.stop()


def subscribe(client, url, **fields):
    return client.post(
        "/api/v1/webhooks/", data=json.dumps({"url": url, **fields}), content_type="application/json"
    )


def deliver_all() -> list[WebhookDelivery]:
    """What the worker does with each queued delivery task."""
    return [
        webhook_delivery.webhook_deliver(delivery_id=pk)
        for pk in WebhookDelivery.objects.filter(status="pending").order_by("pk").values_list("pk", flat=True)
    ]


def place(client, hostname="web-01"):
    return client.post(
        "/api/v1/orders/",
        data=json.dumps({"product": "vm", "inputs": {"hostname": hostname, "token": "t0p-secret"}}),
        content_type="application/json",
    )


def test_status_changes_reach_the_receiver_signed_after_commit(
    api_for, requester, product, receiver, django_capture_on_commit_callbacks
):
    client = api_for(requester)
    created = subscribe(client, receiver.url, description="CMDB")
    assert created.status_code == 201, created.content
    receiver.secret = created.json()["secret"]
    assert receiver.secret.startswith("whsec_")
    subscription = WebhookSubscription.objects.get()
    assert receiver.secret not in subscription.secret_ciphertext
    assert "secret" not in client.get(f"/api/v1/webhooks/{subscription.pk}/").json()

    with django_capture_on_commit_callbacks(execute=True):
        order_id = place(client).json()["id"]
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/api/v1/orders/{order_id}/cancel/", data={}, format="json")
    assert receiver.received == [], "nothing is sent by the request that changed the order"

    deliveries = deliver_all()
    assert [d.status for d in deliveries] == ["delivered", "delivered"]
    assert [(d.attempts, d.last_status_code, d.last_error) for d in deliveries] == [
        (1, 200, ""),
        (1, 200, ""),
    ]
    assert [r.signature_valid for r in receiver.received] == [True, True]
    first, second = (r.payload for r in receiver.received)
    assert (first["from_status"], first["to_status"]) == (None, "queued")
    assert (second["from_status"], second["to_status"]) == ("queued", "cancelled")
    assert second["event"] == "order.status_changed" and second["order"]["id"] == order_id
    assert second["order"]["inputs"]["token"] == "********"
    assert b"t0p-secret" not in receiver.received[0].body
    headers = receiver.received[1].headers
    assert headers["X-Squadron-Event"] == "order.status_changed"
    assert headers["X-Squadron-Delivery"] == str(deliveries[1].delivery_id)
    assert abs(int(headers["X-Squadron-Timestamp"]) - timezone.now().timestamp()) < 60
    assert headers["Content-Type"] == "application/json"


def test_a_failing_receiver_is_retried_with_backoff_then_given_up(
    api_for, requester, product, receiver, settings, django_capture_on_commit_callbacks
):
    settings.SQUADRON_WEBHOOK_MAX_ATTEMPTS = 3
    settings.SQUADRON_WEBHOOK_BACKOFF_SECONDS = 10
    receiver.status = 500
    client = api_for(requester)
    receiver.secret = subscribe(client, receiver.url).json()["secret"]
    with django_capture_on_commit_callbacks(execute=True):
        place(client)
    (delivery,) = deliver_all()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    assert delivery.last_error == "HTTP 500: receiver is unhappy"
    assert timedelta(seconds=9) < delivery.next_attempt_at - timezone.now() <= timedelta(seconds=10)
    assert webhook_delivery.webhook_deliver(delivery_id=delivery.pk) is None, (
        "not due yet: an early duplicate waits"
    )
    WebhookDelivery.objects.update(next_attempt_at=timezone.now())
    (delivery,) = deliver_all()
    assert delivery.attempts == 2
    assert timedelta(seconds=19) < delivery.next_attempt_at - timezone.now() <= timedelta(seconds=20)
    WebhookDelivery.objects.update(next_attempt_at=timezone.now())
    (delivery,) = deliver_all()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 3, None)
    assert len(receiver.received) == 3
    assert len({r.body for r in receiver.received}) == 1, "every attempt carries the same signed body"

    log = client.get(f"/api/v1/webhooks/{delivery.subscription_id}/deliveries/").json()["results"]
    assert [(d["status"], d["attempts"], d["last_status_code"]) for d in log] == [("failed", 3, 500)]
    assert log[0]["payload"]["to_status"] == "queued"


def test_a_receiver_that_is_down_or_slow_is_logged_and_never_slows_ordering(
    api_for, requester, product, receiver, settings, django_capture_on_commit_callbacks
):
    settings.SQUADRON_WEBHOOK_TIMEOUT_SECONDS = 1
    receiver.delay = 3
    client = api_for(requester)
    subscribe(client, receiver.url)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    subscribe(client, f"http://127.0.0.1:{closed_port}/down")
    with django_capture_on_commit_callbacks(execute=True):
        response = place(client)
    assert response.status_code == 201
    assert receiver.received == [], "the order was answered without calling any receiver"
    errors = sorted(delivery.last_error for delivery in deliver_all())
    assert errors == [f"Connection refused by 127.0.0.1:{closed_port}.", "No answer within 1 s."]
    assert WebhookDelivery.objects.filter(status="pending", attempts=1).count() == 2


def test_an_order_is_placed_even_if_the_webhook_hook_breaks(
    api_for, requester, product, monkeypatch, django_capture_on_commit_callbacks
):
    def broken(**kwargs):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(webhook_delivery, "_fan_out", broken)
    with django_capture_on_commit_callbacks(execute=True):
        response = place(api_for(requester))
    assert response.status_code == 201
    assert Order.objects.count() == 1


def test_user_webhooks_hear_only_their_own_orders_and_squad_webhooks_all_of_the_squads(
    api_for, requester, outsider, member, product, django_capture_on_commit_callbacks
):
    subscribe(api_for(requester), "https://rita.example.com/hook")
    assert subscribe(api_for(member), "https://network.example.com/hook", squad="network").status_code == 201
    with django_capture_on_commit_callbacks(execute=True):
        place(api_for(requester))
        place(api_for(outsider))
    delivered_to = sorted(
        WebhookDelivery.objects.values_list("subscription__url", "order__requester__username")
    )
    assert delivered_to == [
        ("https://network.example.com/hook", "oscar"),
        ("https://network.example.com/hook", "rita"),
        ("https://rita.example.com/hook", "rita"),
    ]


def test_no_subscription_costs_ordering_one_query_and_creates_nothing(
    requester, product, django_capture_on_commit_callbacks, django_assert_num_queries
):
    with django_capture_on_commit_callbacks() as callbacks:
        order_submit(requester=requester, product=product, inputs={"hostname": "a"})
    fan_out = [c for c in callbacks if c.__name__ == "notify_subscribers"]
    assert len(fan_out) == 1
    with django_assert_num_queries(1):
        fan_out[0]()
    assert WebhookDelivery.objects.count() == 0


@pytest.mark.parametrize(
    "url",
    ["http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/", "http://[::ffff:169.254.169.254]/"],
)
def test_link_local_receivers_are_refused_even_where_private_ones_are_allowed(
    api_for, requester, settings, url
):
    """A cloud's metadata service answers on a link-local address, with the
    machine's credentials: no webhook may point there, not even in development."""
    settings.SQUADRON_WEBHOOK_ALLOW_PRIVATE = True
    assert subscribe(api_for(requester), "http://127.0.0.1:8000/").status_code == 201
    response = subscribe(api_for(requester), url)
    assert response.status_code == 400
    assert "private, loopback or link-local" in response.json()["errors"]["url"][0]
    assert WebhookSubscription.objects.count() == 1


@pytest.mark.parametrize(
    "url, message",
    [
        ("ftp://example.com/hook", "starts with https://"),
        ("file:///etc/passwd", "starts with https://"),
        ("javascript:alert(1)", "starts with https://"),
        ("https://user:pw@example.com/", "no credentials"),
        ("https:///nohost", "names a host"),
        ("https://example.com:99999/", "not a valid URL"),
        ("http://127.0.0.1:8000/", "private, loopback or link-local"),
        ("http://10.1.2.3/", "private, loopback or link-local"),
        ("http://169.254.169.254/latest/meta-data/", "private, loopback or link-local"),
        ("http://[::1]/", "private, loopback or link-local"),
        ("http://localhost/", "private, loopback or link-local"),
        ("https://example.com/" + "a" * 500, "no more than 500 characters"),
    ],
)
def test_forbidden_webhook_urls_are_refused_and_nothing_is_created(
    api_for, requester, settings, url, message
):
    settings.SQUADRON_WEBHOOK_ALLOW_PRIVATE = False
    response = subscribe(api_for(requester), url)
    assert response.status_code == 400
    assert message in response.json()["errors"]["url"][0]
    assert WebhookSubscription.objects.count() == 0


def test_a_host_name_that_resolves_to_a_private_address_is_not_called(
    requester, receiver, settings, monkeypatch
):
    settings.SQUADRON_WEBHOOK_ALLOW_PRIVATE = False
    subscription, _secret = subscriptions.webhook_subscribe(
        actor=requester, url="http://hooks.example.test/in"
    )
    port = receiver.server.server_address[1]
    real = socket.getaddrinfo
    # DNS answers with a loopback address (a rebinding attack); nothing else changes.
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, *args, **kwargs: (
            real("127.0.0.1", port, *args[1:], **kwargs)
            if host == "hooks.example.test"
            else real(host, *args, **kwargs)
        ),
    )
    (delivery,) = [subscriptions.webhook_ping(subscription=subscription, actor=requester)]
    delivery = webhook_delivery.webhook_deliver(delivery_id=delivery.pk)
    assert (
        delivery.last_error
        == "Not sent: hooks.example.test resolves to a private, loopback or link-local address."
    )
    assert receiver.received == []


def test_ping_rotate_and_redeliver_through_the_api(
    api_for, member, receiver, django_capture_on_commit_callbacks
):
    client = api_for(member)
    created = subscribe(client, receiver.url, squad="network").json()
    assert created["owner"] == "squad" and created["squad"] == "network"
    with django_capture_on_commit_callbacks(execute=True):
        ping = client.post(f"/api/v1/webhooks/{created['id']}/ping/")
    assert ping.status_code == 202 and ping.json()["event"] == "ping"
    rotated = client.post(f"/api/v1/webhooks/{created['id']}/rotate-secret/").json()["secret"]
    assert rotated != created["secret"]
    receiver.secret = rotated
    (delivery,) = deliver_all()
    assert delivery.status == "delivered" and receiver.received[0].signature_valid
    again = client.post(f"/api/v1/webhooks/{created['id']}/deliveries/{delivery.delivery_id}/redeliver/")
    assert again.status_code == 202
    assert again.json()["delivery_id"] != str(delivery.delivery_id)
    deliver_all()
    assert receiver.received[1].body == receiver.received[0].body
    paused = client.patch(f"/api/v1/webhooks/{created['id']}/", data={"is_active": False}, format="json")
    assert paused.json()["is_active"] is False


def test_a_delivery_task_delivered_twice_sends_once(requester, receiver):
    subscription, receiver.secret = subscriptions.webhook_subscribe(actor=requester, url=receiver.url)
    delivery = subscriptions.webhook_ping(subscription=subscription, actor=requester)
    webhook_delivery.webhook_deliver(delivery_id=delivery.pk)
    assert webhook_delivery.webhook_deliver(delivery_id=delivery.pk) is None
    assert len(receiver.received) == 1


def test_the_sweep_resends_deliveries_whose_retry_was_lost(requester):
    subscription, _ = subscriptions.webhook_subscribe(actor=requester, url="https://example.com/hook")
    lost = subscriptions.webhook_ping(subscription=subscription, actor=requester)
    fresh = subscriptions.webhook_ping(subscription=subscription, actor=requester)
    WebhookDelivery.objects.filter(pk=lost.pk).update(next_attempt_at=timezone.now() - timedelta(minutes=5))
    assert webhook_delivery.webhook_deliveries_sweep() == [lost.pk]
    assert fresh.pk != lost.pk


def test_webhook_and_delivery_lists_cost_the_same_queries_whatever_the_page_size(
    api_for, member, squad, settings, django_assert_max_num_queries
):
    settings.SQUADRON_WEBHOOK_PINGS_PER_MINUTE = 8  # eight deliveries to list
    client = api_for(member)
    client.get("/api/v1/me/")  # the token's first use records last_used_at, once
    hooks = [
        subscriptions.webhook_subscribe(
            actor=member, url=f"https://h{n}.example.com/", squad=squad if n % 2 else None
        )[0]
        for n in range(8)
    ]
    for _ in range(8):
        subscriptions.webhook_ping(subscription=hooks[0], actor=member)
    for size in (1, 8):
        with django_assert_max_num_queries(4):  # token, squads, COUNT, page
            assert len(client.get(f"/api/v1/webhooks/?page_size={size}").json()["results"]) == size
        with django_assert_max_num_queries(4):  # token, squads, the webhook, page
            page = client.get(f"/api/v1/webhooks/{hooks[0].pk}/deliveries/?page_size={size}").json()
            assert len(page["results"]) == size


def test_webhook_commands_that_take_no_body_refuse_one(api_for, requester):
    subscription, secret = subscriptions.webhook_subscribe(actor=requester, url="https://cmdb.example.com/in")
    delivery = subscriptions.webhook_ping(subscription=subscription, actor=requester)
    client = api_for(requester)
    body = json.dumps({"secret": "mine-of-my-choosing"})
    for path in (
        f"/api/v1/webhooks/{subscription.pk}/ping/",
        f"/api/v1/webhooks/{subscription.pk}/rotate-secret/",
        f"/api/v1/webhooks/{subscription.pk}/deliveries/{delivery.delivery_id}/redeliver/",
    ):
        response = client.post(path, data=body, content_type="application/json")
        assert response.status_code == 400, path
        assert "takes no body" in response.json()["errors"]["secret"][0]
    subscription.refresh_from_db()
    assert webhook_delivery.subscription_secret(subscription) == secret
    assert WebhookDelivery.objects.count() == 1


def test_a_chosen_secret_is_kept_as_sent_and_is_active_takes_only_booleans(api_for, requester):
    client = api_for(requester)
    created = subscribe(client, "https://cmdb.example.com/in", secret="  0123456789abcdef  ")
    assert created.status_code == 201
    subscription = WebhookSubscription.objects.get()
    assert webhook_delivery.subscription_secret(subscription) == "  0123456789abcdef  "
    for value in ("false", 0, None):
        response = client.patch(
            f"/api/v1/webhooks/{subscription.pk}/",
            data=json.dumps({"is_active": value}),
            content_type="application/json",
        )
        assert response.status_code == 400 and "is_active" in response.json()["errors"]
    subscription.refresh_from_db()
    assert subscription.is_active is True


def test_options_describe_the_body_each_method_takes(api_for, requester):
    client = api_for(requester)
    orders = client.options("/api/v1/orders/").json()["actions"]["POST"]
    assert set(orders) == {"product", "business_unit", "inputs"}
    hooks = client.options("/api/v1/webhooks/").json()["actions"]["POST"]
    assert {"url", "description", "squad", "secret"} == set(hooks)
