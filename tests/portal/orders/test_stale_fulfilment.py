"""Claims, releases, completions, failures and cancellations are bound to the
order as the person saw it: one made on a state that changed meanwhile is
refused with what happened, and records nothing. Completing needs a claim,
made first or explicitly with the completion."""

from __future__ import annotations

import pytest

from portal.orders.cancellation import order_cancel
from portal.orders.choices import OrderStatus
from portal.orders.errors import IllegalTransition, OrderError, StaleState
from portal.orders.fulfilment import order_claim, order_complete, order_fail, order_release
from portal.orders.models import Order, OrderEvent
from portal.orders.seen import Seen
from portal.orders.submission import order_submit

pytestmark = pytest.mark.django_db


def submit(product, requester, **inputs):
    return order_submit(requester=requester, product=product, inputs={"hostname": "db-1", **inputs})


def snapshot(order: Order) -> tuple:
    order.refresh_from_db()
    return (
        order.status,
        order.claimed_by_id,
        order.updated_at,
        order.resolution_note,
        order.secret_inputs_ciphertext,
        OrderEvent.objects.filter(order=order).count(),
    )


UNCLAIMED = Seen(status=OrderStatus.AWAITING_FULFILMENT, claimant="")


def test_a_claim_on_an_order_claimed_meanwhile_says_by_whom(manual_product, requester, member, jonas):
    order = submit(manual_product, requester)
    order_claim(order=order, actor=jonas, seen=UNCLAIMED)
    before = snapshot(order)
    with pytest.raises(StaleState) as refused:
        order_claim(order=order, actor=member, seen=UNCLAIMED)
    assert "was claimed by Jonas Berg meanwhile" in str(refused.value)
    assert refused.value.claimant == "jonas"
    assert snapshot(order) == before


def test_completing_an_order_given_back_meanwhile_is_refused(manual_product, requester, jonas):
    order = submit(manual_product, requester)
    order = order_claim(order=order, actor=jonas)
    seen_claimed = Seen.of(order)
    order_release(order=order, actor=jonas)
    order_claim(order=order, actor=jonas)  # claimed again: same claimant, same status
    order_complete(order=order, actor=jonas, note="done", seen=seen_claimed)  # still what it showed
    order.refresh_from_db()
    assert order.status == OrderStatus.SUCCEEDED


def test_completing_on_a_page_that_showed_it_claimed_after_a_release_is_refused(
    manual_product, requester, member, jonas
):
    order = submit(manual_product, requester)
    order = order_claim(order=order, actor=member)
    seen = Seen.of(order)
    order_release(order=order, actor=jonas)  # a product owner gives it back
    before = snapshot(order)
    with pytest.raises(StaleState) as refused:
        order_complete(order=order, actor=member, note="done", seen=seen)
    assert "given back to the squad's queue by Jonas Berg meanwhile" in str(refused.value)
    assert snapshot(order) == before


@pytest.mark.parametrize("command", ["claim", "release", "complete", "fail", "cancel"])
def test_a_command_on_an_order_finished_meanwhile_is_refused_naming_what_happened(
    command, manual_product, requester, member, jonas
):
    order = submit(manual_product, requester)
    order = order_claim(order=order, actor=member)
    seen = Seen.of(order) if command != "claim" else UNCLAIMED
    actor = requester if command == "cancel" else member
    order_fail(order=order, actor=member, reason="No capacity left")
    before = snapshot(order)
    perform = {
        "claim": lambda: order_claim(order=order, actor=actor, seen=seen),
        "release": lambda: order_release(order=order, actor=actor, seen=seen),
        "complete": lambda: order_complete(order=order, actor=actor, note="done", seen=seen),
        "fail": lambda: order_fail(order=order, actor=actor, reason="again", seen=seen),
        "cancel": lambda: order_cancel(order=order, actor=actor, seen=seen),
    }[command]
    with pytest.raises(StaleState) as refused:
        perform()
    assert "failed by" in str(refused.value) and "No capacity left" in str(refused.value)
    assert refused.value.status == OrderStatus.FAILED
    assert snapshot(order) == before


def test_a_cancellation_on_a_page_that_showed_it_waiting_is_refused_once_claimed(
    manual_product, requester, member
):
    order = submit(manual_product, requester)
    seen = Seen.of(order)
    order_claim(order=order, actor=member)
    before = snapshot(order)
    with pytest.raises(StaleState, match="claimed by"):
        order_cancel(order=order, actor=requester, seen=seen)
    assert snapshot(order) == before
    assert order_cancel(order=order, actor=requester, seen=Seen.of(order)).status == OrderStatus.CANCELLED


def test_an_unclaimed_order_is_not_completed_without_choosing_to_claim_it(manual_product, requester, member):
    order = submit(manual_product, requester)
    before = snapshot(order)
    with pytest.raises(IllegalTransition, match="claim it first, or choose Claim and complete"):
        order_complete(order=order, actor=member, note="done")
    with pytest.raises(IllegalTransition, match="claim it first"):
        order_fail(order=order, actor=member, reason="no")
    assert snapshot(order) == before


def test_claim_and_complete_needs_a_note_and_is_recorded_as_a_claim_on_completion(
    manual_product, requester, member
):
    order = submit(manual_product, requester)
    before = snapshot(order)
    with pytest.raises(OrderError, match="Say what was done"):
        order_complete(order=order, actor=member, note="  ", claim=True)
    assert snapshot(order) == before
    order = order_complete(order=order, actor=member, note="Created db-1", claim=True)
    assert order.status == OrderStatus.SUCCEEDED and order.claimed_by == member
    notes = list(OrderEvent.objects.filter(order=order).order_by("id").values_list("note", flat=True))
    assert notes[-2].endswith(" on completion") and notes[-2].startswith("Claimed by ")
    assert notes[-1] == "Created db-1"


@pytest.mark.parametrize("close", ["complete", "fail", "cancel"])
def test_secret_inputs_are_erased_on_every_terminal_status_of_a_manual_order(
    close, manual_product, requester, member
):
    order = submit(manual_product, requester, token="s3cret-token")
    assert order.secret_inputs_ciphertext
    order = order_claim(order=order, actor=member)
    if close == "complete":
        order = order_complete(order=order, actor=member, note="done")
    elif close == "fail":
        order = order_fail(order=order, actor=member, reason="no capacity")
    else:
        order = order_cancel(order=order, actor=requester)
    order.refresh_from_db()
    assert order.status in (OrderStatus.SUCCEEDED, OrderStatus.FAILED, OrderStatus.CANCELLED)
    assert order.secret_inputs_ciphertext == ""


def test_a_seen_token_a_page_could_not_have_shown_is_refused():
    with pytest.raises(ValueError):
        Seen.from_token("exploded:eddie")
    assert Seen.from_token("awaiting_fulfilment:") == UNCLAIMED
    assert Seen.from_token("") is None
