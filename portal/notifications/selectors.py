"""Reads of a person's notifications and email choices, for the pages and
the navigation's badge."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db.models import QuerySet

from portal.notifications.choices import EMAIL_BY_DEFAULT, NotificationKind
from portal.notifications.models import Notification, NotificationPreference
from squads.selectors import AnyUser


def notifications_of(user: User) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=user).select_related("order").order_by("-created_at", "-id")


#: The navigation's badge counts unread notifications up to this many ("99+").
UNREAD_BADGE_LIMIT = 100


def unread_count(user: AnyUser) -> int:
    """Unread notifications, counted up to ``UNREAD_BADGE_LIMIT``: every page
    shows the badge, so its cost is bounded whatever piles up unread."""
    if not user.is_authenticated:
        return 0
    unread = Notification.objects.filter(recipient=user, read_at__isnull=True)
    return len(unread.values_list("pk", flat=True)[:UNREAD_BADGE_LIMIT])


def email_preferences(user: User) -> dict[str, bool]:
    """Each kind with whether the user gets it by email."""
    chosen = dict(NotificationPreference.objects.filter(user=user).values_list("kind", "email"))
    return {kind.value: chosen.get(kind.value, EMAIL_BY_DEFAULT[kind]) for kind in NotificationKind}
