"""Two operations ordered at the same instant on one instance: exactly one
is placed, the other refused naming it, every time. Two decisions on one
offer of it (two accepts, an accept and a withdrawal, two offers): exactly
one happens, the other is told what did."""

from __future__ import annotations

import pytest

from portal.instances.choices import TransferState
from portal.instances.errors import InstanceBusy, TransferConflict
from portal.instances.models import InstanceEvent, InstanceTransfer, ServiceInstance
from portal.instances.services import operation_order
from portal.instances.transfers import transfer_accept, transfer_offer, transfer_withdraw
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


# --- Transfers: of two people deciding at once, exactly one wins ------------------------


def decided(results: list[object]) -> tuple[list[InstanceTransfer], list[TransferConflict]]:
    won = [result for result in results if isinstance(result, InstanceTransfer)]
    lost = [result for result in results if isinstance(result, TransferConflict)]
    assert len(won) == 1 and len(lost) == 1, results
    return won, lost


@pytest.mark.parametrize("attempt", range(3))
def test_two_accepts_at_once_hand_it_over_once(database, requester, outsider, attempt):
    instance = create(database, requester)
    transfer_offer(actor=requester, instance=instance, to=outsider)
    results = race(
        *[
            lambda: transfer_accept(actor=outsider, instance=ServiceInstance.objects.get(pk=instance.pk))
            for _ in range(2)
        ]
    )
    _, lost = decided(results)
    assert "oscar already accepted the offer of orders-db" in str(lost[0])
    assert ServiceInstance.objects.get(pk=instance.pk).owner == outsider
    assert InstanceEvent.objects.filter(instance=instance, message__startswith="Transferred").count() == 1
    assert list(InstanceTransfer.objects.values_list("state", flat=True)) == [TransferState.ACCEPTED]


@pytest.mark.parametrize("attempt", range(4))
def test_an_accept_and_a_withdrawal_at_once_resolve_to_one_of_them(database, requester, outsider, attempt):
    instance = create(database, requester)
    transfer_offer(actor=requester, instance=instance, to=outsider)
    results = race(
        lambda: transfer_accept(actor=outsider, instance=ServiceInstance.objects.get(pk=instance.pk)),
        lambda: transfer_withdraw(actor=requester, instance=ServiceInstance.objects.get(pk=instance.pk)),
    )
    won, lost = decided(results)
    transfer = InstanceTransfer.objects.get()
    owner = ServiceInstance.objects.get(pk=instance.pk).owner
    if won[0].state == TransferState.ACCEPTED:
        assert (transfer.state, owner) == (TransferState.ACCEPTED, outsider)
        assert "oscar already accepted" in str(lost[0])
    else:
        assert (transfer.state, owner) == (TransferState.WITHDRAWN, requester)
        assert "rita withdrew the offer of orders-db" in str(lost[0])
    decisions = InstanceEvent.objects.filter(instance=instance).exclude(message__startswith="Offered")
    assert decisions.filter(actor__isnull=False, order__isnull=True).count() == 1


@pytest.mark.parametrize("attempt", range(3))
def test_two_offers_at_once_leave_one_pending(database, requester, outsider, other_member, attempt):
    instance = create(database, requester)
    results = race(
        lambda: transfer_offer(
            actor=requester, instance=ServiceInstance.objects.get(pk=instance.pk), to=outsider
        ),
        lambda: transfer_offer(
            actor=requester, instance=ServiceInstance.objects.get(pk=instance.pk), to=other_member
        ),
    )
    _, lost = decided(results)
    assert lost[0].code == "transfer_pending"
    assert InstanceTransfer.objects.filter(state=TransferState.PENDING).count() == 1
