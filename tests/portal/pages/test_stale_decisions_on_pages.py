"""The approve and reject forms carry the step they decide: a click on a card
that went stale while someone else decided is refused with what happened."""

from __future__ import annotations

import re

import pytest

from portal.orders.approvals import order_approve
from portal.orders.choices import OrderStatus
from portal.orders.models import OrderApproval, OrderEvent
from portal.orders.submission import order_submit
from tests.portal.orders.test_stale_decisions import snapshot

pytestmark = pytest.mark.django_db


def _step_field(html: str, order_pk: int) -> str:
    form = re.search(rf'<form method="post" action="/orders/{order_pk}/approve/".*?</form>', html, re.S)
    assert form, "no approve form"
    field = re.search(r'<input type="hidden" name="step" value="(\d+)">', form.group(0))
    assert field, "the approve form does not say which step it decides"
    return field.group(1)


def test_the_inbox_and_the_order_page_say_which_step_a_decision_is_for(
    client, squad_twice, requester, member, jonas
):
    order = order_submit(requester=requester, product=squad_twice, inputs={"label": "a"})
    client.force_login(member)
    assert _step_field(client.get("/approvals/").content.decode(), order.pk) == "0"
    order_approve(order=order, actor=jonas, step=0)
    assert _step_field(client.get("/approvals/").content.decode(), order.pk) == "1"
    assert _step_field(client.get(f"/orders/{order.pk}/").content.decode(), order.pk) == "1"


@pytest.mark.parametrize("decide", ["approve", "reject"])
def test_a_click_on_a_stale_card_is_refused_with_what_happened(
    decide, client, squad_twice, requester, member, jonas
):
    order = order_submit(requester=requester, product=squad_twice, inputs={"label": "a"})
    client.force_login(member)
    client.get("/approvals/")  # Nora sees step 1 ...
    order_approve(order=order, actor=jonas, step=0)  # ... Jonas decides it meanwhile
    before = snapshot(order)
    response = client.post(
        f"/orders/{order.pk}/{decide}/",
        {"note": "looks fine", "step": "0", "next": "/approvals/"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == "/approvals/"
    html = response.content.decode()
    assert "Step 1 (Squad review) was approved by Jonas Berg meanwhile" in html
    assert "step 2 (Second look) now waits for you" in html
    assert snapshot(order) == before
    assert not OrderApproval.objects.filter(order=order, approver=member).exists()
    # The inbox now shows step 2, which she may decide knowingly.
    assert _step_field(html, order.pk) == "1"


def test_a_decision_on_the_step_shown_goes_through(client, squad_twice, requester, member, jonas):
    order = order_submit(requester=requester, product=squad_twice, inputs={"label": "a"})
    order_approve(order=order, actor=jonas, step=0)
    client.force_login(member)
    response = client.post(f"/orders/{order.pk}/approve/", {"note": "", "step": "1"})
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.QUEUED
    assert OrderApproval.objects.get(order=order, approver=member).step == 1


def test_a_step_that_is_not_a_number_is_refused(client, squad_twice, requester, member):
    order = order_submit(requester=requester, product=squad_twice, inputs={"label": "a"})
    events = OrderEvent.objects.filter(order=order).count()
    client.force_login(member)
    response = client.post(f"/orders/{order.pk}/approve/", {"note": "", "step": "first"}, follow=True)
    assert "Enter a whole number" in response.content.decode()
    assert not OrderApproval.objects.filter(order=order).exists()
    assert OrderEvent.objects.filter(order=order).count() == events
