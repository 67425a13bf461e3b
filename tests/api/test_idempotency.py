"""``Idempotency-Key``: one order per key and body, even under a race."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from catalogue.choices import ProductStatus
from portal.orders.models import IdempotencyRecord, Order, OrderEvent
from portal.orders.submission import idempotency_records_purge

BODY = {"product": "vm", "inputs": {"hostname": "web-01"}}


def place(client, body=BODY, key="key-1"):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post("/api/v1/orders/", data=json.dumps(body), content_type="application/json", **headers)


@pytest.mark.django_db
def test_same_key_and_body_answers_201_then_200_with_the_same_body_and_one_order(api_for, requester, product):
    client = api_for(requester)
    first = place(client)
    again = place(client, body={"inputs": {"hostname": "web-01"}, "product": "vm"})  # same meaning
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert again["Location"] == first["Location"]
    assert Order.objects.count() == 1 and OrderEvent.objects.count() == 1


@pytest.mark.django_db
def test_same_key_with_another_body_is_a_422_and_creates_nothing(api_for, requester, product):
    client = api_for(requester)
    place(client)
    response = place(client, body={"product": "vm", "inputs": {"hostname": "web-02"}})
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert Order.objects.count() == 1


@pytest.mark.django_db
def test_a_retry_after_the_product_was_retired_still_answers_with_its_order(api_for, requester, product):
    """A client that timed out and retries must learn its order exists, not
    that the product is gone."""
    client = api_for(requester)
    first = place(client)
    product.status = ProductStatus.RETIRED
    product.save()
    again = place(client)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    other = place(client, body={"product": "gone", "inputs": {}})
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    fresh = place(client, key="key-2")
    assert fresh.status_code == 400 and "product" in fresh.json()["errors"]
    assert Order.objects.count() == 1 and IdempotencyRecord.objects.count() == 1


@pytest.mark.django_db
def test_keys_belong_to_their_user(api_for, requester, outsider, product):
    place(api_for(requester))
    response = place(api_for(outsider))
    assert response.status_code == 201
    assert Order.objects.count() == 2


@pytest.mark.django_db
def test_a_refused_order_does_not_use_up_the_key(api_for, requester, product):
    client = api_for(requester)
    refused = place(client, body={"product": "vm", "inputs": {}})
    assert refused.status_code == 400
    assert IdempotencyRecord.objects.count() == 0
    assert place(client).status_code == 201


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "tab\tkey", "ünïcode"])
def test_malformed_keys_are_refused(api_for, requester, product, key):
    response = place(api_for(requester), key=key)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["errors"]
    assert Order.objects.count() == 0


@pytest.mark.django_db
def test_an_expired_key_places_a_new_order_and_old_keys_are_purged(api_for, requester, product, settings):
    client = api_for(requester)
    place(client)
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
    assert place(client).status_code == 201
    assert Order.objects.count() == 2
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
    assert idempotency_records_purge() == 1
    assert IdempotencyRecord.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_racing_retries_with_one_key_place_one_order(api_for, requester, product):
    clients = [api_for(requester) for _ in range(4)]
    barrier = threading.Barrier(len(clients))
    answers: list = []

    def send(client):
        try:
            barrier.wait()
            response = place(client, key="race")
            answers.append((response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(status for status, _ in answers) == [200, 200, 200, 201]
    assert len({json.dumps(body, sort_keys=True) for _, body in answers}) == 1
    assert Order.objects.count() == 1
