from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models

from catalogue.models import Product
from portal.insights.choices import DebtSeverity, DebtStatus, SweepRecoveryKind
from squads.models import Squad


class DebtItem(models.Model):
    """A piece of technical debt a squad knowingly carries on one of its
    products (a hard-coded inventory, a manual step nobody automated, an
    Ansible module about to be removed), with how bad it is and what paying
    it off would cost. The register is curated by the owning squad; open
    items add to the product's debt score on the squad dashboard."""

    squad = models.ForeignKey(Squad, on_delete=models.CASCADE, related_name="debt_items")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="debt_items")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    severity = models.CharField(max_length=16, choices=DebtSeverity.choices, default=DebtSeverity.MEDIUM)
    estimated_effort_days = models.DecimalField(
        max_digits=6,
        decimal_places=1,
        validators=[MinValueValidator(0)],
        help_text="Person-days to pay it off.",
    )
    status = models.CharField(max_length=16, choices=DebtStatus.choices, default=DebtStatus.OPEN)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    resolved_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["squad", "status", "-created_at"]
        indexes = [models.Index(fields=["squad", "status"])]
        verbose_name = "debt item"

    def __str__(self) -> str:
        return f"{self.title} ({self.get_severity_display()}, {self.product_id})"

    def clean(self) -> None:
        if self.product_id and self.squad_id and self.product.squad_id != self.squad_id:
            raise ValidationError(
                {"product": "A squad records debt against its own products; this one is another squad's."}
            )


class SweepRecovery(models.Model):
    """How many times, since the database was created, the periodic sweep
    recovered something of one kind. Kept in the database (not in a process)
    so that every web process exports the same ever-increasing counter."""

    kind = models.CharField(max_length=32, choices=SweepRecoveryKind.choices, unique=True)
    count = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind"]
        verbose_name_plural = "sweep recoveries"

    def __str__(self) -> str:
        return f"{self.kind}: {self.count}"
