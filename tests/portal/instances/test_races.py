"""Two operations ordered at the same instant on one instance: exactly one
is placed, the other refused naming it, every time."""

from __future__ import annotations

import pytest

from portal.instances.errors import InstanceBusy
from portal.instances.models import ServiceInstance
from portal.instances.services import operation_order
from portal.orders.models import Order
from tests.instances import create
from tests.portal.orders.test_races import race

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("attempt", range(5))
def test_two_operations_at_once_place_one_and_refuse_the_other_naming_it(
    database, requester, member, attempt
):
    instance = create(database, requester)
    results = race(
        lambda: operation_order(
            actor=requester,
            instance=ServiceInstance.objects.get(pk=instance.pk),
            operation="resize",
            inputs={"size_gb": 30},
        ),
        lambda: operation_order(
            actor=member, instance=ServiceInstance.objects.get(pk=instance.pk), operation="extend", inputs={}
        ),
    )
    placed = [result for result in results if isinstance(result, Order)]
    refused = [result for result in results if isinstance(result, InstanceBusy)]
    assert len(placed) == 1 and len(refused) == 1, results
    assert refused[0].order_id == placed[0].pk and f"order #{placed[0].pk}" in str(refused[0])
    instance.refresh_from_db()
    assert instance.busy_with_id == placed[0].pk
    assert Order.objects.filter(operation__isnull=False).count() == 1
