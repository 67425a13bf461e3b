"""Claim, release, complete, fail and cancel take the ``status`` and
``claimed_by`` the client read, and answer 409 ``stale_state`` with what
happened when the order moved meanwhile; nothing is recorded."""

from __future__ import annotations

import pytest

from portal.orders.fulfilment import order_claim
from portal.orders.submission import order_submit
from tests.portal.orders.test_stale_fulfilment import snapshot

pytestmark = pytest.mark.django_db


def test_a_claim_on_an_order_claimed_meanwhile_is_a_conflict(
    api_for, manual_product, requester, member, jonas
):
    order = order_submit(requester=requester, product=manual_product, inputs={"hostname": "db-1"})
    order_claim(order=order, actor=jonas)
    before = snapshot(order)
    response = api_for(member).post(
        f"/api/v1/orders/{order.pk}/claim/",
        {"status": "awaiting_fulfilment", "claimed_by": None},
        format="json",
    )
    assert response.status_code == 409, response.json()
    answer = response.json()
    assert answer["code"] == "stale_state"
    assert answer["status"] == "awaiting_fulfilment" and answer["claimed_by"] == "jonas"
    assert "claimed by Jonas Berg meanwhile" in answer["detail"]
    assert snapshot(order) == before


def test_a_cancellation_read_before_the_claim_is_a_conflict(api_for, manual_product, requester, member):
    order = order_submit(requester=requester, product=manual_product, inputs={"hostname": "db-1"})
    order_claim(order=order, actor=member)
    before = snapshot(order)
    response = api_for(requester).post(
        f"/api/v1/orders/{order.pk}/cancel/", {"claimed_by": None}, format="json"
    )
    assert response.status_code == 409 and response.json()["code"] == "stale_state"
    assert snapshot(order) == before


def test_complete_with_the_state_read_or_without_one_goes_through(api_for, manual_product, requester, member):
    client = api_for(member)
    order = order_submit(requester=requester, product=manual_product, inputs={"hostname": "db-1"})
    unclaimed = client.post(f"/api/v1/orders/{order.pk}/complete/", {"note": "done"}, format="json")
    assert unclaimed.status_code == 409 and "claim it first" in unclaimed.json()["detail"]
    done = client.post(
        f"/api/v1/orders/{order.pk}/complete/",
        {"note": "Created db-1", "claim": True, "status": "awaiting_fulfilment", "claimed_by": None},
        format="json",
    )
    assert done.status_code == 200, done.json()
    assert done.json()["status"] == "succeeded" and done.json()["claimed_by"] == member.username


def test_an_unknown_status_is_a_field_error(api_for, manual_product, requester, member):
    order = order_submit(requester=requester, product=manual_product, inputs={"hostname": "db-1"})
    before = snapshot(order)
    response = api_for(member).post(
        f"/api/v1/orders/{order.pk}/claim/", {"status": "exploded"}, format="json"
    )
    assert response.status_code == 400 and "status" in response.json()["errors"]
    assert snapshot(order) == before


def test_the_schema_documents_the_state_and_the_conflict():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    for command in ("claim", "release", "complete", "fail", "cancel"):
        operation = schema["paths"][f"/api/v1/orders/{{id}}/{command}/"]["post"]
        assert "stale_state" in operation["responses"]["409"]["description"], command
    assert "claim" in schema["components"]["schemas"]["CompleteRequest"]["properties"]
