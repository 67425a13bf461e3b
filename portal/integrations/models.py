"""What integrations hold: API tokens and webhook subscriptions with their deliveries."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from squads.models import Squad


class ApiToken(models.Model):
    """A key an integration presents (``Authorization: Token KEY``) to act as
    its user through the API.

    Only a SHA-256 hash of the key is stored, so a leaked database grants no
    access; the short ``prefix`` is not secret and lets the owner tell their
    keys apart and the server find the row without scanning every hash.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…) of {self.user_id}"


class WebhookSubscription(models.Model):
    """A URL that is told, by a signed HTTP POST, whenever an order changes
    status: one person's own orders (``user``) or every order for a squad's
    products (``squad``, managed by its members)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    squad = models.ForeignKey(
        Squad, on_delete=models.CASCADE, null=True, blank=True, related_name="webhook_subscriptions"
    )
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    # The HMAC key, encrypted like credentials: receivers verify signatures with it.
    secret_ciphertext = models.TextField()
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=False, squad__isnull=True)
                | models.Q(user__isnull=True, squad__isnull=False),
                name="webhook_subscription_one_owner",
            ),
        ]

    def __str__(self) -> str:
        owner = f"squad {self.squad_id}" if self.squad_id else f"user {self.user_id}"
        return f"{self.url} ({owner})"


class WebhookDelivery(models.Model):
    """One event sent (or being sent) to one subscription: the exact body that
    is signed, and how its attempts went, for the owner to inspect."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed (gave up)"

    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    delivery_id = models.UUIDField(unique=True)
    event = models.CharField(max_length=64)
    # By label, not by class: the order models import this module.
    order = models.ForeignKey(
        "portal.Order", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Stored as sent, byte for byte: a retry must carry the same signature.
    body = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    # While an attempt is under way, the end of its lease: past it (the task
    # died), the sweep sends the delivery again.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.event} #{self.delivery_id} ({self.status}, {self.attempts} attempts)"
