"""API paths end with a slash. A known path without it is redirected for a
read, and any other method is a JSON 404 that names the path to use (a
redirected POST would arrive as a GET without its body); nothing changes."""

from __future__ import annotations

import pytest

from portal.orders.models import Order
from portal.orders.submission import order_submit

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("method", ["get", "head"])
def test_a_read_without_the_slash_is_redirected_with_its_query(api_for, requester, method):
    response = getattr(api_for(requester), method)("/api/v1/orders?status=queued&page_size=2")
    assert response.status_code == 301
    assert response["Location"] == "/api/v1/orders/?status=queued&page_size=2"
    followed = api_for(requester).get("/api/v1/orders", follow=True)
    assert followed.status_code == 200 and followed.json()["results"] == []


def test_a_write_without_the_slash_is_a_404_naming_the_path_and_changes_nothing(api_for, requester, product):
    client = api_for(requester)
    order = order_submit(requester=requester, product=product, inputs={"hostname": "web-01"})
    placed = client.post("/api/v1/orders", {"product": "vm", "inputs": {"hostname": "x"}}, format="json")
    assert placed.status_code == 404
    assert placed.json() == {
        "detail": "No such API endpoint: API paths end with a slash, use /api/v1/orders/",
        "code": "not_found",
    }
    cancelled = client.post(f"/api/v1/orders/{order.pk}/cancel", {}, format="json")
    assert cancelled.status_code == 404
    assert cancelled.json()["detail"].endswith(f"use /api/v1/orders/{order.pk}/cancel/")
    assert list(Order.objects.values_list("pk", "status")) == [(order.pk, order.status)]


def test_an_unknown_path_without_the_slash_is_a_plain_404(api_for, requester):
    for path in ("/api/v1/nothing", "/api/v1/orders/abc", "/api/v1"):
        response = api_for(requester).get(path)
        assert response.status_code == 404, path
        assert response.json() == {"detail": "No such API endpoint.", "code": "not_found"}
