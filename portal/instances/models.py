"""A service instance (what a succeeded order made and its requester now
owns), its history, the other instances it depends on, and the offers of it
to another owner.

The tables keep the app label ``portal``: ``portal.models`` imports them so
Django registers them with the portal app.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from catalogue.models import Product
from portal.instances.choices import InstanceState, TransferState
from portal.orders.models import Order


class ServiceInstance(models.Model):
    """The thing an order made (a database, a VM, a namespace), owned by the
    requester, changed by the product's operations until it is
    decommissioned.

    Its ``state`` changes only when an order against it moves
    (``portal.instances.lifecycle``); ``busy_with`` is the one order working
    on it (creating it, or an operation): taken with a conditional update,
    so two operations cannot run on one instance at once.
    """

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="instances")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="instances")
    name = models.CharField(max_length=200)
    # The business unit it is charged to: the one its creating order was
    # for (empty: unassigned). By label: the consumption domain imports this one.
    business_unit = models.ForeignKey(
        "portal.BusinessUnit",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="instances",
        db_index=False,  # the quota index below starts with it
    )
    state = models.CharField(max_length=20, choices=InstanceState.choices, db_index=True)
    # What the state was before the order now working on it took it: a failed
    # or cancelled operation puts it back.
    state_before = models.CharField(max_length=20, choices=InstanceState.choices, blank=True)
    # The order that created it.
    created_by_order = models.OneToOneField(
        Order, on_delete=models.PROTECT, null=True, blank=True, related_name="created_instance"
    )
    busy_with = models.ForeignKey(Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # Attributes the runbooks reported, with every secret value replaced by
    # the mask; the clear secret values live encrypted beside them.
    attributes = models.JSONField(default=dict, blank=True)
    secret_attributes_ciphertext = models.TextField(blank=True)
    links = models.JSONField(default=list, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # How many expiry reminders were sent for the current ``expires_at``
    # (0, 1 = a week before, 2 = a day before); an extension starts again.
    expiry_reminders = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    decommissioned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "-created_at", "-id"], name="instance_owner_created_idx"),
            # My services filtered by state: a rare state among thousands.
            models.Index(fields=["owner", "state", "-created_at", "-id"], name="instance_owner_state_idx"),
            models.Index(fields=["product", "-created_at", "-id"], name="instance_product_created_idx"),
            models.Index(fields=["state", "expires_at"], name="instance_state_expires_idx"),
            # A quota check counts a unit's instances of a product.
            models.Index(fields=["business_unit", "product", "state"], name="instance_unit_product_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.state})"


class InstanceEvent(models.Model):
    """An entry of an instance's append-only history: a change of state (or
    something worth knowing, such as a failed update), the order that caused
    it, and who acted (a person, or nobody for the system)."""

    instance = models.ForeignKey(ServiceInstance, on_delete=models.CASCADE, related_name="events")
    order = models.ForeignKey(Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    from_state = models.CharField(max_length=20, blank=True)
    to_state = models.CharField(max_length=20, blank=True)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["instance", "created_at", "id"]

    def __str__(self) -> str:
        return f"{self.instance_id}: {self.from_state or '∅'} → {self.to_state} {self.message}"


class InstanceDependency(models.Model):
    """That ``instance`` needs ``depends_on`` to work (an application's VM
    needs its database), as the runbook of an order against ``instance``
    reported it (``squadron.instance.depends_on`` in ``set_stats``).

    Its owner sees, before decommissioning ``depends_on``, what would lose a
    part it needs. A later report of the dependencies replaces them; a
    decommissioned instance no longer counts among what depends on another.
    """

    instance = models.ForeignKey(ServiceInstance, on_delete=models.CASCADE, related_name="dependencies")
    depends_on = models.ForeignKey(ServiceInstance, on_delete=models.CASCADE, related_name="dependents")
    # The order whose runbook reported it.
    source = models.ForeignKey(Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["instance", "depends_on"]
        constraints = [
            models.UniqueConstraint(fields=["instance", "depends_on"], name="instance_dependency_unique"),
            models.CheckConstraint(
                condition=~models.Q(instance=models.F("depends_on")), name="instance_dependency_not_itself"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.instance_id} → {self.depends_on_id}"


class InstanceTransfer(models.Model):
    """An offer of an instance by its owner to another person, who accepts it
    (and becomes its owner) or declines it; the owner may withdraw it while
    it is pending. At most one offer of an instance is pending at a time.

    ``state`` changes only in ``portal.instances.transfers`` (and ends
    ``cancelled`` when ``portal.instances.lifecycle`` decommissions the
    instance), each move a conditional UPDATE from ``pending``, so of two
    people deciding at once (an accept and a withdrawal) exactly one wins.
    """

    instance = models.ForeignKey(ServiceInstance, on_delete=models.CASCADE, related_name="transfers")
    from_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    to_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="instance_transfers_offered"
    )
    state = models.CharField(max_length=16, choices=TransferState.choices, default=TransferState.PENDING)
    # Why the owner offers it, for the recipient to read before deciding.
    note = models.TextField(blank=True, max_length=2000)
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["instance"],
                condition=models.Q(state=TransferState.PENDING),
                name="instance_transfer_one_pending",
            ),
        ]
        indexes = [
            # "Offered to you" on My services, and who may see an instance.
            models.Index(fields=["to_user", "state"], name="instance_transfer_to_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.instance_id}: {self.from_user_id} → {self.to_user_id} ({self.state})"
