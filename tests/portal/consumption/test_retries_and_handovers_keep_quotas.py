"""Attacks found by review: an instance's earlier owner retrying an old
order against it after handing it over, a retry taking quota the failed
order gave back meanwhile, a handover counting only reported attributes.
Each is refused and changes nothing."""

from __future__ import annotations

import pytest
from django.test import Client

from portal.consumption.errors import QuotaExceeded
from portal.consumption.models import Quota
from portal.consumption.quotas import quota_usage
from portal.instances.choices import InstanceState
from portal.instances.errors import InstanceError
from portal.instances.models import ServiceInstance
from portal.instances.services import operation_order
from portal.instances.transfers import transfer_accept, transfer_offer
from portal.orders.choices import OrderStatus
from portal.orders.execution import order_retry
from portal.orders.models import Order
from runbooks.choices import RunStatus
from tests.consumption import total_quota
from tests.instances import create, play, reporting

pytestmark = pytest.mark.django_db


def handed_over(instance, giver, taker):
    transfer_offer(actor=giver, instance=instance, to=taker, note="")
    transfer_accept(actor=taker, instance=instance)
    return ServiceInstance.objects.get(pk=instance.pk)


def test_the_earlier_owner_cannot_retry_a_failed_delete_of_an_instance_they_gave_away(
    database, requester, outsider
):
    instance = create(database, requester)
    drop = operation_order(actor=requester, instance=instance, operation="drop", inputs={})
    play(drop, status=RunStatus.FAILED)
    handed_over(instance, requester, outsider)
    with pytest.raises(InstanceError, match="no longer yours"):
        order_retry(order=Order.objects.get(pk=drop.pk), actor=requester)
    after = ServiceInstance.objects.get(pk=instance.pk)
    assert (after.state, after.busy_with_id, after.owner_id) == (InstanceState.ACTIVE, None, outsider.pk)
    assert Order.objects.get(pk=drop.pk).status == OrderStatus.FAILED


def test_nor_through_the_api(database, requester, outsider):
    instance = create(database, requester)
    drop = operation_order(actor=requester, instance=instance, operation="drop", inputs={})
    play(drop, status=RunStatus.FAILED)
    handed_over(instance, requester, outsider)
    client = Client()
    client.force_login(requester)
    response = client.post(f"/api/v1/orders/{drop.pk}/retry/", {}, content_type="application/json")
    assert response.status_code == 409, response.content
    assert ServiceInstance.objects.get(pk=instance.pk).busy_with_id is None
    assert Order.objects.get(pk=drop.pk).status == OrderStatus.FAILED


def test_the_new_owners_own_operations_still_retry(database, requester, outsider):
    instance = handed_over(create(database, requester), requester, outsider)
    resize = operation_order(actor=outsider, instance=instance, operation="resize", inputs={"size_gb": 20})
    play(resize, status=RunStatus.FAILED)
    assert order_retry(order=Order.objects.get(pk=resize.pk), actor=outsider).status == OrderStatus.QUEUED


def test_a_retry_cannot_take_quota_the_failed_order_gave_back_meanwhile(database, requester, finance):
    total_quota(finance, database, "size_gb", 40)
    first = create(database, requester, size_gb=10, reported=reporting("a", size_gb=10))
    resize = operation_order(actor=requester, instance=first, operation="resize", inputs={"size_gb": 40})
    play(resize, status=RunStatus.FAILED)  # its 30 are free again
    create(database, requester, size_gb=30, reported=reporting("b", size_gb=30))  # takes them
    with pytest.raises(QuotaExceeded, match="quota for PostgreSQL database is 40 size_gb"):
        order_retry(order=Order.objects.get(pk=resize.pk), actor=requester)
    assert Order.objects.get(pk=resize.pk).status == OrderStatus.FAILED
    assert ServiceInstance.objects.get(pk=first.pk).busy_with_id is None
    use = quota_usage(Quota.objects.filter(business_unit=finance))
    assert use[0].used <= use[0].limit


def test_a_retry_within_the_quota_goes_ahead(database, requester, finance):
    total_quota(finance, database, "size_gb", 40)
    first = create(database, requester, size_gb=10, reported=reporting("a", size_gb=10))
    resize = operation_order(actor=requester, instance=first, operation="resize", inputs={"size_gb": 40})
    play(resize, status=RunStatus.FAILED)
    assert order_retry(order=Order.objects.get(pk=resize.pk), actor=requester).status == OrderStatus.QUEUED


def test_a_handover_counts_the_creating_orders_input_when_nothing_was_reported(
    database, requester, outsider, finance, logistics
):
    logistics.memberships.create(user=outsider)
    total_quota(logistics, database, "size_gb", 100)
    instance = create(database, requester, size_gb=500, reported=reporting("big-db", host="h"))
    transfer_offer(actor=requester, instance=instance, to=outsider, note="")
    with pytest.raises(QuotaExceeded, match="adds 500"):
        transfer_accept(actor=outsider, instance=instance)
    assert ServiceInstance.objects.get(pk=instance.pk).business_unit_id == finance.pk
