"""Telling people what they need to know: in the portal, and by email.

Every notification is a row first (the portal lists it with an unread
count), created in the same transaction as the change it reports, so none is
lost. Its email, if the recipient wants that kind by email, is sent by a
Celery task dispatched after commit: a slow or absent mail server never
slows a request or a run. A failed attempt is tried again on a growing
schedule (``EMAIL_RETRY_DELAYS``, over a day and a half in all: a mail
server down for a night loses nothing) by the sweep, which also sends the
emails whose task never reached a worker. Each attempt first claims the
email (a conditional UPDATE), so a resend racing a late original never
sends it twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import F, Q
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
#: How long to wait after each failed attempt before the next: from a
#: minute to eight hours, about 32 hours in all, so that a mail server down
#: for a day (a weekend's maintenance, a lapsed certificate) loses nothing.
#: The sweep, every few seconds, sends what is due: no broker holds a task
#: for hours (Redis would deliver an ETA task again after its visibility
#: timeout).
EMAIL_RETRY_DELAYS: tuple[int, ...] = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 28800, 28800)
#: Attempts at sending one email before it is recorded failed.
EMAIL_MAX_ATTEMPTS = len(EMAIL_RETRY_DELAYS) + 1
#: How long one attempt holds its claim: longer than the task may run (its
#: time limit), after which a worker that died mid-send is taken to have failed.
EMAIL_CLAIM_SECONDS = 120


def order_link(order_id: int) -> str:
    """The order page, relative to the site."""
    return f"/orders/{order_id}/"


def absolute(link: str) -> str:
    """``link`` on the address people reach the portal on (SQUADRON_BASE_URL;
    ``serve`` sets it from its --addr when it is not set)."""
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


def _dispatch_emails(notification_ids: Sequence[int]) -> list[int]:
    """Hand each email to a worker; the ones the broker took."""
    sent = []
    for notification_id in notification_ids:
        if not send_or_leave_for_sweep(EMAIL_TASK, notification_id, what="notification email"):
            break  # the broker is down: the rest wait for the sweep too
        sent.append(notification_id)
    return sent


def notification_send_email(*, notification_id: int, now: datetime | None = None) -> bool:
    """Send one notification's email if it is due and nobody else is
    sending it. Returns False when this attempt failed (the next is
    scheduled, or after the last the email is recorded failed), else True
    (sent, or nothing to do: already sent, being sent, not due yet)."""
    now = now or timezone.now()
    # Claimed before anything is sent: of two senders (a resend racing a
    # late original) the conditional UPDATE lets exactly one through.
    claimed = (
        Notification.objects.filter(pk=notification_id)
        .filter(_due(now))
        .update(
            email_status=Notification.EmailStatus.SENDING,
            email_claimed_until=now + timedelta(seconds=EMAIL_CLAIM_SECONDS),
            email_attempts=F("email_attempts") + 1,
        )
    )
    if not claimed:
        return True
    notification = Notification.objects.select_related("recipient", "order__product").get(pk=notification_id)
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
    try:
        message.send()
    except Exception as error:  # noqa: BLE001 - any mail backend error: recorded, tried again later
        attempts = notification.email_attempts
        failed = attempts >= EMAIL_MAX_ATTEMPTS
        Notification.objects.filter(pk=notification.pk).update(
            email_error=f"{type(error).__name__}: {error}"[:500],
            email_status=Notification.EmailStatus.FAILED if failed else Notification.EmailStatus.PENDING,
            email_claimed_until=None,
            email_next_attempt_at=None
            if failed
            else now + timedelta(seconds=EMAIL_RETRY_DELAYS[min(attempts, len(EMAIL_RETRY_DELAYS)) - 1]),
        )
        logger.warning(
            "notification %s: email to user %s failed, attempt %s of %s (%s)",
            notification.pk,
            recipient.pk,
            attempts,
            EMAIL_MAX_ATTEMPTS,
            error,
        )
        return False
    Notification.objects.filter(pk=notification.pk).update(
        email_status=Notification.EmailStatus.SENT,
        emailed_at=timezone.now(),
        email_error="",
        email_claimed_until=None,
        email_next_attempt_at=None,
    )
    return True


def _due(now: datetime) -> Q:
    """Emails an attempt may take now: pending and due (never tried, or
    their next attempt's time has come), or claimed by an attempt that died
    without a word (its claim ran out)."""
    pending = Q(email_status=Notification.EmailStatus.PENDING) & (
        Q(email_next_attempt_at__isnull=True) | Q(email_next_attempt_at__lte=now)
    )
    abandoned = Q(email_status=Notification.EmailStatus.SENDING, email_claimed_until__lt=now)
    return (pending | abandoned) & Q(email_attempts__lt=EMAIL_MAX_ATTEMPTS)


def notification_emails_resend(*, now: datetime | None = None) -> int:
    """Queue the emails the sweep should send now: those whose task never
    reached a worker (still untried long after they were made), those whose
    failed attempt has waited its delay, and those whose attempt died (the
    last one's is recorded failed). Returns how many it queued."""
    now = now or timezone.now()
    # A last attempt that died left no attempt to take it up: it failed.
    Notification.objects.filter(
        email_status=Notification.EmailStatus.SENDING,
        email_claimed_until__lt=now,
        email_attempts__gte=EMAIL_MAX_ATTEMPTS,
    ).update(
        email_status=Notification.EmailStatus.FAILED,
        email_claimed_until=None,
        email_next_attempt_at=None,
        email_error="The last attempt did not finish (its worker stopped while sending).",
    )
    cutoff = now - timedelta(seconds=settings.SQUADRON_EMAIL_RESEND_AFTER_SECONDS)
    never_tried = Q(email_attempts=0, created_at__lt=cutoff)
    retry = Q(email_attempts__gt=0)
    # A pending email this sweep queued holds a lease (its claimed_until)
    # until a worker has had time to take the task: the sweeps that follow,
    # every few seconds, do not queue it again meanwhile.
    queued = Q(email_status=Notification.EmailStatus.PENDING, email_claimed_until__gt=now)
    due = list(
        Notification.objects.filter(_due(now) & (never_tried | retry))
        .exclude(queued)
        .order_by("created_at")
        .values_list("pk", flat=True)[:500]
    )
    # Only what the broker took is left to its task: the rest is due at the next sweep.
    sent = _dispatch_emails(due)
    Notification.objects.filter(pk__in=sent, email_status=Notification.EmailStatus.PENDING).update(
        email_claimed_until=now + timedelta(seconds=EMAIL_CLAIM_SECONDS)
    )
    return len(sent)


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


def notifications_seen_on_order(*, user: User, order_id: int) -> int:
    """Mark read the user's notifications about an order whose page they
    are looking at (or watching finish live): what they see needs no badge."""
    return Notification.objects.filter(recipient=user, order_id=order_id, read_at__isnull=True).update(
        read_at=timezone.now()
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
