from __future__ import annotations

from django.conf import settings
from django.db import models

from catalogue.models import Product
from portal.choices import OrderStatus
from runbooks.models import Run, RunbookVersion
from squads.models import Squad


class Order(models.Model):
    """A business user's request for a product, from submission to outcome.

    It pins what it was placed against (product version, runbook version,
    form, approval policy and owning squad) so later edits of the product
    never change an order already in flight.
    """

    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders"
    )
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="orders")
    product_version = models.PositiveIntegerField()
    runbook_version = models.ForeignKey(
        RunbookVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="orders"
    )
    squad = models.ForeignKey(Squad, on_delete=models.PROTECT, related_name="orders")
    fulfilment = models.CharField(max_length=16)
    approval_policy = models.CharField(max_length=16)
    form_schema = models.JSONField(default=dict)
    # Inputs as submitted, with every secret value replaced by the mask. The
    # clear secret values live encrypted in ``secret_inputs_ciphertext`` only
    # until the order ends.
    inputs = models.JSONField(default=dict)
    secret_inputs_ciphertext = models.TextField(blank=True)
    status = models.CharField(max_length=32, choices=OrderStatus.choices, db_index=True)

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    dispatch_count = models.PositiveIntegerField(default=0)

    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)

    current_run = models.ForeignKey(
        Run, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    attempts = models.PositiveIntegerField(default=0)
    return_code = models.IntegerField(null=True, blank=True)
    host_summary = models.JSONField(default=dict, blank=True)
    failure_reason = models.TextField(blank=True)
    resolution_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["requester", "-created_at"]),
            models.Index(fields=["squad", "status"]),
            models.Index(fields=["status", "dispatched_at"]),
        ]

    def __str__(self) -> str:
        return f"Order #{self.pk} {self.product_id} ({self.status})"


class OrderRun(models.Model):
    """One attempt at fulfilling an order by running its runbook; a retry adds
    another, so the history keeps every run."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="order_runs")
    run = models.OneToOneField(Run, on_delete=models.PROTECT, related_name="order_run")
    attempt = models.PositiveIntegerField()

    class Meta:
        ordering = ["order", "attempt"]
        constraints = [
            models.UniqueConstraint(fields=["order", "attempt"], name="order_run_unique_attempt"),
        ]


class OrderEvent(models.Model):
    """An entry of the order's append-only audit trail: who moved it from
    which status to which, when, and why."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    from_status = models.CharField(max_length=32, blank=True)
    to_status = models.CharField(max_length=32, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["order", "created_at", "id"]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.from_status or '∅'} → {self.to_status} {self.note}"
