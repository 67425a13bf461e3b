"""The commands on an order through the API: cancel (at once, or accepted
while the playbook stops), retry, what an order offers, and command bodies
refused rather than misread."""

from __future__ import annotations

import pytest

from portal.orders.choices import OrderStatus
from portal.orders.execution import order_finish, order_start
from portal.orders.models import Order
from portal.orders.submission import order_submit
from runbooks.choices import RunStatus
from runbooks.services import run_claim, run_finish

pytestmark = pytest.mark.django_db


def submit(product, user, hostname="web-01"):
    return order_submit(requester=user, product=product, inputs={"hostname": hostname})


def test_a_queued_order_can_be_cancelled_by_its_requester(api_for, requester, product):
    order = submit(product, requester)
    response = api_for(requester).post(
        f"/api/v1/orders/{order.pk}/cancel/", {"reason": "changed my mind"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["status"] == OrderStatus.CANCELLED
    assert response.json()["history"][-1]["note"] == "changed my mind"


def test_cancelling_a_running_order_is_accepted_while_its_playbook_is_stopped(api_for, requester, product):
    order = submit(product, requester)
    run = order_start(order_id=order.pk)
    run_claim(run_id=run.pk, worker="test:1")
    client = api_for(requester)
    response = client.post(f"/api/v1/orders/{order.pk}/cancel/", {}, format="json")
    assert response.status_code == 202, "asked to stop: the worker ends it"
    assert response.json()["status"] == OrderStatus.RUNNING
    assert "cancel" not in response.json()["actions"], "it is being stopped: nothing more to ask"
    again = client.post(f"/api/v1/orders/{order.pk}/cancel/", {"reason": "twice"}, format="json")
    assert again.status_code == 202, "asking twice is harmless"
    requests = order.events.filter(note__startswith="Cancellation requested")
    notes = list(requests.values_list("note", flat=True))
    assert notes == ["Cancellation requested: Cancelled"], "and says nothing twice"


def test_an_order_whose_run_has_not_begun_is_cancelled_at_once(api_for, requester, product):
    """The moment between a worker taking the order and starting its playbook."""
    order = submit(product, requester)
    order_start(order_id=order.pk)
    client = api_for(requester)
    response = client.post(f"/api/v1/orders/{order.pk}/cancel/", {}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == OrderStatus.CANCELLED
    again = client.post(f"/api/v1/orders/{order.pk}/cancel/", {}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "illegal_transition"
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELLED


def test_retry_is_not_offered_once_the_secrets_are_erased_as_on_the_page(api_for, requester, product):
    """The API's actions and the page's buttons come from one rule: a retry
    that would be refused is offered by neither."""
    order = order_submit(
        requester=requester, product=product, inputs={"hostname": "web-01", "token": "s3cret"}
    )
    run = order_start(order_id=order.pk)
    run_claim(run_id=run.pk, worker="test:1")
    run_finish(run_id=run.pk, status=RunStatus.FAILED, rc=2, failure_reason="boom")
    order_finish(order_id=order.pk, run=run)
    client = api_for(requester)
    assert "retry" in client.get(f"/api/v1/orders/{order.pk}/").json()["actions"]

    Order.objects.filter(pk=order.pk).update(secret_inputs_ciphertext="")

    assert "retry" not in client.get(f"/api/v1/orders/{order.pk}/").json()["actions"]


@pytest.mark.parametrize(
    "raw, content_type, status, named",
    [
        (b'{"assignee": "omar"}', "application/json", 400, "assignee"),
        (b"this is not json", "application/json", 400, None),
        (b"[1]", "application/json", 400, None),
        (b"claim", "text/plain", 415, None),
    ],
)
def test_a_command_refuses_a_body_it_does_not_take_and_changes_nothing(
    api_for, member, requester, manual_product, raw, content_type, status, named
):
    order = submit(manual_product, requester)
    response = api_for(member).post(f"/api/v1/orders/{order.pk}/claim/", data=raw, content_type=content_type)
    assert response.status_code == status, response.content
    if named:
        # Claim takes only the state the client saw (``status``, ``claimed_by``).
        assert response.json()["errors"][named] == ["Unknown field (this request takes: status, claimed_by)."]
    order.refresh_from_db()
    assert order.claimed_by is None and order.events.count() == 1
    # Nothing, or an empty object, is what it takes.
    for empty in (b"", b"{}"):
        answer = api_for(member).post(
            f"/api/v1/orders/{order.pk}/claim/", data=empty, content_type="application/json"
        )
        assert answer.status_code == 200 and answer.json()["claimed_by"] == member.username
        api_for(member).post(f"/api/v1/orders/{order.pk}/release/")


def test_a_chunked_body_is_refused_not_read_as_empty(api_for, member, requester, product):
    """Django reads a body up to its Content-Length; a chunked one has none:
    the cancel would run without the reason the client sent."""
    order = submit(product, requester)
    response = api_for(member).generic(
        "POST",
        f"/api/v1/orders/{order.pk}/cancel/",
        data=b"",
        content_type="application/json",
        HTTP_TRANSFER_ENCODING="chunked",
    )
    assert response.status_code == 411 and response.json()["code"] == "length_required"
    order.refresh_from_db()
    assert order.status == OrderStatus.QUEUED and order.events.count() == 1


def test_order_detail_has_history_result_and_allowed_actions(api_for, requester, member, approval_product):
    order = submit(approval_product, requester)
    body = api_for(member).get(f"/api/v1/orders/{order.pk}/").json()
    assert body["status"] == "pending_approval"
    assert body["actions"] == ["cancel", "approve", "reject"]
    assert body["result"] == {
        "summary": "",
        "links": [],
        "failed_step": "",
        "retry_can_help": True,
        "return_code": None,
        "host_summary": {},
        "failure_reason": "",
        "resolution_note": "",
    }
    assert body["runbook_version"] == {"runbook": approval_product.runbook.slug, "number": 1}
    assert body["history"][0]["actor"] == "rita"
    assert api_for(requester).get(f"/api/v1/orders/{order.pk}/").json()["actions"] == ["cancel"]
