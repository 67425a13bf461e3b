"""Orders placed at the same instant against the last unit of a quota:
exactly one is placed, the others are refused, every time. Run against
PostgreSQL in the service-backed run (the locking statement is what keeps
two placements from both counting the same free unit); on SQLite the
transactions take turns anyway (IMMEDIATE) and the test holds too."""

from __future__ import annotations

import os

import pytest
from django.db import connection
from rest_framework.test import APIClient

from catalogue.choices import OverQuota
from portal.integrations.tokens import token_create
from portal.orders.choices import OrderStatus
from portal.orders.models import Order
from tests.consumption import count_quota, total_quota
from tests.instances import create
from tests.portal.orders.test_races import race

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]

INPUTS = {"db_name": "ledger", "admin_password": "correct-horse-battery"}
CONCURRENT = 4


def _post(key: str, size_gb: int = 10):
    def call():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        body = {"product": "postgres", "inputs": {**INPUTS, "size_gb": size_gb}}
        return client.post("/api/v1/orders/", body, format="json")

    return call


def _on_the_configured_database():
    if os.environ.get("SQUADRON_REQUIRE_SERVICES") == "1":
        assert connection.vendor == "postgresql"


@pytest.mark.parametrize("attempt", range(3))
def test_concurrent_orders_cannot_both_take_the_last_unit(database, requester, finance, attempt):
    _on_the_configured_database()
    count_quota(finance, database, 2)
    create(database, requester)
    key = token_create(user=requester, name="race").key
    responses = race(*[_post(key) for _ in range(CONCURRENT)])
    codes = sorted(getattr(response, "status_code", repr(response)) for response in responses)
    assert codes == [201] + [400] * (CONCURRENT - 1), codes
    refused = [response.json() for response in responses if response.status_code == 400]
    assert {body["code"] for body in refused} == {"quota_exceeded"}
    assert all("2 are in use or on order" in body["detail"] for body in refused)
    assert Order.objects.filter(business_unit=finance).count() == 2


@pytest.mark.parametrize("attempt", range(2))
def test_concurrent_orders_share_an_attribute_total_exactly(database, requester, finance, attempt):
    _on_the_configured_database()
    total_quota(finance, database, "size_gb", 30)
    key = token_create(user=requester, name="race").key
    responses = race(*[_post(key, size_gb=10) for _ in range(CONCURRENT + 1)])
    assert sorted(response.status_code for response in responses) == [201] * 3 + [400] * (CONCURRENT - 2)
    placed = Order.objects.filter(business_unit=finance)
    assert sum(order.inputs["size_gb"] for order in placed) == 30


def test_concurrent_orders_over_quota_with_approval_each_state_their_own_excess(database, requester, finance):
    _on_the_configured_database()
    database.over_quota = OverQuota.APPROVAL
    database.save()
    count_quota(finance, database, 1)
    key = token_create(user=requester, name="race").key
    responses = race(*[_post(key) for _ in range(CONCURRENT)])
    assert [response.status_code for response in responses] == [201] * CONCURRENT
    orders = Order.objects.filter(business_unit=finance)
    assert orders.filter(status=OrderStatus.QUEUED).count() == 1
    excesses = sorted(order.quota_excess for order in orders.filter(status=OrderStatus.PENDING_APPROVAL))
    # Each counted the ones placed before it: 1, 2 and 3 in use or on order.
    assert [text.split(", and ")[1].split(" are")[0] for text in excesses] == ["1", "2", "3"]
