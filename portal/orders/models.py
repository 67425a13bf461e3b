"""The order's tables: the order itself, its runs, its audit trail, its
approvals and dry runs, and the answers kept for idempotent placement.

They keep the app label ``portal`` and their table names (``portal_order``…):
``portal.models`` imports them so Django registers them with the portal app.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from catalogue.fields import OrderedJSONField
from catalogue.models import Operation, Product
from portal.orders.choices import OrderStatus
from runbooks.models import Run, RunbookVersion
from squads.models import Chapter, Squad


class Order(models.Model):
    """A business user's request for a product, from submission to outcome.

    It pins what it was placed against (product version, runbook version,
    form, approval policy and owning squad) so later edits of the product
    never change an order already in flight.
    """

    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="orders")
    product_version = models.PositiveIntegerField()
    # A day-2 operation of ``product`` ordered against one of its instances;
    # both empty for an order of the product itself. By label, not by class:
    # the instance models import this module.
    operation = models.ForeignKey(
        Operation, on_delete=models.PROTECT, null=True, blank=True, related_name="orders"
    )
    instance = models.ForeignKey(
        "portal.ServiceInstance", on_delete=models.PROTECT, null=True, blank=True, related_name="orders"
    )
    # The business unit the order is for (charged to, counted against its
    # quotas); empty when the requester belongs to none. By label: the
    # consumption domain imports this one.
    business_unit = models.ForeignKey(
        "portal.BusinessUnit",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="orders",
        db_index=False,  # the quota index below starts with it
    )
    runbook_version = models.ForeignKey(
        RunbookVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="orders"
    )
    squad = models.ForeignKey(Squad, on_delete=models.PROTECT, related_name="orders")
    fulfilment = models.CharField(max_length=16)
    approval_policy = models.CharField(max_length=16)
    # The approval steps in effect when the order was submitted (see
    # ``portal.orders.approval_steps.steps_for``): editing the product later changes
    # nothing for orders already waiting.
    approval_steps = models.JSONField(default=list, blank=True)
    approval_step = models.PositiveSmallIntegerField(default=0, help_text="Index of the open step.")
    approval_step_opened_at = models.DateTimeField(null=True, blank=True)
    approval_reminded_at = models.DateTimeField(null=True, blank=True)
    approval_escalated_at = models.DateTimeField(null=True, blank=True)
    approval_remind_after_hours = models.PositiveIntegerField(default=0)
    approval_escalate_after_hours = models.PositiveIntegerField(default=0)
    # Who may decide the open step, denormalised from ``approval_steps`` so
    # that an approver's inbox is one indexed query on any database:
    # ``approval_roles`` is ",role,role," (LIKE-searchable; "" = any role).
    approval_squad = models.ForeignKey(
        Squad, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approval_chapter = models.ForeignKey(
        Chapter, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approval_roles = models.CharField(max_length=200, blank=True)
    form_schema = OrderedJSONField(default=dict)
    # Inputs as submitted, with every secret value replaced by the mask. The
    # clear secret values live encrypted in ``secret_inputs_ciphertext`` only
    # until the order ends.
    inputs = models.JSONField(default=dict)
    secret_inputs_ciphertext = models.TextField(blank=True)
    status = models.CharField(max_length=32, choices=OrderStatus.choices, db_index=True)
    # Why the order waits for approval beyond its policy: the quotas of its
    # business unit it would exceed, by how much (empty: within them).
    quota_excess = models.TextField(blank=True)

    # A default, not auto_now_add: submission passes its own moment, so that
    # queued_at and the first approval step never precede it.
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
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

    current_run = models.ForeignKey(Run, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    attempts = models.PositiveIntegerField(default=0)
    return_code = models.IntegerField(null=True, blank=True)
    host_summary = models.JSONField(default=dict, blank=True)
    failure_reason = models.TextField(blank=True)
    resolution_note = models.TextField(blank=True)
    # What the runbook told the requester (``set_stats`` ``squadron.result``):
    # {"summary": Markdown, "links": [{title, url}]}, masked; {} for nothing.
    result = models.JSONField(default=dict, blank=True)
    # The first failed step of the run that ended it, and whether running
    # it again could end otherwise (``runbooks.choices.FailureKind``).
    failed_step = models.CharField(max_length=255, blank=True)
    failure_kind = models.CharField(max_length=16, blank=True)
    #: Since when a squad member's question waits for the requester's reply
    #: (``portal.orders.conversation``): not a status, the order stays where
    #: it is; the requester's reply clears it.
    waiting_on_requester_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["requester", "-created_at"]),
            models.Index(fields=["squad", "status"]),
            models.Index(fields=["status", "dispatched_at"]),
            models.Index(fields=["status", "approval_squad"]),
            models.Index(fields=["status", "approval_chapter"]),
            # API clients poll for what changed (?updated_after=).
            models.Index(fields=["updated_at"], name="portal_order_updated_at_idx"),
            # Insights: a squad's or a product's orders in a period, and
            # what finished recently (dependency health, expected lead time).
            models.Index(fields=["squad", "created_at"], name="order_squad_created_idx"),
            models.Index(fields=["product", "finished_at"], name="order_product_finished_idx"),
            models.Index(fields=["finished_at"], name="order_finished_idx"),
            # A quota check counts a unit's open orders for a product.
            models.Index(fields=["business_unit", "product", "status"], name="order_unit_product_idx"),
        ]

    def __str__(self) -> str:
        return f"Order #{self.pk} ({self.status})"


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

    def __str__(self) -> str:
        return f"Order #{self.order_id} attempt {self.attempt} (run {self.run_id})"


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
        # Insights read the queues' arrivals and departures of recent days.
        indexes = [models.Index(fields=["created_at"], name="order_event_created_idx")]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.from_status or '∅'} → {self.to_status} {self.note}"


class OrderComment(models.Model):
    """One message of an order's conversation: a comment between requester
    and squad (both see it), a question the squad asks the requester (a
    comment that makes the order wait on them), or a work note the squad
    keeps to itself (the requester never sees it, anywhere). The body is
    Markdown, sanitized when shown."""

    class Kind(models.TextChoices):
        COMMENT = "comment", "Comment"
        QUESTION = "question", "Question for the requester"
        WORK_NOTE = "work_note", "Work note (squad only)"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.COMMENT)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["order", "created_at", "id"]
        indexes = [models.Index(fields=["order", "created_at"], name="order_comment_order_idx")]

    def __str__(self) -> str:
        return f"{self.kind} on order #{self.order_id} by {self.author_id}"


class OrderApproval(models.Model):
    """One person's decision on one step of an order's approval. A person
    decides at most once per order, across all its steps (separation of
    duties): the unique constraint enforces it even under concurrent clicks."""

    class Decision(models.TextChoices):
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="approvals")
    step = models.PositiveSmallIntegerField()
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=16, choices=Decision.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["order", "step", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "approver"], name="order_approval_once_per_person"),
        ]
        # What a person decided: their visibility of other squads' orders.
        indexes = [models.Index(fields=["approver", "order"], name="order_approval_by_approver")]

    def __str__(self) -> str:
        return f"Order #{self.order_id} step {self.step + 1}: {self.decision} by {self.approver_id}"


class OrderDryRun(models.Model):
    """A check-mode run of an order's runbook version that an approver asked
    for before deciding: what the playbook would change, changing nothing."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="dry_runs")
    run = models.OneToOneField(Run, on_delete=models.PROTECT, related_name="order_dry_run")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["order", "-created_at", "-id"]

    def __str__(self) -> str:
        return f"Dry run {self.run_id} of order #{self.order_id}"


class IdempotencyRecord(models.Model):
    """The first answer to an order placed with an ``Idempotency-Key``, kept so
    that a client retrying the same request gets the same order back instead
    of a second one. The unique (user, key) pair is what makes two racing
    retries end up with one order."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    # Keyed hash of the canonical request body: a different body under the same
    # key is a client bug, refused rather than silently answered.
    request_hash = models.CharField(max_length=64)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    response_status = models.PositiveSmallIntegerField(default=201)
    response_body = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_unique_user_key"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key} -> order {self.order_id}"
