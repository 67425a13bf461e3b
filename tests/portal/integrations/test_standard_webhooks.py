"""Deliveries follow the Standard Webhooks specification: the reference
library (``standardwebhooks``) verifies them, a replayed capture fails its
timestamp tolerance, the old ``X-Squadron-Signature`` rides along while
``SQUADRON_WEBHOOK_LEGACY_SIGNATURE`` is on, and secrets made before keep
their key bytes through the migration."""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib
import json
import secrets
import time

import pytest
from django.apps import apps
from django.utils import timezone
from standardwebhooks import Webhook, WebhookVerificationError

from portal.integrations.models import WebhookDelivery, WebhookSubscription
from portal.integrations.webhooks import delivery as webhook_delivery
from portal.integrations.webhooks import subscriptions
from runbooks.crypto import encrypt_json
from tests.api.receiver import Receiver

pytestmark = pytest.mark.django_db

migration = importlib.import_module("portal.migrations.0013_webhook_secrets_standard_webhooks")


@pytest.fixture
def receiver():
    started = Receiver().start()
    yield started
    started.stop()


def test_the_standard_library_verifies_a_delivery_and_its_retries(requester, receiver, settings):
    settings.SQUADRON_WEBHOOK_ALLOW_PRIVATE = True
    subscription, receiver.secret = subscriptions.webhook_subscribe(actor=requester, url=receiver.url)
    assert len(base64.b64decode(receiver.secret.removeprefix("whsec_"), validate=True)) == 32
    ping = subscriptions.webhook_ping(subscription=subscription, actor=requester)
    receiver.status = 503
    webhook_delivery.webhook_deliver(delivery_id=ping.pk)
    receiver.status = 200
    WebhookDelivery.objects.filter(pk=ping.pk).update(next_attempt_at=timezone.now())
    delivered = webhook_delivery.webhook_deliver(delivery_id=ping.pk)

    assert delivered.status == "delivered" and delivered.attempts == 2
    first, second = receiver.received
    assert [first.signature_valid, second.signature_valid] == [True, True]
    # The id names the message, the same on a retry (receivers deduplicate on it);
    # the timestamp and signature are those of each attempt.
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == str(ping.delivery_id)
    assert abs(int(second.headers["webhook-timestamp"]) - time.time()) < 60
    assert second.headers["webhook-signature"].startswith("v1,")
    assert Webhook(receiver.secret).verify(second.body, second.headers)["event"] == "ping"


def test_a_replayed_capture_fails_the_receivers_timestamp_tolerance(requester):
    _subscription, secret = subscriptions.webhook_subscribe(
        actor=requester, url="https://cmdb.example.com/in"
    )
    body = json.dumps({"event": "ping"}).encode()
    sent_ten_minutes_ago = webhook_delivery.signature_headers(
        secret, delivery_id="d-1", body=body, now=time.time() - 600
    )
    receiver = Webhook(secret)
    with pytest.raises(WebhookVerificationError, match="too old"):
        receiver.verify(body, sent_ten_minutes_ago)
    # Bringing the timestamp up to date breaks the signature: it is signed.
    refreshed = {**sent_ten_minutes_ago, "webhook-timestamp": str(int(time.time()))}
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        receiver.verify(body, refreshed)
    fresh = webhook_delivery.signature_headers(secret, delivery_id="d-1", body=body, now=time.time())
    assert receiver.verify(body, fresh) == {"event": "ping"}


