"""Expiry: owners are reminded a week and a day before, then Squadron
orders the decommissioning itself. Webhooks tell of instances."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from portal.instances.choices import InstanceState
from portal.instances.models import ServiceInstance
from portal.instances.services import instances_expiry_check, operation_order
from portal.integrations.models import WebhookDelivery
from portal.integrations.webhooks.subscriptions import webhook_subscribe
from portal.notifications.choices import NotificationKind
from portal.notifications.models import Notification
from portal.orders.choices import OrderStatus
from portal.orders.models import Order
from tests.instances import create, play
from tests.portal.conftest import drain_queued_tasks

pytestmark = pytest.mark.django_db


def expiring_in(instance: ServiceInstance, delta: timedelta) -> None:
    ServiceInstance.objects.filter(pk=instance.pk).update(expires_at=timezone.now() + delta)


def reminders(user) -> list[str]:
    return list(
        Notification.objects.filter(recipient=user, kind=NotificationKind.INSTANCE_EXPIRING)
        .values_list("title", flat=True)
        .order_by("created_at", "id")
    )


def test_the_owner_is_reminded_a_week_and_then_a_day_before_once_each(database, requester):
    instance = create(database, requester)
    assert instances_expiry_check().reminded == [], "30 days ahead: nothing to say yet"
    expiring_in(instance, timedelta(days=6))
    assert instances_expiry_check().reminded == [instance.pk]
    assert instances_expiry_check().reminded == [], "once"
    expiring_in(instance, timedelta(hours=20))
    assert instances_expiry_check().reminded == [instance.pk]
    instances_expiry_check()
    assert reminders(requester) == [
        "orders-db (PostgreSQL database) expires in a week",
        "orders-db (PostgreSQL database) expires tomorrow",
    ]
    note = Notification.objects.filter(recipient=requester, kind=NotificationKind.INSTANCE_EXPIRING).first()
    assert note.link == f"/instances/{instance.pk}/"
    assert note.email_status == Notification.EmailStatus.PENDING


def test_at_expiry_squadron_orders_the_delete_operation_as_the_system(database, requester):
    instance = create(database, requester)
    expiring_in(instance, timedelta(seconds=-1))

    report = instances_expiry_check()

    assert report.decommission_ordered == [instance.pk]
    order = Order.objects.get(instance=instance, operation__slug="drop")
    assert order.requester == requester and order.status == OrderStatus.QUEUED
    submitted = order.events.get()
    assert submitted.actor is None and submitted.note == "Ordered by Squadron: orders-db expired"
    instance.refresh_from_db()
    ordered = instance.events.last()
    assert ordered.actor is None and ordered.order == order and "by Squadron" in ordered.message
    assert Notification.objects.filter(recipient=requester, kind=NotificationKind.INSTANCE_EXPIRED).exists()
    assert instances_expiry_check().decommission_ordered == [], "ordered once"

    play(order)
    instance.refresh_from_db()
    assert instance.state == InstanceState.DECOMMISSIONED and instance.expires_at is None


def test_an_expired_instance_whose_decommissioning_fails_is_not_ordered_again_and_again(database, requester):
    instance = create(database, requester)
    expiring_in(instance, timedelta(seconds=-1))
    instances_expiry_check()
    play(Order.objects.get(instance=instance, operation__slug="drop"), status="failed")
    instance.refresh_from_db()
    assert instance.state == InstanceState.ACTIVE
    assert instances_expiry_check().decommission_ordered == []
    assert Order.objects.filter(operation__slug="drop").count() == 1


def test_an_instance_busy_at_expiry_waits_for_its_order(database, requester):
    instance = create(database, requester)
    running = operation_order(actor=requester, instance=instance, operation="resize", inputs={"size_gb": 20})
    expiring_in(instance, timedelta(seconds=-1))
    assert instances_expiry_check().decommission_ordered == []
    play(running)
    assert instances_expiry_check().decommission_ordered == [instance.pk]


def test_a_product_without_lifetime_never_expires(database, requester):
    database.max_lifetime_days = None
    database.save()
    instance = create(database, requester)
    assert instance.expires_at is None
    assert instances_expiry_check().reminded == []


def test_webhooks_tell_the_owner_and_the_squad_of_instance_events(
    database, requester, member, django_capture_on_commit_callbacks
):
    webhook_subscribe(actor=requester, url="https://rita.example.com/hook")
    webhook_subscribe(actor=member, url="https://network.example.com/hook", squad=database.squad)
    with django_capture_on_commit_callbacks(execute=True):
        instance = create(database, requester)
    with django_capture_on_commit_callbacks(execute=True):
        play(operation_order(actor=requester, instance=instance, operation="drop", inputs={}))
    drain_queued_tasks()
    instance_events = [
        json.loads(body)
        for body in WebhookDelivery.objects.filter(event__startswith="instance.").values_list(
            "body", flat=True
        )
    ]
    by_event: dict[str, int] = {}
    for body in instance_events:
        by_event[body["event"]] = by_event.get(body["event"], 0) + 1
    assert by_event == {"instance.created": 2, "instance.changed": 2, "instance.decommissioned": 2}
    created = next(body for body in instance_events if body["event"] == "instance.created")
    assert created["instance"]["id"] == instance.pk and created["instance"]["state"] == "active"
    assert created["instance"]["name"] == "orders-db"
