"""The one path of every change of an instance's state, driven by the
orders against it.

An instance's state changes only when an order against it moves: this
module registers ``instance_order_moved`` with the order domain
(``portal.orders.hooks``, from ``portal.apps``), which calls it inside the
transaction of every move. ``instance_move`` is the only writer of a state:
a conditional UPDATE on the state read just before, an entry on the
instance's history, the webhooks.

One order at a time works on an instance: ``busy_with`` is taken when an
operation is placed (or retried) with a conditional UPDATE that only an
idle instance in a fitting state matches, so of two concurrent operations
one wins and the other is refused naming the first; it is released when
that order ends.

How orders move instances:

- a create order (a product with ``instance``) makes its instance when it
  starts (``provisioning``); success makes it ``active`` with what the
  runbook reported; failure (or a cancel once it started) leaves it
  ``failed``, to retry or give up with the delete operation;
- an operation order makes it ``updating`` (``decommissioning`` for a
  delete) when it starts; success makes it ``active`` again (an extend
  also pushes its expiry a lifetime ahead) or ``decommissioned``; failure
  puts it back where it was, with the failure on its history; a cancelled
  or rejected operation changes nothing.

A decommissioned instance can no longer change hands: a pending offer of
it (``portal.instances.transfers``) ends with it.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone

from catalogue.choices import OperationKind
from portal.instances.attributes import clear_attributes, declared_secret_names, merged_fields, secret_values
from portal.instances.choices import OPERABLE_STATES, InstanceState, TransferState
from portal.instances.dependencies import instance_dependencies_set
from portal.instances.errors import InstanceBusy, InstanceError, InstanceNotOperable
from portal.instances.form_choices import chosen_instance_ids
from portal.instances.models import InstanceEvent, InstanceTransfer, ServiceInstance
from portal.instances.permissions import can_operate
from portal.instances.report import read_report
from portal.instances.selectors import monthly_cost, pending_transfer
from portal.integrations.webhooks.delivery import webhooks_instance_changed
from portal.notifications.choices import NotificationKind
from portal.notifications.services import notifications_settle_link, notify
from portal.orders.choices import RETRYABLE_STATUSES, TERMINAL_STATUSES, OrderStatus
from portal.orders.hooks import (
    OrderMove,
    RunContext,
    order_move_observer_register,
    order_run_context_register,
)
from portal.orders.models import Order
from runbooks.crypto import DecryptionError
from runbooks.services import run_notes_append, run_reported
from squads.selectors import display_name

logger = logging.getLogger(__name__)

EVENT_CREATED = "instance.created"
EVENT_CHANGED = "instance.changed"
EVENT_DECOMMISSIONED = "instance.decommissioned"

#: The order statuses in which an order is working on its instance.
WORKING = frozenset({OrderStatus.RUNNING, OrderStatus.AWAITING_FULFILMENT})
FAILURES = frozenset({OrderStatus.FAILED, OrderStatus.TIMED_OUT})


def instance_move(
    instance: ServiceInstance,
    *,
    to: str,
    allowed_from: frozenset[str] | set[str],
    order: Order | None,
    actor: User | None,
    message: str,
    **fields: Any,
) -> ServiceInstance:
    """Move ``instance`` to ``to`` if its state allows, recording the change
    on its history and telling the webhooks. Callers are inside a
    transaction (an order's move)."""
    current = ServiceInstance.objects.filter(pk=instance.pk).values_list("state", flat=True).first()
    if current is None or current not in allowed_from:
        raise InstanceNotOperable(f"{instance.name} is {_label(current)}; it cannot become {_label(to)}.")
    updated = ServiceInstance.objects.filter(pk=instance.pk, state=current).update(
        state=to, updated_at=timezone.now(), **fields
    )
    if updated != 1:
        raise InstanceNotOperable(f"{instance.name} was changed by someone else just now; reload it.")
    InstanceEvent.objects.create(
        instance_id=instance.pk, order=order, actor=actor, from_state=current, to_state=to, message=message
    )
    instance.refresh_from_db()
    if to == InstanceState.DECOMMISSIONED:
        _offer_end(instance)
    events: dict[str, str] = {InstanceState.DECOMMISSIONED: EVENT_DECOMMISSIONED}
    event = events.get(to, EVENT_CHANGED)
    if to == InstanceState.ACTIVE and current == InstanceState.PROVISIONING:
        event = EVENT_CREATED
    webhooks_instance_changed(
        instance_id=instance.pk,
        owner_id=instance.owner_id,
        squad_id=instance.product.squad_id,
        event=event,
        order_id=order.pk if order else None,
        payload_of=instance_payload,
    )
    return instance


def instance_note(
    instance: ServiceInstance, *, order: Order | None, actor: User | None, message: str
) -> None:
    """Record on the instance's history something that changed no state."""
    InstanceEvent.objects.create(
        instance_id=instance.pk,
        order=order,
        actor=actor,
        from_state=instance.state,
        to_state=instance.state,
        message=message,
    )


def instance_link(instance_id: int) -> str:
    """The instance's page, relative to the site (notifications link it)."""
    return f"/instances/{instance_id}/"


def _offer_end(instance: ServiceInstance) -> None:
    """A decommissioned instance is nobody's to take: a pending offer of it
    ends (``cancelled``), and the person it was offered to is told."""
    transfer = (
        InstanceTransfer.objects.select_related("to_user")
        .filter(instance_id=instance.pk, state=TransferState.PENDING)
        .first()
    )
    if transfer is None:
        return
    ended = InstanceTransfer.objects.filter(pk=transfer.pk, state=TransferState.PENDING).update(
        state=TransferState.CANCELLED, decided_at=timezone.now()
    )
    if not ended:
        return
    recipient = transfer.to_user
    instance_note(
        instance,
        order=None,
        actor=None,
        message=f"The offer to {display_name(recipient)} ended: {instance.name} was decommissioned",
    )
    link = instance_link(instance.pk)
    notifications_settle_link(recipient=recipient, kinds=(NotificationKind.TRANSFER_OFFERED,), link=link)
    notify(
        recipients=[recipient],
        kind=NotificationKind.TRANSFER_OFFERED,
        title=f"{instance.name} is no longer offered to you",
        body=f"{instance.name} ({instance.product.name}) was decommissioned before you accepted it.",
    )


#: Keys the payload carried before it took the API's ``Instance`` shape, kept
#: so receivers written for it keep working (``api_path``: ``url`` is
#: absolute). The schema marks them deprecated.
LEGACY_INSTANCE_KEYS = ("api_path",)


def instance_payload(instance_id: int) -> dict | None:
    """What a webhook receiver learns of an instance: every key of the API's
    ``Instance`` (a generated client's model reads it; secrets masked as
    there), ``url`` absolute through ``SQUADRON_BASE_URL`` and times in UTC,
    plus ``LEGACY_INSTANCE_KEYS``. The OpenAPI document's ``webhooks``
    describe it, and a test holds every event the suite sends to that."""
    instance = (
        ServiceInstance.objects.select_related("product", "owner", "business_unit")
        .filter(pk=instance_id)
        .first()
    )
    if instance is None:
        return None
    api_path = f"/api/v1/instances/{instance.pk}/"
    cost = monthly_cost(instance)
    offer = pending_transfer(instance)
    return {
        "id": instance.pk,
        "url": f"{settings.SQUADRON_BASE_URL}{api_path}",
        "name": instance.name,
        "state": instance.state,
        "product": {"slug": instance.product.slug, "name": instance.product.name},
        "owner": instance.owner.get_username(),
        "attributes": instance.attributes,
        "links": instance.links,
        "busy_with": instance.busy_with_id,
        "business_unit": instance.business_unit.slug if instance.business_unit is not None else None,
        "monthly_cost": f"{cost:.2f}" if cost is not None else None,
        "pending_transfer": {
            "from": offer.from_user.get_username(),
            "to": offer.to_user.get_username(),
            "note": offer.note,
            "created_at": _iso(offer.created_at),
        }
        if offer is not None
        else None,
        "expires_at": _iso(instance.expires_at),
        "created_at": _iso(instance.created_at),
        "updated_at": _iso(instance.updated_at),
        "decommissioned_at": _iso(instance.decommissioned_at),
        # LEGACY_INSTANCE_KEYS
        "api_path": api_path,
    }


def _iso(moment: Any) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _label(state: str | None) -> str:
    return InstanceState(state).label.lower() if state in InstanceState.values else "gone"


# --- Orders move instances ---------------------------------------------------


def instance_order_moved(move: OrderMove) -> None:
    """The order domain's move observer (``portal.orders.hooks``)."""
    order = move.order
    if order.operation_id is not None:
        _operation_moved(move)
    elif order.product.instance:
        _creation_moved(move)


def _may_retry(move: OrderMove, instance: ServiceInstance) -> None:
    """A retry works on the instance as it is now: whoever asks must be
    allowed to change it now. An order's requester may retry their order,
    but not once the instance they ordered it against is someone else's
    (handed over since): that would change, even decommission, what they
    gave away."""
    if move.actor is not None and not can_operate(move.actor, instance):
        raise InstanceNotOperable(
            f"{instance.name} is no longer yours to change: order #{move.order.pk} cannot run again. "
            "Its owner or its squad may order what it needs."
        )


def _creation_moved(move: OrderMove) -> None:
    order, to = move.order, move.to_status
    instance = _locked(order.instance_id) if order.instance_id else None
    if to == OrderStatus.QUEUED and move.from_status in RETRYABLE_STATUSES and instance is not None:
        _may_retry(move, instance)
        _take(instance, order, allowed=frozenset({InstanceState.FAILED}))
        return
    if to in WORKING or to == OrderStatus.SUCCEEDED:
        if instance is None:
            instance = _instance_create(order, actor=move.actor)
        elif instance.state == InstanceState.FAILED:
            instance_move(
                instance,
                to=InstanceState.PROVISIONING,
                allowed_from={InstanceState.FAILED},
                order=order,
                actor=move.actor,
                message=f"Creation tried again (order #{order.pk})",
            )
    if instance is None or to not in TERMINAL_STATUSES:
        return
    _settled(instance, move, _creation_outcome(instance, move))


def _creation_outcome(instance: ServiceInstance, move: OrderMove) -> tuple[str, str, dict[str, Any]]:
    """Where a create order's end leaves its instance: (state, message, fields)."""
    order = move.order
    if move.to_status == OrderStatus.SUCCEEDED:
        fields = _reported_fields(instance, order)
        lifetime = order.product.max_lifetime_days
        if lifetime:
            fields["expires_at"] = timezone.now() + timedelta(days=lifetime)
            fields["expiry_reminders"] = 0
        return InstanceState.ACTIVE, f"Created by order #{order.pk}", fields
    if move.to_status in FAILURES:
        reason = order.failure_reason or move.note
        return InstanceState.FAILED, f"Creation failed (order #{order.pk}): {reason}", {}
    return (
        InstanceState.FAILED,
        f"Creation stopped (order #{order.pk} {move.to_status}); what it made may remain: "
        "decommission it to clean up.",
        {},
    )


def _operation_moved(move: OrderMove) -> None:
    order, to = move.order, move.to_status
    operation = order.operation
    assert operation is not None  # only an operation order reaches here (instance_order_moved)
    instance = _locked(order.instance_id)
    if instance is None:
        return
    if move.from_status == "" or (to == OrderStatus.QUEUED and move.from_status in RETRYABLE_STATUSES):
        if move.from_status:
            _may_retry(move, instance)
        _take(instance, order, allowed=OPERABLE_STATES[operation.kind])
        if move.from_status == "":
            who = "Squadron" if move.actor is None else _name(move.actor)
            instance_note(
                instance,
                order=order,
                actor=move.actor,
                message=f"{operation.name} ordered by {who} (order #{order.pk})",
            )
    if to in WORKING:
        target = (
            InstanceState.DECOMMISSIONING
            if operation.kind == OperationKind.DELETE
            else InstanceState.UPDATING
        )
        if instance.state != target:
            try:
                instance_move(
                    instance,
                    to=target,
                    allowed_from=OPERABLE_STATES[operation.kind],
                    order=order,
                    actor=move.actor,
                    message=f"{operation.name} started (order #{order.pk})",
                    state_before=instance.state,
                )
            except InstanceError as error:
                # Cannot happen while the order holds the instance; should it,
                # the run must not be refused by a worker that would then
                # leave the order queued for the sweep to send again and again.
                logger.error("instance %s: order %s started but: %s", instance.pk, order.pk, error)
        return
    if to in TERMINAL_STATUSES:
        _settled(instance, move, _operation_outcome(instance, move))


def _operation_outcome(instance: ServiceInstance, move: OrderMove) -> tuple[str, str, dict[str, Any]]:
    order = move.order
    operation = order.operation
    assert operation is not None  # an operation order's outcome (_operation_moved)
    worked = instance.state in (InstanceState.UPDATING, InstanceState.DECOMMISSIONING)
    before = (instance.state_before or InstanceState.ACTIVE) if worked else instance.state
    if move.to_status == OrderStatus.SUCCEEDED:
        if operation.kind == OperationKind.DELETE:
            fields: dict[str, Any] = {"decommissioned_at": timezone.now(), "expires_at": None}
            return (
                InstanceState.DECOMMISSIONED,
                f"{operation.name}: decommissioned by order #{order.pk}",
                fields,
            )
        fields = _reported_fields(instance, order)
        message = f"{operation.name} done (order #{order.pk})"
        if operation.kind == OperationKind.EXTEND and order.product.max_lifetime_days:
            fields["expires_at"] = timezone.now() + timedelta(days=order.product.max_lifetime_days)
            fields["expiry_reminders"] = 0
            message += f"; now expires on {fields['expires_at']:%Y-%m-%d}"
        return InstanceState.ACTIVE, message, fields
    if move.to_status in FAILURES:
        reason = order.failure_reason or move.note
        return before, f"{operation.name} failed (order #{order.pk}): {reason}", {}
    return before, f"{operation.name} {move.to_status} (order #{order.pk}): nothing changed", {}


def _settled(instance: ServiceInstance, move: OrderMove, outcome: tuple[str, str, dict[str, Any]]) -> None:
    """Give the instance the outcome of the order that worked on it and free
    it. Never raises: the order's end already happened and must be recorded."""
    state, message, fields = outcome
    order = move.order
    try:
        if state == instance.state:
            ServiceInstance.objects.filter(pk=instance.pk).update(updated_at=timezone.now(), **fields)
            instance_note(instance, order=order, actor=move.actor, message=message)
        else:
            instance_move(
                instance,
                to=state,
                allowed_from={instance.state},
                order=order,
                actor=move.actor,
                message=message,
                state_before="",
                **fields,
            )
    except InstanceError as error:
        logger.error("instance %s: order %s ended %s but: %s", instance.pk, order.pk, move.to_status, error)
    ServiceInstance.objects.filter(pk=instance.pk, busy_with=order).update(busy_with=None)


def _locked(instance_id: int | None) -> ServiceInstance | None:
    if instance_id is None:
        return None
    return ServiceInstance.objects.select_for_update().filter(pk=instance_id).first()


def _take(instance: ServiceInstance, order: Order, *, allowed: frozenset[str]) -> None:
    """Make ``order`` the one working on ``instance``, or refuse naming why."""
    taken = ServiceInstance.objects.filter(pk=instance.pk, busy_with__isnull=True, state__in=allowed).update(
        busy_with=order, updated_at=timezone.now()
    )
    if taken:
        return
    current = ServiceInstance.objects.select_related("busy_with__operation", "busy_with__product").get(
        pk=instance.pk
    )
    if current.busy_with_id == order.pk:
        return
    if current.busy_with is not None:
        running = current.busy_with
        what = (
            running.operation.name
            if running.operation is not None
            else f"creating it ({running.product.name})"
        )
        status = running.get_status_display().lower()
        raise InstanceBusy(
            f"{current.name} is busy with order #{running.pk} ({what}, {status}); "
            "one operation at a time: wait until it ends.",
            order_id=running.pk,
        )
    operation = order.operation
    if operation is None:
        raise InstanceNotOperable(f"{current.name} is {_label(current.state)}: it cannot be created again.")
    raise InstanceNotOperable(
        f"{current.name} is {_label(current.state)}: {operation.name} cannot be ordered for it."
    )


def _instance_create(order: Order, *, actor: User | None) -> ServiceInstance:
    instance = ServiceInstance.objects.create(
        product=order.product,
        owner=order.requester,
        name=f"{order.product.name} #{order.pk}",
        state=InstanceState.PROVISIONING,
        created_by_order=order,
        # Charged to the unit the order was for (DESIGN.md, business units).
        business_unit_id=order.business_unit_id,
        busy_with=order,
    )
    Order.objects.filter(pk=order.pk).update(instance=instance)
    order.instance = instance
    InstanceEvent.objects.create(
        instance=instance,
        order=order,
        actor=actor,
        from_state="",
        to_state=InstanceState.PROVISIONING,
        message=f"Being created by order #{order.pk}",
    )
    chosen = list(dict.fromkeys(chosen_instance_ids(order).values()))
    if chosen:
        # An instance picked in the form (the VLAN a VM attaches to) is one
        # the new instance needs; the same checks as a reported dependency.
        instance_dependencies_set(instance=instance, depends_on=chosen, order=order)
    return instance


def _reported_fields(instance: ServiceInstance, order: Order) -> dict[str, Any]:
    """The instance's columns after what the order's run reported (its
    dependencies are recorded at once); what had to be left out is said in
    the run's log."""
    run = order.current_run
    if run is None:
        return {}
    try:
        reported = run_reported(run)
        known = secret_values(instance)
    except DecryptionError:
        run_notes_append(
            run_id=run.pk,
            lines=["Squadron could not read what the playbook reported (undecryptable); it was ignored."],
        )
        return {}
    report = read_report(reported, secret_names=declared_secret_names(order.product), known_secrets=known)
    if report.depends_on is not None:
        # A report replaces the dependencies, but not those its form picked.
        report.depends_on = list(dict.fromkeys([*report.depends_on, *chosen_instance_ids(order).values()]))
        report.depends_on, left_out = instance_dependencies_set(
            instance=instance, depends_on=report.depends_on, order=order
        )
        report.ignored.extend(left_out)
    lines = list(report.ignored)
    if report.reported:
        lines.insert(0, report.summary())
    run_notes_append(run_id=run.pk, lines=lines)
    return merged_fields(instance, report) if report.reported else {}


def _name(user: User) -> str:
    full_name = getattr(user, "get_full_name", lambda: "")()
    return full_name or user.get_username()


# --- The instance's side of an order's run ------------------------------------


def instance_run_context(order: Order) -> RunContext:
    """``squadron_instance`` for an operation's run (clear attributes: the
    playbook may need a secret one; they are masked in its output)."""
    if order.operation_id is None or order.instance_id is None:
        return RunContext()
    instance = ServiceInstance.objects.select_related("product").get(pk=order.instance_id)
    return RunContext(
        variables={
            "squadron_instance": {
                "id": instance.pk,
                "name": instance.name,
                "product": instance.product.slug,
                "attributes": clear_attributes(instance),
                "created_at": _iso(instance.created_at),
            }
        },
        secrets=secret_values(instance),
    )


def register() -> None:
    """Hook this domain into the orders' moves and runs (``portal.apps``)."""
    order_move_observer_register("instances", instance_order_moved)
    order_run_context_register("instances", instance_run_context)
