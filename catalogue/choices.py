from django.db import models


class ProductStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"
    RETIRED = "retired", "Retired"


class Fulfilment(models.TextChoices):
    AUTOMATED = "automated", "Automated"
    MANUAL = "manual", "Manual"


class ApprovalPolicy(models.TextChoices):
    NONE = "none", "No approval"
    SQUAD = "squad", "Owning squad approves"
    # Ordered steps, each naming who approves and how many approvals it needs
    # (``catalogue.models.ApprovalStep``).
    STEPS = "steps", "Multi-step approval"


class OperationKind(models.TextChoices):
    """What a day-2 operation does to a service instance when it succeeds."""

    UPDATE = "update", "Update"
    # An update that also pushes the instance's expiry a lifetime ahead.
    EXTEND = "extend", "Extend"
    # Decommissions the instance.
    DELETE = "delete", "Delete"


class OverQuota(models.TextChoices):
    """What happens to an order that would exceed its business unit's quota."""

    REFUSE = "refuse", "Refuse the order"
    # The order waits for the product's approvers (its squad when the
    # product needs no approval otherwise), the excess stated on it.
    APPROVAL = "approval", "Send it to approval"
