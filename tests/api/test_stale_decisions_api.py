"""``/approve/`` and ``/reject/`` take the step the client decided on and
answer 409 naming the open step when it no longer matches."""

from __future__ import annotations

import pytest

from portal.orders.approvals import order_approve
from portal.orders.submission import order_submit
from tests.portal.orders.test_stale_decisions import snapshot

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("decide", "body"), [("approve", {"note": "ok"}), ("reject", {"reason": "no"})])
def test_a_decision_on_a_stale_step_is_a_conflict_naming_the_open_step(
    decide, body, api_for, squad_twice, requester, member, jonas
):
    order = order_submit(requester=requester, product=squad_twice, inputs={"label": "a"})
    order_approve(order=order, actor=jonas, step=0)
    before = snapshot(order)
    response = api_for(member).post(
        f"/api/v1/orders/{order.pk}/{decide}/", {**body, "step": 0}, format="json"
    )
    assert response.status_code == 409, response.json()
    answer = response.json()
    assert answer["code"] == "stale_step"
    assert answer["current_step"] == 1
    assert "step 2 (Second look) now waits for you" in answer["detail"]
    assert snapshot(order) == before


def test_a_decision_on_the_open_step_or_without_one_goes_through(
    api_for, squad_twice, requester, member, jonas
):
    order = order_submit(requester=requester, product=squad_twice, inputs={"label": "a"})
    first = api_for(jonas).post(f"/api/v1/orders/{order.pk}/approve/", {}, format="json")
    assert first.status_code == 200 and first.json()["approval"]["current_step"] == 1
    second = api_for(member).post(f"/api/v1/orders/{order.pk}/approve/", {"step": 1}, format="json")
    assert second.status_code == 200, second.json()
    assert second.json()["status"] == "queued"


def test_a_step_that_is_not_a_whole_number_is_a_field_error(api_for, squad_twice, requester, member):
    order = order_submit(requester=requester, product=squad_twice, inputs={"label": "a"})
    before = snapshot(order)
    response = api_for(member).post(f"/api/v1/orders/{order.pk}/approve/", {"step": "first"}, format="json")
    assert response.status_code == 400
    assert "step" in response.json()["errors"]
    assert snapshot(order) == before


def test_the_schema_documents_the_step_and_the_conflict():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    for decide, body in (("approve", "ApproveRequest"), ("reject", "RejectRequest")):
        operation = schema["paths"][f"/api/v1/orders/{{id}}/{decide}/"]["post"]
        assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(body)
        assert "stale_step" in operation["responses"]["409"]["description"]
    step = schema["components"]["schemas"]["ApproveRequest"]["properties"]["step"]
    assert step["type"] == ["integer", "null"] and "current_step" in step["description"]
    assert "current_step" in schema["components"]["schemas"]["StaleStep"]["properties"]
