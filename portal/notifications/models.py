"""Notifications and each person's choice of which kinds to get by email too."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from portal.notifications.choices import NotificationKind


class Notification(models.Model):
    """Something a person should know about, shown in the portal (with an
    unread count) and, if their preferences say so, sent by email."""

    class EmailStatus(models.TextChoices):
        NOT_WANTED = "not_wanted", "Not wanted"
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=32, choices=NotificationKind.choices)
    # By label, not by class: the order models import this module.
    order = models.ForeignKey(
        "portal.Order", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    # Site-relative; emails make it absolute with SQUADRON_BASE_URL.
    link = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    email_status = models.CharField(
        max_length=16, choices=EmailStatus.choices, default=EmailStatus.NOT_WANTED
    )
    email_attempts = models.PositiveSmallIntegerField(default=0)
    email_error = models.CharField(max_length=500, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    #: When a failed email is tried again (``EMAIL_RETRY_DELAYS``).
    email_next_attempt_at = models.DateTimeField(null=True, blank=True)
    #: Until when the attempt sending it holds it (``sending``): a second
    #: sender finds it taken and sends nothing. Of a ``pending`` email: until
    #: when the sweep that queued it leaves it to that task.
    email_claimed_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["recipient", "read_at"]),
            models.Index(fields=["email_status", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for {self.recipient_id}: {self.title}"


class NotificationPreference(models.Model):
    """Whether a person wants one kind of notification by email too (they
    always see it in the portal). No row means the kind's default."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    kind = models.CharField(max_length=32, choices=NotificationKind.choices)
    email = models.BooleanField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="notification_preference_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind}: email {'on' if self.email else 'off'}"
