"""The notification pages: one's own list with its unread count, opening one
marks it read and leads to the order, preferences are saved per person."""

from __future__ import annotations

import pytest

from portal.notifications import selectors as notification_selectors
from portal.notifications.choices import NotificationKind
from portal.notifications.models import Notification, NotificationPreference

pytestmark = pytest.mark.django_db


@pytest.fixture
def note(requester):
    return Notification.objects.create(
        recipient=requester,
        kind=NotificationKind.ORDER_FINISHED,
        title="Order #7 (VLAN) succeeded",
        link="/orders/7/",
    )


def test_list_shows_only_ones_own_notifications_and_the_unread_count(client, requester, outsider, note):
    Notification.objects.create(recipient=outsider, kind=NotificationKind.ORDER_FINISHED, title="Not yours")
    client.force_login(requester)
    page = client.get("/notifications/").content.decode()
    assert "Order #7 (VLAN) succeeded" in page
    assert "Not yours" not in page
    assert 'aria-label="1 unread"' in page


def test_opening_marks_read_and_goes_to_the_order(client, requester, note):
    client.force_login(requester)
    response = client.post(f"/notifications/{note.pk}/open/")
    assert response.status_code == 302 and response["Location"] == "/orders/7/"
    note.refresh_from_db()
    assert note.read_at is not None


def test_mark_all_read_is_offered_only_while_something_is_unread(client, requester, note):
    client.force_login(requester)
    assert "Mark all read" in client.get("/notifications/").content.decode()
    client.post("/notifications/read-all/")
    note.refresh_from_db()
    assert note.read_at is not None
    page = client.get("/notifications/").content.decode()
    assert "Mark all read" not in page and "Order #7 (VLAN) succeeded" in page


def test_another_persons_notification_is_not_found_and_stays_unread(client, outsider, note):
    client.force_login(outsider)
    assert client.post(f"/notifications/{note.pk}/open/").status_code == 404
    note.refresh_from_db()
    assert note.read_at is None


def test_opening_needs_a_post_with_csrf(requester, note):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(requester)
    assert csrf_client.post(f"/notifications/{note.pk}/open/").status_code == 403
    # A GET does nothing but lead to the notifications (no bare 405).
    response = csrf_client.get(f"/notifications/{note.pk}/open/")
    assert response.status_code == 302 and response["Location"] == "/notifications/"
    note.refresh_from_db()
    assert note.read_at is None


def test_preferences_are_saved_and_unknown_kinds_change_nothing(client, requester):
    client.force_login(requester)
    page = client.get("/notifications/preferences/").content.decode()
    assert 'id="email-order_finished"' in page and "checked" in page
    response = client.post("/notifications/preferences/", {"email": ["approval_requested"]})
    assert response.status_code == 302
    assert notification_selectors.email_preferences(requester)[NotificationKind.ORDER_FINISHED] is False
    assert notification_selectors.email_preferences(requester)[NotificationKind.APPROVAL_REQUESTED] is True
    before = list(NotificationPreference.objects.values_list("kind", "email"))
    response = client.post("/notifications/preferences/", {"email": ["gossip"]})
    assert response.status_code == 200
    assert "Unknown notification kind" in response.content.decode()
    assert list(NotificationPreference.objects.values_list("kind", "email")) == before


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get("/notifications/")
    assert response.status_code == 302 and "/login/" in response["Location"]
