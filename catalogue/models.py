from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models

from catalogue.choices import ApprovalPolicy, Fulfilment, OperationKind, OverQuota, ProductStatus
from catalogue.dynamic_choices import forms_naming_lists, reference_problems
from catalogue.fields import OrderedJSONField
from catalogue.schema import form_schema_problems
from runbooks.models import Runbook
from squads.choices import Role
from squads.models import Chapter, Squad


def empty_form() -> dict:
    return {"type": "object", "properties": {}}


def _reference_errors(schema: dict) -> dict[str, list[str]]:
    """The products and choice lists a form's dynamic choices name that do not exist."""
    problems = reference_problems(schema)
    if not problems:
        return {}
    return {
        "form_schema": [f"{'.'.join(str(part) for part in path)}: {message}" for path, message in problems]
    }


class Category(models.Model):
    """A shelf of the catalogue (Network, Compute…) that business users browse."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    position = models.PositiveIntegerField(default=0, help_text="Smaller comes first.")

    class Meta:
        ordering = ["position", "name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    """A service a squad offers to the business: what it is, who owns it, how
    it is ordered (its form), fulfilled (runbook or by hand), approved, and the
    service level the squad commits to."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    summary = models.CharField(max_length=300, blank=True)
    description = models.TextField(blank=True, help_text="Markdown; rendered sanitized.")
    tags = models.CharField(max_length=300, blank=True, help_text="Comma-separated search words.")
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="products")
    squad = models.ForeignKey(Squad, on_delete=models.PROTECT, related_name="products")
    status = models.CharField(
        max_length=16, choices=ProductStatus.choices, default=ProductStatus.DRAFT, db_index=True
    )
    fulfilment = models.CharField(max_length=16, choices=Fulfilment.choices, default=Fulfilment.AUTOMATED)
    runbook = models.ForeignKey(
        Runbook, on_delete=models.PROTECT, null=True, blank=True, related_name="products"
    )
    form_schema = OrderedJSONField(default=empty_form, blank=True)
    approval_policy = models.CharField(
        max_length=16, choices=ApprovalPolicy.choices, default=ApprovalPolicy.NONE
    )
    approval_remind_after_hours = models.PositiveIntegerField(
        default=24,
        help_text="Remind the approvers when an approval step waits this long (0: never).",
    )
    approval_escalate_after_hours = models.PositiveIntegerField(
        default=72,
        help_text="Escalate to the squad's product owners when a step waits this long (0: never).",
    )
    over_quota = models.CharField(
        max_length=16,
        choices=OverQuota.choices,
        default=OverQuota.REFUSE,
        help_text="An order that would exceed its business unit's quota is refused, "
        "or waits for approval with the excess stated.",
    )
    sla_minutes = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(1)], help_text="Committed lead time."
    )
    unit_cost = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="Per instance and month (showback).",
    )
    instance = models.BooleanField(
        default=False,
        help_text="A succeeded order creates a service instance its requester owns, "
        "changed and decommissioned afterwards by the product's operations.",
    )
    max_lifetime_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Instances expire this many days after creation (or their last extension): "
        "their owner is reminded, then the delete operation is ordered. Empty: never.",
    )
    depends_on = models.ManyToManyField("self", symmetrical=False, blank=True, related_name="dependents")
    # Bumped by the catalogue services on every change, so an order can record
    # exactly which definition of the product it was placed against.
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["category__position", "category__name", "name"]
        indexes = [models.Index(fields=["squad", "status"])]

    def __str__(self) -> str:
        return self.name

    @property
    def tag_list(self) -> list[str]:
        return [tag.strip() for tag in self.tags.split(",") if tag.strip()]

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        problems = form_schema_problems(self.form_schema)
        if problems:
            errors["form_schema"] = [str(problem) for problem in problems]
        else:
            errors.update(_reference_errors(self.form_schema))
        if self.squad_id and self.runbook is not None and self.runbook.squad_id != self.squad_id:
            errors.setdefault("runbook", []).append(
                "The runbook belongs to another squad; a product runs its own squad's runbooks."
            )
        if (
            self.status == ProductStatus.PUBLISHED
            and self.fulfilment == Fulfilment.AUTOMATED
            and not self.runbook_id
        ):
            errors.setdefault("runbook", []).append("A published automated product needs a runbook.")
        if (
            self.approval_remind_after_hours
            and self.approval_escalate_after_hours
            and self.approval_escalate_after_hours <= self.approval_remind_after_hours
        ):
            errors.setdefault("approval_escalate_after_hours", []).append(
                "Escalate later than you remind, or the reminder never comes first."
            )
        if self.max_lifetime_days and not self.instance:
            errors.setdefault("max_lifetime_days", []).append(
                "Only a product that creates instances has a lifetime."
            )
        if errors:
            raise ValidationError(errors)


