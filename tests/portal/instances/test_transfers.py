"""Handing an instance to someone else: its owner offers it, the recipient
accepts (and owns it) or declines, the owner may withdraw; who sees it
meanwhile and after; the history, notifications and webhooks of each step;
and every refusal leaves everything as it was."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from portal.instances.choices import InstanceState, TransferState
from portal.instances.errors import (
    InstanceBusy,
    InstanceNotAllowed,
    InstanceNotFound,
    InstanceNotOperable,
    InvalidTransfer,
    TransferConflict,
    TransferNotAllowed,
)
from portal.instances.models import InstanceEvent, InstanceTransfer, ServiceInstance
from portal.instances.permissions import can_operate, can_view
from portal.instances.selectors import instances_visible_to, operations_offered, transfers_offered_to
from portal.instances.services import operation_order
from portal.instances.transfers import (
    transfer_accept,
    transfer_decline,
    transfer_offer,
    transfer_recipient,
    transfer_withdraw,
)
from portal.integrations.models import WebhookDelivery
from portal.integrations.webhooks.subscriptions import webhook_subscribe
from portal.notifications.choices import NotificationKind
from portal.notifications.models import Notification
from portal.orders.models import Order
from tests.factories import UserFactory
from tests.instances import create, play
from tests.portal.conftest import drain_queued_tasks

pytestmark = pytest.mark.django_db


@pytest.fixture
def instance(database, requester):
    return create(database, requester)


def snapshot(instance: ServiceInstance) -> dict:
    """Everything a transfer may change."""
    return {
        "instance": ServiceInstance.objects.filter(pk=instance.pk).values().get(),
        "transfers": list(InstanceTransfer.objects.order_by("pk").values()),
        "history": list(InstanceEvent.objects.order_by("pk").values()),
        "notifications": list(Notification.objects.order_by("pk").values()),
        "deliveries": WebhookDelivery.objects.count(),
    }


def fresh(instance: ServiceInstance) -> ServiceInstance:
    return ServiceInstance.objects.get(pk=instance.pk)


TRANSFER_KINDS = (NotificationKind.TRANSFER_OFFERED, NotificationKind.TRANSFER_DECIDED)


def notes_of(user: User) -> list[tuple[str, str]]:
    """The transfer notifications the person got, oldest first."""
    return list(
        Notification.objects.filter(recipient=user, kind__in=TRANSFER_KINDS)
        .order_by("id")
        .values_list("kind", "title")
    )


# --- Offering ---------------------------------------------------------------------------


def test_the_owner_offers_it_and_the_recipient_is_told_while_it_stays_the_owners(
    instance, requester, outsider
):
    offer = transfer_offer(actor=requester, instance=instance, to="oscar", note="You run billing now.")
    assert (offer.state, offer.from_user, offer.to_user, offer.note) == (
        TransferState.PENDING,
        requester,
        outsider,
        "You run billing now.",
    )
    assert offer.decided_at is None
    assert fresh(instance).owner == requester
    history = InstanceEvent.objects.filter(instance=instance).last()
    assert (history.actor, history.message) == (requester, "Offered to oscar by rita: You run billing now.")
    note = Notification.objects.get(recipient=outsider, kind__in=TRANSFER_KINDS)
    assert note.kind == NotificationKind.TRANSFER_OFFERED
    assert note.title == "rita offers you orders-db (PostgreSQL database)"
    assert "You run billing now." in note.body and note.link == f"/instances/{instance.pk}/"
    assert note.email_status == Notification.EmailStatus.PENDING
    assert notes_of(requester) == []


@pytest.mark.parametrize(
    ("name", "found"),
    [("oscar", "oscar"), ("OSCAR", "oscar"), ("  oscar ", "oscar"), ("Oscar@Example.com", "oscar")],
)
def test_the_recipient_is_named_by_username_or_email_address(outsider, name, found):
    assert transfer_recipient(name).username == found


def test_an_address_several_accounts_share_asks_for_the_username(db):
    UserFactory(username="sam", email="ops@example.com")
    UserFactory(username="sue", email="ops@example.com")
    with pytest.raises(InvalidTransfer, match="Several accounts have the email address") as refused:
        transfer_recipient("ops@example.com")
    assert refused.value.field == "to"


@pytest.mark.parametrize(
    ("to", "says"),
    [
        ("nobody-here", "Nobody has the username or email address 'nobody-here'."),
        ("", "Say whom to offer it to"),
        ("rita", "You own orders-db already"),
        ("rita@example.com", "You own orders-db already"),
        ("gone", "gone's account is deactivated"),
    ],
)
def test_an_offer_to_nobody_it_can_go_to_is_a_field_error_and_changes_nothing(instance, requester, to, says):
    UserFactory(username="gone", is_active=False)
    before = snapshot(instance)
    with pytest.raises(InvalidTransfer) as refused:
        transfer_offer(actor=requester, instance=instance, to=to)
    assert says in str(refused.value) and refused.value.field == "to"
    assert snapshot(instance) == before


def test_a_note_too_long_is_a_field_error(instance, requester, outsider):
    before = snapshot(instance)
    with pytest.raises(InvalidTransfer, match="2000 characters") as refused:
        transfer_offer(actor=requester, instance=instance, to=outsider, note="x" * 2001)
    assert refused.value.field == "note"
    assert snapshot(instance) == before


def test_only_the_owner_offers_it(instance, member, admin_user, outsider, other_member):
    before = snapshot(instance)
    for someone in (member, admin_user):
        with pytest.raises(TransferNotAllowed, match="Only its owner, rita, may offer orders-db"):
            transfer_offer(actor=someone, instance=instance, to=outsider)
    with pytest.raises(InstanceNotFound):
        transfer_offer(actor=other_member, instance=instance, to=outsider)
    with pytest.raises(InstanceNotFound):
        transfer_offer(actor=outsider, instance=instance, to=other_member)
    assert snapshot(instance) == before


def test_one_offer_at_a_time(instance, requester, outsider, other_member):
    transfer_offer(actor=requester, instance=instance, to=outsider)
    before = snapshot(instance)
    with pytest.raises(
        TransferConflict, match="already offered to oscar: withdraw that offer first"
    ) as refused:
        transfer_offer(actor=requester, instance=instance, to=other_member)
    assert refused.value.code == "transfer_pending"
    assert snapshot(instance) == before


def test_the_database_keeps_one_pending_offer_per_instance(instance, requester, outsider, other_member):
    from django.db import IntegrityError, transaction

    InstanceTransfer.objects.create(instance=instance, from_user=requester, to_user=outsider)
    with pytest.raises(IntegrityError), transaction.atomic():
        InstanceTransfer.objects.create(instance=instance, from_user=requester, to_user=other_member)
    # Decided ones do not count.
    InstanceTransfer.objects.create(
        instance=instance, from_user=requester, to_user=other_member, state=TransferState.DECLINED
    )


@pytest.mark.parametrize(
    "state", [InstanceState.DECOMMISSIONING, InstanceState.DECOMMISSIONED, "provisioning"]
)
def test_an_instance_being_made_or_going_away_cannot_be_offered(instance, requester, outsider, state):
    ServiceInstance.objects.filter(pk=instance.pk).update(state=state)
    before = snapshot(instance)
    with pytest.raises(InstanceNotOperable, match="cannot be offered to anyone now"):
        transfer_offer(actor=requester, instance=fresh(instance), to=outsider)
    assert snapshot(instance) == before


# --- Who sees it meanwhile ---------------------------------------------------------------


def test_the_recipient_sees_it_while_it_is_offered_but_cannot_operate_it(instance, requester, outsider):
    assert not can_view(outsider, instance)
    transfer_offer(actor=requester, instance=instance, to=outsider)
    assert can_view(outsider, instance) and not can_operate(outsider, instance)
    assert list(instances_visible_to(outsider)) == [instance]
    assert operations_offered(outsider, instance) == []
    assert [offer.instance for offer in transfers_offered_to(outsider)] == [instance]
    before = snapshot(instance)
    with pytest.raises(InstanceNotAllowed, match="Only the owner and the squad"):
        operation_order(actor=outsider, instance=instance, operation="resize", inputs={"size_gb": 30})
    assert snapshot(instance) == before and not Order.objects.filter(operation__isnull=False).exists()


def test_others_still_do_not_see_it(instance, requester, outsider, other_member):
    transfer_offer(actor=requester, instance=instance, to=outsider)
    assert not can_view(other_member, instance)
    assert list(instances_visible_to(other_member)) == []
    assert list(transfers_offered_to(other_member)) == []


def test_past_transfers_list_an_instance_once(instance, requester, outsider, member):
    for _ in range(3):
        transfer_offer(actor=requester, instance=instance, to=outsider)
        transfer_withdraw(actor=requester, instance=instance)
    transfer_offer(actor=requester, instance=instance, to=outsider)
    assert list(instances_visible_to(outsider)) == [instance]
    assert list(instances_visible_to(requester)) == [instance]
    assert list(instances_visible_to(member)) == [instance]


# --- Accepting --------------------------------------------------------------------------


def test_accepting_makes_the_recipient_its_owner_and_tells_both_sides(
    instance, requester, outsider, django_capture_on_commit_callbacks
):
    transfer_offer(actor=requester, instance=instance, to=outsider)
    with django_capture_on_commit_callbacks(execute=True):
        accepted = transfer_accept(actor=outsider, instance=instance)
    assert accepted.state == TransferState.ACCEPTED and accepted.decided_at is not None
    now = fresh(instance)
    assert now.owner == outsider and now.state == InstanceState.ACTIVE
    history = InstanceEvent.objects.filter(instance=instance).last()
    assert (history.actor, history.from_state, history.to_state) == (outsider, "active", "active")
    assert history.message == "Transferred from rita to oscar, who accepted it"
    assert notes_of(outsider) == [
        (NotificationKind.TRANSFER_OFFERED, "rita offers you orders-db (PostgreSQL database)"),
        (NotificationKind.TRANSFER_DECIDED, "You now own orders-db (PostgreSQL database)"),
    ]
    assert notes_of(requester) == [
        (NotificationKind.TRANSFER_DECIDED, "oscar accepted orders-db: it is theirs now")
    ]
    # The previous owner no longer sees it: no link to a 404.
    assert Notification.objects.get(recipient=requester, kind__in=TRANSFER_KINDS).link == ""
    # The offer is no longer news for the recipient.
    offered = Notification.objects.get(recipient=outsider, kind=NotificationKind.TRANSFER_OFFERED)
    assert offered.read_at is not None


def test_after_accepting_the_previous_owner_loses_sight_of_it_and_the_new_one_operates_it(
    instance, requester, outsider, member
):
    transfer_offer(actor=requester, instance=instance, to=outsider)
    transfer_accept(actor=outsider, instance=instance)
    now = fresh(instance)
    assert not can_view(requester, now) and list(instances_visible_to(requester)) == []
    assert can_view(member, now), "its squad still runs it"
    assert can_operate(outsider, now) and list(instances_visible_to(outsider)) == [now]
    assert list(transfers_offered_to(outsider)) == []
    order = operation_order(actor=outsider, instance=now, operation="resize", inputs={"size_gb": 30})
    assert order.requester == outsider
    with pytest.raises(InstanceNotFound):
        operation_order(actor=requester, instance=now, operation="extend", inputs={})


def test_a_previous_owner_in_its_squad_keeps_seeing_it_and_gets_a_link(database, member, outsider):
    instance = create(database, member)
    transfer_offer(actor=member, instance=instance, to=outsider)
    transfer_accept(actor=outsider, instance=instance)
    assert can_view(member, fresh(instance))
    assert (
        Notification.objects.get(recipient=member, kind__in=TRANSFER_KINDS).link
        == f"/instances/{instance.pk}/"
    )


def test_accepting_tells_the_webhooks_of_both_owners_and_the_squad(
    instance, requester, outsider, member, database, django_capture_on_commit_callbacks
):
    for user, url in (
        (requester, "https://rita.example.com/hook"),
        (outsider, "https://oscar.example.com/hook"),
    ):
        webhook_subscribe(actor=user, url=url)
    webhook_subscribe(actor=member, url="https://network.example.com/hook", squad=database.squad)
    transfer_offer(actor=requester, instance=instance, to=outsider)
    assert not WebhookDelivery.objects.filter(event__startswith="instance.").exists()
    with django_capture_on_commit_callbacks(execute=True):
        transfer_accept(actor=outsider, instance=instance)
    drain_queued_tasks()
    deliveries = WebhookDelivery.objects.filter(event="instance.changed").select_related("subscription")
    assert sorted(delivery.subscription.url for delivery in deliveries) == [
        "https://network.example.com/hook",
        "https://oscar.example.com/hook",
        "https://rita.example.com/hook",
    ]
    body = json.loads(deliveries[0].body)
    assert body["transfer"] == {"from": "rita", "to": "oscar"}
    assert body["instance"]["owner"] == "oscar" and body["order_id"] is None


def test_only_the_recipient_accepts(instance, requester, outsider, member, admin_user, other_member):
    transfer_offer(actor=requester, instance=instance, to=outsider)
    before = snapshot(instance)
    with pytest.raises(TransferNotAllowed, match="You offered orders-db to oscar: only they may accept it"):
        transfer_accept(actor=requester, instance=instance)
    for someone in (member, admin_user):
        with pytest.raises(TransferNotAllowed, match="offered to oscar: only they may accept it"):
            transfer_accept(actor=someone, instance=instance)
    with pytest.raises(InstanceNotFound):
        transfer_accept(actor=other_member, instance=instance)
    assert snapshot(instance) == before


def test_a_recipient_deactivated_meanwhile_cannot_accept(instance, requester, outsider):
    transfer_offer(actor=requester, instance=instance, to=outsider)
    User.objects.filter(pk=outsider.pk).update(is_active=False)
    outsider.refresh_from_db()
    before = snapshot(instance)
    with pytest.raises(InstanceNotFound):
        transfer_accept(actor=outsider, instance=instance)
    assert snapshot(instance) == before
    transfer_withdraw(actor=requester, instance=instance)


def test_accepting_what_is_offered_to_nobody_says_so(instance, outsider, requester, member):
    before = snapshot(instance)
    with pytest.raises(TransferConflict, match="orders-db is not offered to anyone") as refused:
        transfer_accept(actor=member, instance=instance)
    assert refused.value.code == "no_pending_transfer"
    with pytest.raises(InstanceNotFound):
        transfer_accept(actor=outsider, instance=instance)
    assert snapshot(instance) == before


def test_accepting_twice_says_it_was_accepted_already(instance, requester, outsider):
    transfer_offer(actor=requester, instance=instance, to=outsider)
    transfer_accept(actor=outsider, instance=instance)
    before = snapshot(instance)
    with pytest.raises(TransferConflict, match="oscar already accepted the offer of orders-db"):
        transfer_accept(actor=outsider, instance=instance)
    assert snapshot(instance) == before


def test_an_offer_whose_owner_changed_meanwhile_no_longer_stands(instance, requester, outsider, member):
    transfer_offer(actor=requester, instance=instance, to=outsider)
    # Someone with database access handed it to the squad's member meanwhile.
    ServiceInstance.objects.filter(pk=instance.pk).update(owner=member)
    before = snapshot(instance)
    with pytest.raises(TransferConflict, match="changed hands since rita offered it") as refused:
        transfer_accept(actor=outsider, instance=instance)
    assert refused.value.code == "owner_changed"
    assert snapshot(instance) == before


def test_an_instance_an_order_works_on_is_accepted_once_the_order_ends(instance, requester, outsider):
    transfer_offer(actor=requester, instance=instance, to=outsider)
    running = operation_order(actor=requester, instance=instance, operation="resize", inputs={"size_gb": 30})
    before = snapshot(instance)
    with pytest.raises(InstanceBusy, match=f"busy with order #{running.pk}: accept the offer once"):
        transfer_accept(actor=outsider, instance=instance)
    assert snapshot(instance) == before
    play(running)
    transfer_accept(actor=outsider, instance=instance)
    assert fresh(instance).owner == outsider


def test_an_instance_being_decommissioned_cannot_change_hands(instance, requester, outsider):
    transfer_offer(actor=requester, instance=instance, to=outsider)
    ServiceInstance.objects.filter(pk=instance.pk).update(state=InstanceState.DECOMMISSIONING)
    before = snapshot(instance)
    with pytest.raises(InstanceNotOperable, match="decommissioning: it cannot change hands now"):
        transfer_accept(actor=outsider, instance=instance)
    assert snapshot(instance) == before


def test_decommissioning_it_ends_the_offer_and_tells_the_recipient(instance, requester, outsider):
    transfer_offer(actor=requester, instance=instance, to=outsider)
    play(operation_order(actor=requester, instance=instance, operation="drop", inputs={}))
    assert fresh(instance).state == InstanceState.DECOMMISSIONED
    ended = InstanceTransfer.objects.get()
    assert ended.state == TransferState.CANCELLED and ended.decided_at is not None
    assert not can_view(outsider, fresh(instance))
    assert notes_of(outsider)[-1] == (
        NotificationKind.TRANSFER_OFFERED,
        "orders-db is no longer offered to you",
    )
    assert InstanceEvent.objects.filter(
        instance=instance, message="The offer to oscar ended: orders-db was decommissioned"
    ).exists()


def test_a_failed_decommissioning_leaves_the_offer_standing(instance, requester, outsider):
    transfer_offer(actor=requester, instance=instance, to=outsider)
    play(operation_order(actor=requester, instance=instance, operation="drop", inputs={}), status="failed")
    assert fresh(instance).state == InstanceState.ACTIVE
    transfer_accept(actor=outsider, instance=instance)
    assert fresh(instance).owner == outsider


def test_a_failed_instance_may_change_hands_for_someone_to_clean_it_up(instance, requester, outsider):
    ServiceInstance.objects.filter(pk=instance.pk).update(state=InstanceState.FAILED)
    transfer_offer(actor=requester, instance=fresh(instance), to=outsider)
    transfer_accept(actor=outsider, instance=fresh(instance))
    assert fresh(instance).owner == outsider and fresh(instance).state == InstanceState.FAILED


# --- Declining and withdrawing ------------------------------------------------------------


def test_declining_keeps_it_the_owners_who_is_told(instance, requester, outsider):
    transfer_offer(actor=requester, instance=instance, to=outsider)
    declined = transfer_decline(actor=outsider, instance=instance)
    assert declined.state == TransferState.DECLINED and declined.decided_at is not None
    assert fresh(instance).owner == requester
    assert not can_view(outsider, fresh(instance))
    assert notes_of(requester) == [(NotificationKind.TRANSFER_DECIDED, "oscar declined orders-db")]
    assert (
        InstanceEvent.objects.filter(instance=instance).last().message == "oscar declined the offer from rita"
    )
    # It may be offered again, to anyone.
    transfer_offer(actor=requester, instance=instance, to=outsider)


def test_only_the_recipient_declines(instance, requester, outsider, member):
    transfer_offer(actor=requester, instance=instance, to=outsider)
    before = snapshot(instance)
    with pytest.raises(TransferNotAllowed, match="withdraw the offer instead"):
        transfer_decline(actor=requester, instance=instance)
    with pytest.raises(TransferNotAllowed):
        transfer_decline(actor=member, instance=instance)
    assert snapshot(instance) == before


def test_the_owner_withdraws_the_offer_and_the_recipient_is_told(instance, requester, outsider):
    transfer_offer(actor=requester, instance=instance, to=outsider)
    withdrawn = transfer_withdraw(actor=requester, instance=instance)
    assert withdrawn.state == TransferState.WITHDRAWN and withdrawn.decided_at is not None
    assert fresh(instance).owner == requester and not can_view(outsider, fresh(instance))
    assert notes_of(outsider)[-1] == (
        NotificationKind.TRANSFER_OFFERED,
        "rita no longer offers you orders-db",
    )
    assert Notification.objects.filter(recipient=outsider, read_at__isnull=True).count() == 1
    before = snapshot(instance)
    with pytest.raises(TransferConflict, match="rita withdrew the offer of orders-db"):
        transfer_accept(actor=outsider, instance=instance)
    with pytest.raises(TransferConflict, match="rita withdrew the offer of orders-db"):
        transfer_withdraw(actor=requester, instance=instance)
    assert snapshot(instance) == before


def test_only_the_owner_withdraws(instance, requester, outsider, member, admin_user):
    transfer_offer(actor=requester, instance=instance, to=outsider)
    before = snapshot(instance)
    with pytest.raises(TransferNotAllowed, match="decline it instead"):
        transfer_withdraw(actor=outsider, instance=instance)
    for someone in (member, admin_user):
        with pytest.raises(TransferNotAllowed, match="Only its owner, rita, may withdraw"):
            transfer_withdraw(actor=someone, instance=instance)
    assert snapshot(instance) == before


# --- The admin ----------------------------------------------------------------------------


def test_the_admin_shows_the_transfers_read_only(client, instance, requester, outsider, admin_user):
    transfer_offer(actor=requester, instance=instance, to=outsider, note="Yours now")
    transfer_accept(actor=outsider, instance=instance)
    client.force_login(admin_user)
    url = reverse("admin:portal_serviceinstance_change", args=[instance.pk])
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Yours now" in html and "Accepted" in html
    assert 'name="transfers-0-state"' not in html, "shown, not editable"
    # The read-only inlines post empty management forms, as the runbook's versions do.
    empty = {
        f"{prefix}-{name}": "0"
        for prefix in ("dependencies", "transfers", "events")
        for name in ("TOTAL_FORMS", "INITIAL_FORMS")
    }
    response = client.post(url, {"name": "renamed-db", **empty})
    assert response.status_code == 302, response.content[:2000]
    assert fresh(instance).name == "renamed-db"
    assert InstanceTransfer.objects.get().state == TransferState.ACCEPTED
