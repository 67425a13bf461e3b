"""Quotas: a unit's orders within its limits are placed, one that would
exceed a limit is refused naming the quota, its limit and the use (nothing
placed), or goes to approval with the excess stated when its product says
so; what counts is what exists plus what is already ordered."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalogue.choices import ApprovalPolicy, OverQuota
from portal.consumption.errors import QuotaExceeded
from portal.consumption.selectors import unit_usage
from portal.instances.services import operation_order
from portal.orders.approvals import order_approve, order_reject
from portal.orders.cancellation import order_cancel
from portal.orders.choices import OrderStatus
from portal.orders.models import Order, OrderEvent
from portal.orders.submission import order_submit
from tests.consumption import count_quota, total_quota
from tests.instances import create, play, reporting

pytestmark = pytest.mark.django_db

INPUTS = {"db_name": "ledger", "admin_password": "correct-horse-battery"}


def place(product, requester, **inputs):
    return order_submit(requester=requester, product=product, inputs={**INPUTS, **inputs})


def test_orders_within_the_quota_are_placed_and_the_next_is_refused_naming_it(database, requester, finance):
    count_quota(finance, database, 2)
    create(database, requester)  # exists
    place(database, requester)  # ordered, not made yet
    orders, events = set(Order.objects.values_list("pk", flat=True)), OrderEvent.objects.count()
    with pytest.raises(QuotaExceeded) as refused:
        place(database, requester)
    message = str(refused.value)
    assert "Finance's quota for PostgreSQL database is 2 instances" in message
    assert "2 are in use or on order" in message and "would make 3 (1 over)" in message
    assert set(Order.objects.values_list("pk", flat=True)) == orders
    assert OrderEvent.objects.count() == events


def test_decommissioned_instances_and_ended_orders_free_their_share(database, requester, member, finance):
    count_quota(finance, database, 1)
    instance = create(database, requester)
    with pytest.raises(QuotaExceeded):
        place(database, requester)
    play(operation_order(actor=requester, instance=instance, operation="drop", inputs={}))
    cancelled = place(database, requester)
    order_cancel(order=cancelled, actor=requester)
    assert place(database, requester).status == OrderStatus.QUEUED


def test_another_unit_and_unassigned_orders_do_not_count(database, requester, outsider, finance, logistics):
    count_quota(finance, database, 1)
    count_quota(logistics, database, 0)
    create(database, outsider)  # unassigned
    assert place(database, requester).business_unit == finance


def test_an_attribute_total_counts_instances_orders_and_the_new_order(database, requester, finance):
    total_quota(finance, database, "size_gb", 100)
    create(database, requester, size_gb=30)  # from its order's inputs
    create(database, requester, size_gb=10, reported=reporting("big", size_gb=40))  # reported wins
    place(database, requester, size_gb=20)  # on order
    assert [use.used for use in unit_usage(requester)] == [90.0]
    place(database, requester, size_gb=10)  # exactly at the limit
    with pytest.raises(QuotaExceeded) as refused:
        place(database, requester, size_gb=10)
    assert "quota for PostgreSQL database is 100 size_gb in total" in str(refused.value)
    assert "100 are in use or on order: this order adds 10, making 110 (10 over)" in str(refused.value)


def test_an_update_counts_its_increase_and_a_decrease_frees_nothing_until_done(database, requester, finance):
    total_quota(finance, database, "size_gb", 100)
    instance = create(database, requester, size_gb=60)
    with pytest.raises(QuotaExceeded, match="this order adds 50, making 110"):
        operation_order(actor=requester, instance=instance, operation="resize", inputs={"size_gb": 110})
    assert not Order.objects.filter(operation__isnull=False).exists()
    grow = operation_order(actor=requester, instance=instance, operation="resize", inputs={"size_gb": 90})
    # The open resize holds its increase: a new database of 20 would make 110.
    with pytest.raises(QuotaExceeded, match="90 are in use or on order"):
        place(database, requester, size_gb=20)
    play(grow, reported=reporting(size_gb=90))
    shrink = operation_order(actor=requester, instance=instance, operation="resize", inputs={"size_gb": 40})
    with pytest.raises(QuotaExceeded):
        place(database, requester, size_gb=20)
    play(shrink, reported=reporting(size_gb=40))
    assert place(database, requester, size_gb=20).business_unit == finance


def test_an_operation_that_adds_nothing_is_never_refused(database, requester, finance):
    instance = create(database, requester, size_gb=30)
    count_quota(finance, database, 1)
    total_quota(finance, database, "size_gb", 10)  # over since the quota was set
    play(operation_order(actor=requester, instance=instance, operation="extend", inputs={}))
    play(operation_order(actor=requester, instance=instance, operation="resize", inputs={"size_gb": 20}))
    assert operation_order(actor=requester, instance=instance, operation="drop", inputs={})


def test_over_quota_with_approval_waits_for_the_squad_stating_the_excess_and_approved_runs(
    database, requester, member, finance
):
    database.over_quota = OverQuota.APPROVAL
    database.save()
    count_quota(finance, database, 1)
    within = place(database, requester)
    assert within.status == OrderStatus.QUEUED and not within.quota_excess
    over = place(database, requester)
    assert over.status == OrderStatus.PENDING_APPROVAL
    assert over.approval_policy == ApprovalPolicy.SQUAD  # the product's is none
    assert "quota for PostgreSQL database is 1 instances" in over.quota_excess
    assert "would make 2 (1 over)" in over.quota_excess
    event = over.events.get()
    assert event.note.startswith("Submitted over quota: Finance's quota")
    approved = order_approve(order=over, actor=member)
    assert approved.status == OrderStatus.QUEUED


def test_over_quota_with_approval_keeps_the_product_own_steps(approval_product, requester, member, finance):
    approval_product.over_quota = OverQuota.APPROVAL
    approval_product.instance = True
    approval_product.save()
    count_quota(finance, approval_product, 0)
    order = order_submit(requester=requester, product=approval_product, inputs={"hostname": "a"})
    assert order.status == OrderStatus.PENDING_APPROVAL and order.approval_policy == ApprovalPolicy.SQUAD
    assert len(order.approval_steps) == 1 and "0 instances" in order.quota_excess
    assert order_reject(order=order, actor=member, reason="no").status == OrderStatus.REJECTED


def test_a_pending_over_quota_order_counts_too(database, requester, finance):
    database.over_quota = OverQuota.APPROVAL
    database.save()
    count_quota(finance, database, 1)
    place(database, requester)
    second = place(database, requester)
    third = place(database, requester)
    assert "1 are in use or on order" in second.quota_excess
    assert "2 are in use or on order" in third.quota_excess


def test_the_quota_check_adds_one_query_to_placing_an_order(database, requester, finance, logistics):
    """Finding the unit (and locking it) is one statement any member's order
    makes; the quotas add one counting statement, however many there are."""
    place(database, requester)  # warm the caches (content types, runbook)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            place(database, requester, size_gb=10)
        return len(captured.captured_queries)

    without_quota = queries()
    count_quota(finance, database, 100)
    total_quota(finance, database, "size_gb", 10_000)
    with_quotas = queries()
    assert with_quotas == without_quota + 1, (without_quota, with_quotas)
