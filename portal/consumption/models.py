"""Business units and their quotas.

The tables keep the app label ``portal``: ``portal.models`` imports them so
Django registers them with the portal app. Orders and instances point at a
business unit by label (``"portal.BusinessUnit"``): they never import this
module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from catalogue.models import Product
from portal.consumption.attributes import attribute_problem

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class BusinessUnit(models.Model):
    """A consuming organisation (Finance, Marketing…): its members order for
    it, every instance they create is charged to it, and its quotas limit
    how much of each product it may hold. The cost centre is what showback
    reports name."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    cost_centre = models.CharField(max_length=64, blank=True)
    # Annotated because the plugin cannot resolve a through model named by a string.
    members: models.ManyToManyField[User, BusinessUnitMembership] = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="BusinessUnitMembership", related_name="business_units", blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class BusinessUnitMembership(models.Model):
    """A person's belonging to a business unit: they may order for it and
    see its usage. A person may belong to several units (and then picks one
    when ordering) or to none (and orders unassigned)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="business_unit_memberships"
    )
    business_unit = models.ForeignKey(BusinessUnit, on_delete=models.CASCADE, related_name="memberships")
    # Granted because an identity provider's group maps to the unit
    # (portal.identity): it follows the person's groups at each login; one
    # curated by hand (False) is never touched by a mapping.
    granted_by_mapping = models.BooleanField(default=False)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["business_unit__name", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["user", "business_unit"], name="bu_membership_unique_user_unit"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.business_unit}"


class Quota(models.Model):
    """A limit on what one business unit may hold of one product, counting
    the instances that exist (not decommissioned) and those already ordered.

    A quota limits one thing: either the number of instances
    (``max_instances``), or the total of one numeric attribute of them
    (``attribute`` and ``max_total``: ``vcpus`` at most 64). A unit has at
    most one of each per product."""

    business_unit = models.ForeignKey(BusinessUnit, on_delete=models.CASCADE, related_name="quotas")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="quotas")
    max_instances = models.PositiveIntegerField(
        null=True, blank=True, help_text="At most this many active or ordered instances."
    )
    attribute = models.CharField(
        max_length=100,
        blank=True,
        help_text="A numeric attribute of the instances (vcpus, size_gb) whose total is limited.",
    )
    max_total = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="At most this total of the attribute over active and ordered instances.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["business_unit__name", "product__name", "attribute"]
        constraints = [
            # "" is the count of instances: one count and one total per
            # attribute for each unit and product.
            models.UniqueConstraint(
                fields=["business_unit", "product", "attribute"], name="quota_unique_unit_product_attribute"
            ),
            models.CheckConstraint(
                condition=(
                    Q(attribute="", max_total__isnull=True, max_instances__isnull=False)
                    | (~Q(attribute="") & Q(max_total__isnull=False, max_instances__isnull=True))
                ),
                name="quota_one_limit",
                violation_error_message=(
                    "A quota limits either the number of instances (max instances) "
                    "or the total of an attribute (attribute and max total)."
                ),
            ),
            models.CheckConstraint(
                condition=Q(max_total__isnull=True) | Q(max_total__gte=0),
                name="quota_max_total_not_negative",
                violation_error_message="A quota's maximum total cannot be negative.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.business_unit}: {self.describe()}"

    def clean(self) -> None:
        """What the constraints cannot say: the product must make instances,
        and an attribute must be a number its instances have
        (``portal.consumption.attributes``)."""
        errors: dict[str, list[str]] = {}
        product = self.product if self.product_id else None
        if product is not None and not product.instance:
            errors["product"] = [f"{product.name} makes no instances: a quota counts instances."]
        if self.attribute and self.max_instances is not None:
            errors["max_instances"] = ["A quota on an attribute limits its total (max total), not a count."]
        if self.attribute and self.max_total is None:
            errors["max_total"] = ["A quota on an attribute needs its maximum total."]
        if not self.attribute and self.max_total is not None:
            errors["attribute"] = ["Name the attribute whose total is limited."]
        if not self.attribute and self.max_total is None and self.max_instances is None:
            errors["max_instances"] = ["Give a maximum number of instances, or an attribute and its total."]
        if product is not None and product.instance and self.attribute:
            problem = attribute_problem(product, self.attribute)
            if problem:
                errors["attribute"] = [problem + "."]
        if errors:
            raise ValidationError(errors)

    def describe(self) -> str:
        """The quota in words: "at most 10 instances of VM", "vcpus of VM at most 64"."""
        if not self.attribute:
            return f"at most {self.max_instances} instances of {self.product}"
        return f"{self.attribute} of {self.product} at most {format_amount(self.max_total)}"


def format_amount(value: object) -> str:
    """A limit or a use without trailing zeros: 64, 12.5."""
    if value is None:
        return ""
    text = f"{value:f}" if hasattr(value, "as_tuple") else str(value)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text
