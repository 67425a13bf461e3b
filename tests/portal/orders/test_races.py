"""Concurrent callers of the same transition: exactly one wins, every time."""

from __future__ import annotations

import itertools
import threading

import pytest
from django.db import connection

from portal.orders.approvals import order_approve
from portal.orders.cancellation import order_cancel
from portal.orders.choices import OrderStatus
from portal.orders.errors import IllegalTransition, OrderNotAllowed
from portal.orders.execution import order_start
from portal.orders.fulfilment import order_claim
from portal.orders.models import Order, OrderEvent
from portal.orders.submission import order_submit
from squads.choices import Role
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def race(*calls):
    """Run the calls at the same instant in threads; return (results, errors)."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def runner(index, call):
        try:
            barrier.wait()
            results[index] = call()
        except Exception as error:  # noqa: BLE001 - collected for the assertions
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(index, call)) for index, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


@pytest.mark.parametrize("attempt", range(5))
def test_approve_and_cancel_racing_resolve_to_one_winner(approval_product, requester, member, attempt):
    order = order_submit(requester=requester, product=approval_product, inputs={"hostname": "a"})
    results = race(
        lambda: order_approve(order=Order.objects.get(pk=order.pk), actor=member),
        lambda: order_cancel(order=Order.objects.get(pk=order.pk), actor=requester),
    )
    assert not [r for r in results if isinstance(r, Exception) and not isinstance(r, IllegalTransition)]
    order.refresh_from_db()
    # Either one of them won outright, or they ran one after the other (approved,
    # then the queued order cancelled). Never both moving it out of pending.
    chain = list(order.events.order_by("id").values_list("from_status", "to_status"))
    assert sum(step[0] == OrderStatus.PENDING_APPROVAL for step in chain) == 1, chain
    for (_, reached), (left, _) in itertools.pairwise(chain):
        assert reached == left, f"broken chain of transitions: {chain}"
    assert order.status == chain[-1][1]
    assert order.status in {OrderStatus.QUEUED, OrderStatus.CANCELLED}


@pytest.mark.parametrize("attempt", range(3))
def test_two_approvers_of_the_last_step_at_once_run_the_order_once(
    approval_product, requester, member, squad, attempt
):
    second = MembershipFactory(user=UserFactory(username="sme"), squad=squad, role=Role.SME).user
    order = order_submit(requester=requester, product=approval_product, inputs={"hostname": "a"})
    results = race(
        lambda: order_approve(order=Order.objects.get(pk=order.pk), actor=member),
        lambda: order_approve(order=Order.objects.get(pk=order.pk), actor=second),
    )
    errors = [result for result in results if isinstance(result, Exception)]
    assert len(errors) == 1 and isinstance(errors[0], IllegalTransition), results
    assert OrderEvent.objects.filter(order=order, to_status=OrderStatus.QUEUED).count() == 1
    order.refresh_from_db()
    # Dispatched once: one task for one worker, so the playbook runs once.
    assert order.dispatch_count == 1
    assert order.approvals.count() == 1


def test_same_approver_clicking_twice_at_once_counts_once(squad, other_squad, requester):
    from catalogue.choices import ApprovalPolicy
    from catalogue.models import ApprovalStep
    from tests.factories import ProductFactory

    product = ProductFactory(squad=squad, approval_policy=ApprovalPolicy.STEPS)
    ApprovalStep.objects.create(
        product=product, name="Two of compute", squad=other_squad, required_approvals=2
    )
    approver = MembershipFactory(user=UserFactory(username="olga"), squad=other_squad).user
    order = order_submit(requester=requester, product=product, inputs={"name": "x"})
    results = race(
        lambda: order_approve(order=Order.objects.get(pk=order.pk), actor=approver),
        lambda: order_approve(order=Order.objects.get(pk=order.pk), actor=approver),
    )
    assert sum(isinstance(result, OrderNotAllowed) for result in results) == 1, results
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_APPROVAL
    assert order.approvals.count() == 1


def test_two_workers_starting_the_same_order_create_one_run(product, requester):
    order = order_submit(requester=requester, product=product, inputs={"hostname": "a"})
    results = race(
        lambda: order_start(order_id=order.pk),
        lambda: order_start(order_id=order.pk),
    )
    assert sum(result is not None and not isinstance(result, Exception) for result in results) == 1, results
    order.refresh_from_db()
    assert order.attempts == 1 and order.order_runs.count() == 1


def test_two_members_claiming_the_same_manual_order_one_wins(manual_product, requester, member, engineer):
    order = order_submit(requester=requester, product=manual_product, inputs={"hostname": "a"})
    results = race(
        lambda: order_claim(order=Order.objects.get(pk=order.pk), actor=member),
        lambda: order_claim(order=Order.objects.get(pk=order.pk), actor=engineer),
    )
    assert sum(isinstance(result, IllegalTransition) for result in results) == 1, results
    order.refresh_from_db()
    assert order.claimed_by in {member, engineer}
