"""A decision is bound to the step the approver saw: one made on a step that
was decided meanwhile is refused, says what happened, and records nothing."""

from __future__ import annotations

import pytest

from portal.orders.approvals import order_approve, order_reject
from portal.orders.choices import OrderStatus
from portal.orders.errors import StaleDecision
from portal.orders.models import Order, OrderApproval, OrderEvent
from portal.orders.submission import order_submit

pytestmark = pytest.mark.django_db


def snapshot(order: Order) -> tuple:
    order.refresh_from_db()
    return (
        order.status,
        order.approval_step,
        order.updated_at,
        OrderApproval.objects.filter(order=order).count(),
        OrderEvent.objects.filter(order=order).count(),
    )


@pytest.mark.parametrize("decide", ["approve", "reject"])
def test_a_decision_on_a_step_decided_meanwhile_is_refused_and_records_nothing(
    decide, squad_twice, requester, member, jonas
):
    order = order_submit(requester=requester, product=squad_twice, inputs={"label": "a"})
    # Nora opens her inbox on step 1; Jonas approves step 1 meanwhile.
    order_approve(order=order, actor=jonas, note="fine", step=0)
    before = snapshot(order)
    assert before[:2] == (OrderStatus.PENDING_APPROVAL, 1)
    with pytest.raises(StaleDecision) as refused:
        if decide == "approve":
            order_approve(order=order, actor=member, note="", step=0)
        else:
            order_reject(order=order, actor=member, reason="no", step=0)
    message = str(refused.value)
    assert "Step 1 (Squad review) was approved by Jonas Berg" in message
    assert "step 2 (Second look) now waits for you" in message
    assert refused.value.current_step == 1
    assert snapshot(order) == before


def test_the_message_names_who_decides_the_open_step_when_it_is_not_you(two_steps, requester, member):
    order = order_submit(requester=requester, product=two_steps, inputs={"label": "a"})
    order_approve(order=order, actor=member, step=0)
    nora_again = member  # she decided step 1 already: step 2 is the Compute Squad's
    with pytest.raises(StaleDecision) as refused:
        order_approve(order=order, actor=nora_again, step=0)
    assert "step 2 (Compute sign-off) now waits for any member of Compute Squad" in str(refused.value)


def test_a_decision_on_the_open_step_goes_through(squad_twice, requester, member, jonas):
    order = order_submit(requester=requester, product=squad_twice, inputs={"label": "a"})
    order_approve(order=order, actor=jonas, step=0)
    order = order_approve(order=order, actor=member, step=1)
    assert order.status == OrderStatus.QUEUED
    assert list(order.approvals.order_by("step").values_list("step", "approver__username")) == [
        (0, "jonas"),
        (1, "nora"),
    ]


def test_a_decision_on_a_step_that_does_not_exist_is_refused(squad_twice, requester, member):
    order = order_submit(requester=requester, product=squad_twice, inputs={"label": "a"})
    before = snapshot(order)
    with pytest.raises(StaleDecision):
        order_approve(order=order, actor=member, step=5)
    assert snapshot(order) == before
