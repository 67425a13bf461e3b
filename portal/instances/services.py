"""State changes of instances that people (and beat) ask for: ordering an
operation, and what happens as an instance nears and reaches its expiry.

The state itself moves only with the orders (``portal.instances.lifecycle``):
these services place orders and send reminders.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from catalogue.choices import OperationKind
from catalogue.models import Operation
from portal.instances.attributes import form_defaults
from portal.instances.choices import OPERABLE_STATES, InstanceState
from portal.instances.errors import (
    InstanceBusy,
    InstanceNotAllowed,
    InstanceNotFound,
    InstanceNotOperable,
    UnknownOperation,
)
from portal.instances.lifecycle import instance_note
from portal.instances.models import ServiceInstance
from portal.instances.permissions import can_operate, can_view
from portal.notifications.choices import NotificationKind
from portal.notifications.services import notify
from portal.orders.errors import OrderError
from portal.orders.models import Order
from portal.orders.submission import order_submit

logger = logging.getLogger(__name__)

#: Reminders before expiry: (how long before, the stage reached once sent).
REMINDERS = ((timedelta(days=1), 2), (timedelta(days=7), 1))
#: ``ServiceInstance.expiry_reminders`` once Squadron ordered the decommissioning.
EXPIRY_ORDERED = 3


def instance_link(instance_id: int) -> str:
    return f"/instances/{instance_id}/"


def operation_of(instance: ServiceInstance, slug: object) -> Operation:
    operation = (
        instance.product.operations.select_related("runbook__current_version").filter(slug=slug).first()
        if isinstance(slug, str)
        else None
    )
    if operation is None:
        offered = ", ".join(instance.product.operations.values_list("slug", flat=True)) or "none"
        raise UnknownOperation(f"{instance.product.name} has no operation {slug!r} (it offers: {offered}).")
    return operation


def operation_order(
    *,
    actor: User,
    instance: ServiceInstance,
    operation: str | Operation,
    inputs: object,
    business_unit: str | None = None,
) -> Order:
    """Order ``operation`` (a slug, or the operation) of the instance's
    product against ``instance``. Refused, creating nothing, for someone
    who may not see it (``InstanceNotFound``) or operate it, an unknown
    operation, an instance past operating or busy with another order, or
    inputs that do not fit the operation's form (``InvalidInputs``). It
    counts against the instance's business unit; ``business_unit``, when
    given, must name that unit."""
    if not can_view(actor, instance):
        raise InstanceNotFound("No such instance.")
    if not can_operate(actor, instance):
        raise InstanceNotAllowed("Only the owner and the squad running the service order its operations.")
    chosen = operation if isinstance(operation, Operation) else operation_of(instance, operation)
    if chosen.product_id != instance.product_id:
        raise UnknownOperation(f"{chosen.name} is not an operation of {instance.product.name}.")
    _check_operable(instance, chosen)
    return order_submit(
        requester=actor,
        product=instance.product,
        inputs=inputs,
        operation=chosen,
        instance_id=instance.pk,
        business_unit=business_unit,
        form_schema=form_defaults(instance, chosen.form_schema or {}),
    )


def _check_operable(instance: ServiceInstance, operation: Operation) -> None:
    """The refusals the placement would make, said before the inputs are
    judged (the placement makes them again, race-safe)."""
    instance.refresh_from_db()
    if instance.busy_with_id is not None:
        raise InstanceBusy(
            f"{instance.name} is busy with order #{instance.busy_with_id}; one operation at a time: "
            "wait until it ends.",
            order_id=instance.busy_with_id,
        )
    if instance.state not in OPERABLE_STATES[operation.kind]:
        raise InstanceNotOperable(
            f"{instance.name} is {instance.get_state_display().lower()}: "
            f"{operation.name} cannot be ordered for it."
        )


# --- Expiry ----------------------------------------------------------------------------


@dataclass
class ExpiryReport:
    reminded: list[int] = field(default_factory=list)
    decommission_ordered: list[int] = field(default_factory=list)
    not_ordered: list[int] = field(default_factory=list)


def instances_expiry_check(*, now: datetime | None = None) -> ExpiryReport:
    """Remind owners a week and a day before their instances expire, and
    order the delete operation of each expired one (run by beat)."""
    now = now or timezone.now()
    report = ExpiryReport()
    for before, stage in REMINDERS:
        due = ServiceInstance.objects.filter(
            state=InstanceState.ACTIVE,
            expires_at__lte=now + before,
            expires_at__gt=now,
            expiry_reminders__lt=stage,
        ).select_related("owner", "product")
        for instance in due:
            if _remind(instance, stage):
                report.reminded.append(instance.pk)
    expired = ServiceInstance.objects.filter(
        state=InstanceState.ACTIVE,
        expires_at__lte=now,
        expiry_reminders__lt=EXPIRY_ORDERED,
        busy_with__isnull=True,
    ).select_related("owner", "product")
    for instance in expired:
        if _decommission_expired(instance):
            report.decommission_ordered.append(instance.pk)
        else:
            report.not_ordered.append(instance.pk)
    return report


def _remind(instance: ServiceInstance, stage: int) -> bool:
    with transaction.atomic():
        claimed = ServiceInstance.objects.filter(pk=instance.pk, expiry_reminders__lt=stage).update(
            expiry_reminders=stage
        )
        if not claimed:
            return False
        when = "tomorrow" if stage == 2 else "in a week"
        notify(
            recipients=[instance.owner],
            kind=NotificationKind.INSTANCE_EXPIRING,
            title=f"{instance.name} ({instance.product.name}) expires {when}",
            body=f"It expires on {instance.expires_at:%Y-%m-%d %H:%M} UTC and will then be decommissioned. "
            "Extend it from its page if you still need it.",
            link=instance_link(instance.pk),
        )
    return True


def _decommission_expired(instance: ServiceInstance) -> bool:
    """Order the instance's delete operation on its owner's behalf, as the
    system, once per expiry. False when it cannot be (no delete operation,
    refused): its history says why, for its squad to act."""
    claimed = ServiceInstance.objects.filter(pk=instance.pk, expiry_reminders__lt=EXPIRY_ORDERED).update(
        expiry_reminders=EXPIRY_ORDERED
    )
    if not claimed:
        return False
    delete = instance.product.operations.filter(kind=OperationKind.DELETE).order_by("position", "id").first()
    try:
        if delete is None:
            raise UnknownOperation("its product offers no delete operation")
        with transaction.atomic():
            order = order_submit(
                requester=instance.owner,
                product=instance.product,
                inputs={},
                operation=delete,
                instance_id=instance.pk,
                system_note=f"Ordered by Squadron: {instance.name} expired",
            )
            notify(
                recipients=[instance.owner],
                kind=NotificationKind.INSTANCE_EXPIRED,
                title=f"{instance.name} ({instance.product.name}) expired and is being decommissioned",
                body=f"Squadron ordered {delete.name} (order #{order.pk}).",
                order=order,
                link=instance_link(instance.pk),
            )
    except OrderError as error:
        logger.warning("instance %s expired but could not be decommissioned: %s", instance.pk, error)
        message = f"Expired, but Squadron could not order its decommissioning: {error}"
        instance_note(instance, order=None, actor=None, message=message)
        return False
    return True