def test_the_old_signature_rides_along_until_the_setting_turns_it_off(requester, receiver, settings):
    settings.SQUADRON_WEBHOOK_ALLOW_PRIVATE = True
    subscription, receiver.secret = subscriptions.webhook_subscribe(actor=requester, url=receiver.url)
    for legacy in (True, False):
        settings.SQUADRON_WEBHOOK_LEGACY_SIGNATURE = legacy
        ping = subscriptions.webhook_ping(subscription=subscription, actor=requester)
        webhook_delivery.webhook_deliver(delivery_id=ping.pk)
    with_old, standard_only = receiver.received
    assert with_old.signature_valid and with_old.legacy_signature_valid
    assert with_old.headers["X-Squadron-Delivery"] == with_old.headers["webhook-id"]
    assert with_old.headers["X-Squadron-Timestamp"] == with_old.headers["webhook-timestamp"]
    assert standard_only.signature_valid and not standard_only.legacy_signature_valid
    assert not {"X-Squadron-Signature", "X-Squadron-Delivery", "X-Squadron-Timestamp"} & set(
        standard_only.headers
    )
    assert standard_only.headers["X-Squadron-Event"] == "ping"


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        ("0123456789abcdef0123456789abcdef", "it starts with whsec_"),
        # What Squadron generated before: URL-safe characters, no padding.
        ("whsec_AznXVKe_w3kfKWZkZoYT4ITZeUiS72nbR1vua_uucnc", "is not base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "this one encodes 5"),
        ("whsec_" + base64.b64encode(bytes(65)).decode(), "this one encodes 65"),
    ],
    ids=["no-prefix", "url-safe", "too-short", "too-long"],
)
def test_a_chosen_secret_outside_the_standard_is_refused(api_for, requester, secret, why):
    response = api_for(requester).post(
        "/api/v1/webhooks/", {"url": "https://cmdb.example.com/in", "secret": secret}, format="json"
    )
    assert response.status_code == 400
    assert why in response.json()["errors"]["secret"][0]
    assert WebhookSubscription.objects.count() == 0


def test_a_chosen_standard_secret_signs_the_deliveries(api_for, requester, receiver, settings):
    settings.SQUADRON_WEBHOOK_ALLOW_PRIVATE = True
    receiver.secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    created = api_for(requester).post(
        "/api/v1/webhooks/", {"url": receiver.url, "secret": receiver.secret}, format="json"
    )
    assert created.status_code == 201 and created.json()["secret"] == receiver.secret
    ping = subscriptions.webhook_ping(subscription=WebhookSubscription.objects.get(), actor=requester)
    assert webhook_delivery.webhook_deliver(delivery_id=ping.pk).status == "delivered"
    assert receiver.received[0].signature_valid


def test_secrets_made_before_keep_their_key_bytes_through_the_migration(requester, receiver, settings):
    """An old receiver (the whole string as key, the body alone signed) keeps
    verifying; the migrated secret verifies with the library."""
    settings.SQUADRON_WEBHOOK_ALLOW_PRIVATE = True
    old_generated = "whsec_" + secrets.token_urlsafe(32)
    old_chosen = "  my own secret, spaces kept  "
    for old, url in ((old_generated, receiver.url), (old_chosen, receiver.url + "&chosen")):
        WebhookSubscription.objects.create(user=requester, url=url, secret_ciphertext=encrypt_json(old))
    unreadable = WebhookSubscription.objects.create(
        user=requester, url="https://cmdb.example.com/in", secret_ciphertext="not a token"
    )

    migration.to_standard(apps, None)

    generated, chosen = WebhookSubscription.objects.exclude(pk=unreadable.pk).order_by("pk")
    for subscription, old in ((generated, old_generated), (chosen, old_chosen)):
        receiver.received.clear()
        receiver.secret = webhook_delivery.subscription_secret(subscription)
        assert receiver.secret == "whsec_" + base64.b64encode(old.encode()).decode()
        ping = subscriptions.webhook_ping(subscription=subscription, actor=requester)
        webhook_delivery.webhook_deliver(delivery_id=ping.pk)
        (received,) = receiver.received
        assert received.signature_valid
        old_recipe = "sha256=" + hmac.new(old.encode(), received.body, hashlib.sha256).hexdigest()
        assert received.headers["X-Squadron-Signature"] == old_recipe
    unreadable.refresh_from_db()
    assert unreadable.secret_ciphertext == "not a token"

    migration.to_whole_string(apps, None)
    generated.refresh_from_db()
    assert webhook_delivery.subscription_secret(generated) == old_generated