class Operation(models.Model):
    """A day-2 operation of a product that creates instances: ordered like
    the product, against one of its instances, with its own runbook, form,
    approval policy and service level. Its form's fields default from the
    instance's attributes of the same name."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="operations")
    slug = models.SlugField(max_length=64)
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=OperationKind.choices, default=OperationKind.UPDATE)
    position = models.PositiveIntegerField(default=0, help_text="Smaller comes first.")
    description = models.CharField(max_length=300, blank=True)
    runbook = models.ForeignKey(Runbook, on_delete=models.PROTECT, related_name="operations")
    form_schema = OrderedJSONField(default=empty_form, blank=True)
    approval_policy = models.CharField(
        max_length=16, choices=ApprovalPolicy.choices, default=ApprovalPolicy.NONE
    )
    approval_remind_after_hours = models.PositiveIntegerField(default=24)
    approval_escalate_after_hours = models.PositiveIntegerField(default=72)
    sla_minutes = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(1)], help_text="Committed lead time."
    )

    class Meta:
        ordering = ["product", "position", "name"]
        constraints = [
            models.UniqueConstraint(fields=["product", "slug"], name="operation_unique_slug_per_product"),
        ]

    def __str__(self) -> str:
        return f"{self.product.name}: {self.name}" if self.product_id else self.name

    @property
    def squad_id(self) -> int | None:
        """The owning squad: the product's (approval steps read it)."""
        return self.product.squad_id if self.product_id else None

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        problems = form_schema_problems(self.form_schema)
        if problems:
            errors["form_schema"] = [str(problem) for problem in problems]
        else:
            errors.update(_reference_errors(self.form_schema))
        if self.product_id and not self.product.instance:
            errors.setdefault("product", []).append(
                "Only a product that creates instances (instance: true) has operations."
            )
        if self.product_id and self.runbook_id and self.runbook.squad_id != self.product.squad_id:
            errors.setdefault("runbook", []).append(
                "The runbook belongs to another squad; an operation runs its product's squad's runbooks."
            )
        if self.kind == OperationKind.EXTEND and self.product_id and not self.product.max_lifetime_days:
            errors.setdefault("kind", []).append(
                "An extend operation needs the product's max_lifetime_days: it extends by that lifetime."
            )
        if (
            self.approval_remind_after_hours
            and self.approval_escalate_after_hours
            and self.approval_escalate_after_hours <= self.approval_remind_after_hours
        ):
            errors.setdefault("approval_escalate_after_hours", []).append(
                "Escalate later than you remind, or the reminder never comes first."
            )
        if errors:
            raise ValidationError(errors)


class ApprovalStep(models.Model):
    """One step of a product's multi-step approval: who may approve (roles in
    the owning squad, roles in another squad, or a chapter) and how many
    distinct people must. Steps open one after another, in ``position``
    order; an order copies them when it is submitted. A step belongs to a
    product or to one of its operations, never both."""

    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, null=True, blank=True, related_name="approval_steps"
    )
    operation = models.ForeignKey(
        Operation, on_delete=models.CASCADE, null=True, blank=True, related_name="approval_steps"
    )
    position = models.PositiveIntegerField(default=0, help_text="Smaller comes first.")
    name = models.CharField(max_length=100)
    squad = models.ForeignKey(
        Squad,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Whose members approve; empty for the product's own squad.",
    )
    chapter = models.ForeignKey(
        Chapter,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="A chapter whose lead and members approve, instead of a squad.",
    )
    roles = models.JSONField(
        default=list,
        blank=True,
        help_text="Squad roles that may approve (empty: any member). Not used for a chapter.",
    )
    required_approvals = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1)], help_text="Distinct people who must approve."
    )

    class Meta:
        ordering = ["product", "position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(squad__isnull=True) | models.Q(chapter__isnull=True),
                name="approval_step_squad_or_chapter",
            ),
            models.CheckConstraint(
                condition=models.Q(product__isnull=False, operation__isnull=True)
                | models.Q(product__isnull=True, operation__isnull=False),
                name="approval_step_of_product_or_operation",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (position {self.position})"

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        if self.squad_id and self.chapter_id:
            errors["chapter"] = ["Name a squad or a chapter, not both."]
        roles = self.roles
        if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
            errors["roles"] = ["A list of role names."]
        else:
            unknown = sorted(set(roles) - set(Role.values))
            if unknown:
                errors["roles"] = [f"Unknown role(s) {', '.join(unknown)}; use {', '.join(Role.values)}."]
            if self.chapter_id and roles:
                errors.setdefault("roles", []).append(
                    "A chapter step has no roles: its lead and members approve."
                )
            if not (self.squad_id or self.chapter_id or roles):
                # Reading "anyone in the owning squad" into a blank step hid
                # steps left unfinished: who approves is said, not assumed.
                errors.setdefault("roles", []).append(
                    "Name who approves this step: a squad, a chapter or at least one role."
                )
        if errors:
            raise ValidationError(errors)


class ChoiceList(models.Model):
    """A list of options a squad curates (the firewall zones, the data
    centres) for forms to offer: ``x-choices-from: {squad_list: <slug>}``.
    Any product's form may use it; only its squad changes it."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=100)
    squad = models.ForeignKey(Squad, on_delete=models.PROTECT, related_name="choice_lists")
    description = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["squad", "name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.pk is None:
            return
        stored = ChoiceList.objects.filter(pk=self.pk).values_list("slug", flat=True).first()
        if stored is None or stored == self.slug:
            return
        # Forms name a list by its slug: renamed, it is gone for them.
        uses = forms_naming_lists([stored])
        if uses:
            raise ValidationError(
                {
                    "slug": f"Forms name this list by its slug {stored!r}: "
                    f"{'; '.join(str(use) for use in uses)}. Keep the slug, or change those forms first."
                }
            )


class ChoiceItem(models.Model):
    """One option of a choice list: the value a playbook receives, and the
    label people read."""

    choice_list = models.ForeignKey(ChoiceList, on_delete=models.CASCADE, related_name="items")
    value = models.CharField(max_length=200)
    label = models.CharField(max_length=200, blank=True, help_text="Shown to people; empty: the value.")
    position = models.PositiveIntegerField(default=0, help_text="Smaller comes first.")

    class Meta:
        ordering = ["choice_list", "position", "label"]
        constraints = [
            models.UniqueConstraint(fields=["choice_list", "value"], name="choice_item_unique_value"),
        ]

    def __str__(self) -> str:
        return self.label or self.value
