"""Telling people what they need to know: in the portal, and by email.

Every notification is a row first (the portal lists it with an unread
count), created in the same transaction as the change it reports, so none is
lost. Its email, if the recipient wants that kind by email, is sent by a
Celery task dispatched after commit and retried with backoff: a slow or
absent mail server never slows a request or a run. An email still pending
long after (the broker was down) is sent again by the sweep.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone

from portal.celery import send_or_leave_for_sweep
from portal.notifications.choices import EMAIL_BY_DEFAULT, NotificationKind
from portal.notifications.models import Notification, NotificationPreference
from portal.notifications.selectors import email_preferences

if TYPE_CHECKING:  # the order domain imports this one: a type only
    from portal.orders.models import Order

logger = logging.getLogger(__name__)

EMAIL_TASK = "portal.send_notification_email"
#: Attempts at sending one email before it is recorded failed.
EMAIL_MAX_ATTEMPTS = 5


def order_link(order_id: int) -> str:
    """The order page, relative to the site."""
    return f"/orders/{order_id}/"


def absolute(link: str) -> str:
    return f"{settings.SQUADRON_BASE_URL}{link}" if link.startswith("/") else link


def email_wanted(users: Iterable[User], kind: str) -> set[int]:
    """Ids of ``users`` who want ``kind`` by email (their choice, else the
    kind's default) and have an address to send it to."""
    users = [user for user in users if getattr(user, "email", "")]
    if not users:
        return set()
    chosen = dict(
        NotificationPreference.objects.filter(user__in=users, kind=kind).values_list("user_id", "email")
    )
    default = EMAIL_BY_DEFAULT.get(NotificationKind(kind), True)
    return {user.pk for user in users if chosen.get(user.pk, default)}


def notify(
    *,
    recipients: Iterable[User],
    kind: str,
    title: str,
    body: str = "",
    order: Order | None = None,
    link: str = "",
    exclude: User | None = None,
) -> list[Notification]:
    """Notify each recipient once (``exclude``: the person who caused it, who
    needs no telling). Call inside the transaction of the change."""
    unique: dict[int, User] = {}
    for user in recipients:
        if user.is_active and (exclude is None or user.pk != exclude.pk):
            unique.setdefault(user.pk, user)
    if not unique:
        return []
    by_email = email_wanted(unique.values(), kind)
    link = link or (order_link(order.pk) if order is not None else "")
    rows = [
        Notification(
            recipient=user,
            kind=kind,
            order=order,
            title=title[:200],
            body=body,
            link=link,
            email_status=Notification.EmailStatus.PENDING
            if user.pk in by_email
            else Notification.EmailStatus.NOT_WANTED,
        )
        for user in unique.values()
    ]
    created = Notification.objects.bulk_create(rows)
    # bulk_create sets primary keys on PostgreSQL and SQLite 3.35+ (both
    # supported); without them the sweep still sends the emails later.
    to_send = [row.pk for row in created if row.pk and row.email_status == Notification.EmailStatus.PENDING]
    if to_send:
        transaction.on_commit(lambda: _dispatch_emails(to_send))
    return created


#: Notifications that ask someone to act on an order, by what settles them.
APPROVAL_KINDS = (
    NotificationKind.APPROVAL_REQUESTED,
    NotificationKind.APPROVAL_REMINDER,
    NotificationKind.APPROVAL_ESCALATED,
)
QUEUE_KINDS = (NotificationKind.MANUAL_QUEUED,)


def notifications_settle(*, order: Order, kinds: Sequence[str]) -> int:
    """Mark as read the unread notifications of ``kinds`` about ``order``:
    once someone has decided the step or taken the order, the request to act
    is no longer news for anyone (the unread count shows what still waits)."""
    return Notification.objects.filter(order=order, kind__in=kinds, read_at=None).update(
        read_at=timezone.now()
    )


def notifications_settle_link(*, recipient: User, kinds: Sequence[str], link: str) -> int:
    """Mark as read the recipient's unread notifications of ``kinds`` that
    point to ``link``: what asked them to act on something that is not an
    order (an instance offered to them) once it is settled."""
    return Notification.objects.filter(recipient=recipient, kind__in=kinds, link=link, read_at=None).update(
        read_at=timezone.now()
    )


def _dispatch_emails(notification_ids: Sequence[int]) -> None:
    for notification_id in notification_ids:
        if not send_or_leave_for_sweep(EMAIL_TASK, notification_id, what="notification email"):
            return  # the broker is down: the rest wait for the sweep too


def notification_send_email(*, notification_id: int) -> bool:
    """Send one notification's email. Returns True when sent (or nothing is
    left to send); raises the mail error so that the task retries."""
    notification = (
        Notification.objects.select_related("recipient", "order__product").filter(pk=notification_id).first()
    )
    if notification is None or notification.email_status != Notification.EmailStatus.PENDING:
        return True
    recipient = notification.recipient
    context = {
        "notification": notification,
        "recipient": recipient,
        "url": absolute(notification.link) if notification.link else "",
        "preferences_url": absolute("/notifications/preferences/"),
        "site_url": settings.SQUADRON_BASE_URL,
    }
    message = EmailMultiAlternatives(
        subject=f"[Squadron] {notification.title}",
        body=render_to_string("email/notification.txt", context),
        to=[recipient.email],
    )
    message.attach_alternative(render_to_string("email/notification.html", context), "text/html")
    Notification.objects.filter(pk=notification.pk).update(email_attempts=F("email_attempts") + 1)
    try:
        message.send()
    except Exception as error:
        attempts = notification.email_attempts + 1
        failed = attempts >= EMAIL_MAX_ATTEMPTS
        Notification.objects.filter(pk=notification.pk).update(
            email_error=f"{type(error).__name__}: {error}"[:500],
            email_status=Notification.EmailStatus.FAILED if failed else Notification.EmailStatus.PENDING,
        )
        logger.warning("notification %s: email to user %s failed (%s)", notification.pk, recipient.pk, error)
        if failed:
            return False
        raise
    Notification.objects.filter(pk=notification.pk).update(
        email_status=Notification.EmailStatus.SENT, emailed_at=timezone.now(), email_error=""
    )
    return True


def notification_emails_resend() -> int:
    """Queue again the emails still pending long after they were created
    (their task never reached a worker). Returns how many."""
    cutoff = timezone.now() - timedelta(seconds=settings.SQUADRON_EMAIL_RESEND_AFTER_SECONDS)
    stale = list(
        Notification.objects.filter(
            email_status=Notification.EmailStatus.PENDING,
            created_at__lt=cutoff,
            email_attempts__lt=EMAIL_MAX_ATTEMPTS,
        ).values_list("pk", flat=True)[:500]
    )
    _dispatch_emails(stale)
    return len(stale)


# --- The person's own list -----------------------------------------------------


def notification_mark_read(*, user: User, notification_id: int) -> bool:
    """Mark one of the user's notifications read; another person's is not found."""
    return (
        bool(
            Notification.objects.filter(pk=notification_id, recipient=user, read_at__isnull=True).update(
                read_at=timezone.now()
            )
        )
        or Notification.objects.filter(pk=notification_id, recipient=user).exists()
    )


def notifications_mark_all_read(*, user: User) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).update(read_at=timezone.now())


def email_preferences_set(*, user: User, email_kinds: Iterable[str]) -> dict[str, bool]:
    """Email exactly ``email_kinds`` to the user from now on. Unknown kinds
    are refused (ValueError) and nothing changes."""
    wanted = set(email_kinds)
    unknown = wanted - set(NotificationKind.values)
    if unknown:
        raise ValueError(f"Unknown notification kind(s): {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        for kind in NotificationKind:
            NotificationPreference.objects.update_or_create(
                user=user, kind=kind.value, defaults={"email": kind.value in wanted}
            )
    return email_preferences(user)
