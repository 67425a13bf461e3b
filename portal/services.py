"""Every change of an order's state. Views, API, admin, tasks and commands call
these functions and nothing else, so one set of rules holds everywhere.

Transitions are guarded by a conditional UPDATE on the status read just
before (``_move``): of two concurrent callers exactly one wins, the other gets
``IllegalTransition``. A task is dispatched only after the transaction that
queued the order has committed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from catalogue.choices import ApprovalPolicy, Fulfilment, ProductStatus
from catalogue.inputs import split_secrets, validate_inputs
from catalogue.models import Product
from catalogue.schema import secret_fields
from portal import approvals, permissions
from portal.celery import app as celery_app
from portal.celery import send_or_leave_for_sweep
from portal.choices import NotificationKind
from portal.insights.services import sweep_recoveries_record
from portal.notifications import (
    APPROVAL_KINDS,
    QUEUE_KINDS,
    notification_emails_resend,
    notifications_settle,
    notify,
)
from portal.orders.choices import CANCELLABLE_STATUSES, RETRYABLE_STATUSES, TERMINAL_STATUSES, OrderStatus
from portal.orders.models import Order, OrderApproval, OrderDryRun, OrderEvent, OrderRun
from portal.webhooks import webhooks_order_changed
from runbooks.choices import CancelOutcome, RunStatus
from runbooks.crypto import DecryptionError, decrypt_json, encrypt_json
from runbooks.executor import execute_run, private_dirs_cleanup, worker_gone
from runbooks.models import Run, Runbook
from runbooks.services import (
    WORKER_LOST,
    RunError,
    run_abandon,
    run_create,
    run_mark_lost_with_worker,
    run_request_cancel,
    runs_mark_lost,
)
from squads.choices import Role
from squads.models import Membership
from squads.selectors import display_name

logger = logging.getLogger(__name__)

EXECUTE_TASK = "portal.execute_order"
DRY_RUN_TASK = "portal.execute_dry_run"
#: The tasks that run a runbook: a worker runs them only from its runbook's queue.
RUN_TASKS = frozenset({EXECUTE_TASK, DRY_RUN_TASK})

RUN_TO_ORDER_STATUS = {
    RunStatus.SUCCEEDED: OrderStatus.SUCCEEDED,
    RunStatus.FAILED: OrderStatus.FAILED,
    RunStatus.TIMED_OUT: OrderStatus.TIMED_OUT,
    RunStatus.CANCELLED: OrderStatus.CANCELLED,
    RunStatus.LOST: OrderStatus.FAILED,
}
#: Once an order is here its secret inputs are destroyed: it can never run again.
FINAL_STATUSES = {OrderStatus.SUCCEEDED, OrderStatus.CANCELLED, OrderStatus.REJECTED}


#: How a notification says what happened to an order.
STATUS_PHRASES = {
    OrderStatus.PENDING_APPROVAL: "waits for approval",
    OrderStatus.REJECTED: "was rejected",
    OrderStatus.QUEUED: "is queued to run",
    OrderStatus.RUNNING: "is running",
    OrderStatus.AWAITING_FULFILMENT: "is in the squad's queue",
    OrderStatus.SUCCEEDED: "succeeded",
    OrderStatus.FAILED: "failed",
    OrderStatus.TIMED_OUT: "timed out",
    OrderStatus.CANCELLED: "was cancelled",
}


def _sentence(text: str) -> str:
    """``text`` ending as a sentence, whatever punctuation the person typed."""
    text = text.strip()
    return text if text.endswith((".", "!", "?", "…")) else f"{text}."


class OrderError(Exception):
    """A refused change to an order, with a message fit for the user."""


class OrderNotAllowed(OrderError):
    """The actor may not do this to this order."""


class IllegalTransition(OrderError):
    """The order's status does not allow this move (perhaps any more)."""


class InvalidInputs(OrderError):
    """Inputs do not fit the product's form; ``errors`` maps field -> messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("The inputs do not fit the product's form.")
        self.errors = errors


class ProductNotOrderable(OrderError):
    """The product is not published (draft or retired) or cannot run."""


User = AbstractBaseUser


def _move(
    order: Order,
    *,
    to: str,
    allowed_from: frozenset[str] | set[str],
    actor: User | None,
    note: str = "",
    **fields: object,
) -> Order:
    """Move ``order`` to ``to`` if its current status allows, recording the event.

    The UPDATE matches the exact status read just before, so a concurrent move
    makes it match no row and this one is refused rather than both winning.
    """
    now = timezone.now()
    with transaction.atomic():
        current = Order.objects.filter(pk=order.pk).values_list("status", flat=True).first()
        if current not in allowed_from:
            raise IllegalTransition(f"Order #{order.pk} is {_label(current)}; it cannot become {_label(to)}.")
        updated = Order.objects.filter(pk=order.pk, status=current).update(
            status=to, updated_at=now, **fields
        )
        if updated != 1:
            raise IllegalTransition(f"Order #{order.pk} was changed by someone else just now; reload it.")
        OrderEvent.objects.create(
            order_id=order.pk, actor=actor, from_status=current, to_status=to, note=note
        )
        order.refresh_from_db()
        _order_changed(order, from_status=current or "", to_status=to, actor=actor, note=note)
    return order


def _order_changed(order: Order, *, from_status: str, to_status: str, actor: User | None, note: str) -> None:
    """Tell the people concerned that an order changed status (inside the
    transaction of the change: the notifications commit with it or not at all)."""
    webhooks_order_changed(order_id=order.pk, from_status=from_status, to_status=to_status)
    product = order.product
    title = f"Order #{order.pk} ({product.name}) {STATUS_PHRASES[to_status]}"
    if from_status:
        finished = to_status in TERMINAL_STATUSES
        kind = NotificationKind.ORDER_FINISHED if finished else NotificationKind.ORDER_PROGRESS
        notify(recipients=[order.requester], kind=kind, title=title, body=note, order=order, exclude=actor)
    if from_status == OrderStatus.PENDING_APPROVAL:
        notifications_settle(order=order, kinds=APPROVAL_KINDS)
    elif from_status == OrderStatus.AWAITING_FULFILMENT:
        notifications_settle(order=order, kinds=QUEUE_KINDS)
    if to_status == OrderStatus.PENDING_APPROVAL:
        _notify_approvers(order, NotificationKind.APPROVAL_REQUESTED, actor=actor)
    elif to_status == OrderStatus.AWAITING_FULFILMENT:
        notify(
            recipients=order.squad.members.all(),
            kind=NotificationKind.MANUAL_QUEUED,
            title=f"Order #{order.pk} ({product.name}) waits in {order.squad.name}'s queue",
            body=f"Requested by {display_name(order.requester)}. Claim it in the squad queue.",
            order=order,
            exclude=actor,
        )


def _notify_approvers(order: Order, kind: str, *, actor: User | None = None) -> None:
    step = approvals.current_step(order)
    if step is None:
        return
    what = {
        NotificationKind.APPROVAL_REQUESTED: "waits for your approval",
        NotificationKind.APPROVAL_REMINDER: "still waits for your approval",
    }[kind]
    notify(
        recipients=approvals.approvers_of_step(order),
        kind=kind,
        title=f"Order #{order.pk} ({order.product.name}) {what}",
        body=f"Step {order.approval_step + 1} of {len(order.approval_steps)}: {step['name']}. "
        f"Requested by {order.requester}.",
        order=order,
        exclude=actor,
    )


def _refreshed(order: Order) -> Order:
    order.refresh_from_db()
    return order


def _note(order: Order, *, actor: User | None, note: str) -> None:
    """Record something that happened to the order without a status change."""
    OrderEvent.objects.create(
        order_id=order.pk, actor=actor, from_status=order.status, to_status=order.status, note=note
    )


def _label(status: str | None) -> str:
    return OrderStatus(status).label.lower() if status in OrderStatus.values else "gone"


# --- Submission and approval -----------------------------------------------


def order_submit(*, requester: User, product: Product, inputs: object) -> Order:
    """Place an order. Refuses an unpublished product or inputs that do not fit
    its form (``InvalidInputs`` with per-field messages) and then creates nothing."""
    if product.status != ProductStatus.PUBLISHED:
        raise ProductNotOrderable(f"{product.name} is not available for ordering ({product.status}).")
    automated = product.fulfilment == Fulfilment.AUTOMATED
    runbook_version = product.runbook.current_version if automated and product.runbook else None
    if automated and runbook_version is None:
        raise ProductNotOrderable(f"{product.name} has no runbook to run yet.")
    schema = product.form_schema or {"type": "object", "properties": {}}
    completed, errors = validate_inputs(schema, inputs)
    if errors:
        raise InvalidInputs(errors)
    masked, secrets = split_secrets(schema, completed)
    steps = approvals.steps_for(product)
    if product.approval_policy == ApprovalPolicy.STEPS and not steps:
        raise ProductNotOrderable(f"{product.name} has no approval steps yet; its squad must add them.")
    if steps:
        status = OrderStatus.PENDING_APPROVAL
    elif automated:
        status = OrderStatus.QUEUED
    else:
        status = OrderStatus.AWAITING_FULFILMENT
    now = timezone.now()
    with transaction.atomic():
        order = Order.objects.create(
            created_at=now,
            requester=requester,
            product=product,
            product_version=product.version,
            runbook_version=runbook_version,
            squad_id=product.squad_id,
            fulfilment=product.fulfilment,
            approval_policy=product.approval_policy,
            form_schema=schema,
            inputs=masked,
            secret_inputs_ciphertext=encrypt_json(secrets) if secrets else "",
            status=status,
            queued_at=now if status == OrderStatus.QUEUED else None,
            approval_steps=steps,
            approval_step=0,
            approval_step_opened_at=now if steps else None,
            approval_remind_after_hours=product.approval_remind_after_hours,
            approval_escalate_after_hours=product.approval_escalate_after_hours,
            **approvals.open_step_fields(steps, 0),
        )
        OrderEvent.objects.create(
            order=order, actor=requester, from_status="", to_status=status, note="Submitted"
        )
        _order_changed(order, from_status="", to_status=status, actor=requester, note="Submitted")
        if status == OrderStatus.QUEUED:
            _dispatch_on_commit(order.pk, product.runbook)  # the version's runbook, in hand
    logger.info("order %s submitted for %s by %s: %s", order.pk, product.slug, requester, status)
    return order


def _locked(order: Order) -> Order:
    """The order's row, locked until the transaction ends, so that deciding
    callers queue behind each other (SQLite's IMMEDIATE transactions do the
    same for the whole database)."""
    return Order.objects.select_for_update().select_related("product", "squad", "requester").get(pk=order.pk)


def _decide(order: Order, actor: User, decision: str, comment: str) -> Order:
    """Lock a waiting order and record ``actor``'s decision on its open step,
    or refuse (nothing written) if they may not decide it."""
    locked = _locked(order)
    if locked.status != OrderStatus.PENDING_APPROVAL:
        raise IllegalTransition(
            f"Order #{order.pk} is {_label(locked.status)}; it is not waiting for approval."
        )
    reason = approvals.refusal(actor, locked)
    if reason:
        raise OrderNotAllowed(reason)
    try:
        with transaction.atomic():
            OrderApproval.objects.create(
                order=locked, step=locked.approval_step, approver=actor, decision=decision, comment=comment
            )
    except IntegrityError:
        # The same person deciding twice at once: the constraint lets one in.
        raise OrderNotAllowed("You already decided on this order.") from None
    return locked


def order_approve(*, order: Order, actor: User, note: str = "") -> Order:
    """Approve the open step of a waiting order. When the step has all the
    approvals it needs the next step opens; after the last step the order is
    queued (automated) or lands in the squad's manual queue.

    Separation of duties: nobody approves their own order, and a person
    counts once across all the steps of an order.
    """
    note = note.strip()
    now = timezone.now()
    with transaction.atomic():
        locked = _decide(order, actor, OrderApproval.Decision.APPROVED, note)
        steps = locked.approval_steps
        index = locked.approval_step
        step = steps[index]
        approved = OrderApproval.objects.filter(
            order=locked, step=index, decision=OrderApproval.Decision.APPROVED
        ).count()
        where = f"step {index + 1}/{len(steps)} ({step['name']})"
        said = f": {note.strip()}" if note.strip() else ""
        if approved < step["required"]:
            _note(locked, actor=actor, note=f"Approved {where}, {approved} of {step['required']}{said}")
            return _refreshed(locked)
        if index + 1 < len(steps):
            Order.objects.filter(pk=locked.pk).update(
                approval_step=index + 1,
                approval_step_opened_at=now,
                approval_reminded_at=None,
                approval_escalated_at=None,
                updated_at=now,
                **approvals.open_step_fields(steps, index + 1),
            )
            locked = _refreshed(locked)
            opens = f"Step {index + 2} ({steps[index + 1]['name']}) opens."
            _note(locked, actor=actor, note=f"{_sentence(f'Approved {where}{said}')} {opens}")
            notifications_settle(order=locked, kinds=APPROVAL_KINDS)  # this step is decided
            _notify_approvers(locked, NotificationKind.APPROVAL_REQUESTED, actor=actor)
            return locked
        automated = locked.fulfilment == Fulfilment.AUTOMATED
        locked = _move(
            locked,
            to=OrderStatus.QUEUED if automated else OrderStatus.AWAITING_FULFILMENT,
            allowed_from={OrderStatus.PENDING_APPROVAL},
            actor=actor,
            note=f"Approved {where}{said}",
            approved_at=now,
            queued_at=now if automated else None,
            **approvals.open_step_fields(steps, len(steps)),
        )
        if automated:
            _dispatch_on_commit(locked.pk)
    return locked


def order_reject(*, order: Order, actor: User, reason: str) -> Order:
    """Reject a waiting order: one rejection, at any step, ends it."""
    reason = (reason or "").strip()
    if not reason:
        raise OrderError("Give the requester a reason for the rejection.")
    with transaction.atomic():
        locked = _decide(order, actor, OrderApproval.Decision.REJECTED, reason)
        return _move(
            locked,
            to=OrderStatus.REJECTED,
            allowed_from={OrderStatus.PENDING_APPROVAL},
            actor=actor,
            note=reason,
            finished_at=timezone.now(),
            failure_reason=reason,
            secret_inputs_ciphertext="",
            **approvals.open_step_fields(locked.approval_steps, len(locked.approval_steps)),
        )


def order_dry_run(*, order: Order, actor: User) -> OrderDryRun:
    """Run the order's runbook version in check mode (changes nothing) so
    that whoever decides can see what it would do. One at a time per order:
    asking again while one is under way returns that one."""
    if not (approvals.can_decide(actor, order) or permissions.is_owner_side(actor, order)):
        raise OrderNotAllowed("Only the approvers and the owning squad can preview this order.")
    order.refresh_from_db()
    if order.status != OrderStatus.PENDING_APPROVAL:
        raise IllegalTransition("A dry run previews an order waiting for approval.")
    version = order.runbook_version
    if order.fulfilment != Fulfilment.AUTOMATED or version is None:
        raise IllegalTransition("A manually fulfilled order has no runbook to preview.")
    if not version.runbook.supports_check_mode:
        raise IllegalTransition(f"The runbook {version.runbook.name} does not support check mode.")
    with transaction.atomic():
        _locked(order)
        under_way = (
            OrderDryRun.objects.select_related("run")
            .filter(order=order, run__status__in=[RunStatus.PENDING, RunStatus.RUNNING])
            .first()
        )
        if under_way is not None:
            return under_way
        run = run_create(runbook_version=version, masked_inputs=order.inputs, check_mode=True)
        dry_run = OrderDryRun.objects.create(order=order, run=run, requested_by=actor)
        _note(order, actor=actor, note=f"Dry run {run.pk} requested (check mode)")
        transaction.on_commit(lambda: _dispatch_dry_run(dry_run.pk))
    return dry_run


def _dispatch_dry_run(dry_run_id: int) -> bool:
    dry_run = OrderDryRun.objects.select_related("run__runbook_version__runbook").get(pk=dry_run_id)
    return _send_run_task(DRY_RUN_TASK, dry_run_id, dry_run.run.runbook_version.runbook)


def _send_run_task(task: str, object_id: int, runbook: Runbook) -> bool:
    """Send a task that runs ``runbook`` to the workers of its queue, with
    time limits past the runbook's own timeout (the executor enforces that
    one; these only catch a worker that hangs). Never raises: with the broker
    down it returns False and the sweep sends the task again later."""
    return send_or_leave_for_sweep(
        task,
        object_id,
        what=task,
        time_limit=runbook.timeout + 120,
        soft_time_limit=runbook.timeout + 60,
        # Always named, never left to routing: the worker checks the message
        # was published for exactly this queue (portal.task_signing).
        queue=run_task_queue(runbook),
    )


def run_task_queue(runbook: Runbook) -> str:
    """The queue whose workers run ``runbook``: its own, or the default one."""
    return runbook.queue or celery_app.conf.task_default_queue


def _order_of_run_task(task: str, object_id: object) -> Order | None:
    """The order a run task's message names (a dry run's, for a dry run),
    read from arguments that may be anything: None when they name none."""
    if task not in RUN_TASKS or not isinstance(object_id, int) or isinstance(object_id, bool):
        return None
    related = "runbook_version__runbook"
    if task == EXECUTE_TASK:
        return Order.objects.select_related(related).filter(pk=object_id).first()
    dry_run = OrderDryRun.objects.select_related(f"order__{related}").filter(pk=object_id).first()
    return dry_run.order if dry_run else None


def run_task_misrouted(*, task: str, object_id: object, queue: str) -> str | None:
    """Why a genuine message of ``task`` published for ``queue`` must not run
    there: the runbook of the order it names runs on another queue (the
    message is older than a change of the runbook's queue, or replayed onto
    another's). None when it may run, or names nothing to run (the task
    itself then finds nothing to do)."""
    order = _order_of_run_task(task, object_id)
    if order is None or order.runbook_version is None:
        return None
    expected = run_task_queue(order.runbook_version.runbook)
    if queue == expected:
        return None
    return f"it was published for the queue {queue!r}, but the order's runbook runs on {expected!r}"


def run_task_refused(*, task: str, object_id: object, worker: str, reason: str) -> Order | None:
    """Record on the order a refused task message names that a worker
    refused it, and why. Its status does not change: a forged or moved
    message must not fail a legitimate order, whose own message (or the
    sweep's, while it stays queued) still runs it. None when the message
    names no order."""
    order = _order_of_run_task(task, object_id)
    if order is None:
        return None
    what = "run this order" if task == EXECUTE_TASK else f"run dry run {object_id} of this order"
    _note(order, actor=None, note=_sentence(f"Worker {worker} refused a task message to {what}: {reason}"))
    return order


def order_dry_run_execute(*, dry_run_id: int) -> Run | None:
    """The worker's side of a dry run: run it (once, however often delivered)."""
    dry_run = OrderDryRun.objects.select_related("order", "run").filter(pk=dry_run_id).first()
    if dry_run is None or dry_run.run.status != RunStatus.PENDING:
        return None
    inputs, secret_names = _prepared_inputs(dry_run.order, dry_run.run)
    run = (
        execute_run(run_id=dry_run.run_id, inputs=inputs, secret_names=secret_names)
        if inputs is not None
        else dry_run.run
    )
    if run.status != RunStatus.PENDING:
        # In the audit trail, and it moves the order page on to show the output.
        would_change = sum((counts or {}).get("changed", 0) for counts in (run.stats or {}).values())
        outcome = f"{run.get_status_display().lower()}, {would_change} change(s) it would make"
        _note(dry_run.order, actor=None, note=f"Dry run {run.pk} {outcome}")
    return run


@dataclass
class ReminderReport:
    reminded: list[int] = field(default_factory=list)
    escalated: list[int] = field(default_factory=list)


def approvals_remind(*, now: datetime | None = None) -> ReminderReport:
    """Remind the approvers of steps that wait too long, then escalate to the
    owning squad's product owners (beat runs this every few minutes; ``now``
    lets tests move the clock). Each happens once per step, whoever runs it."""
    now = now or timezone.now()
    report = ReminderReport()
    waiting = Order.objects.select_related("product", "squad", "requester").filter(
        status=OrderStatus.PENDING_APPROVAL, approval_step_opened_at__isnull=False
    )
    for order in waiting.filter(approval_reminded_at__isnull=True, approval_remind_after_hours__gt=0):
        if now - order.approval_step_opened_at < timedelta(hours=order.approval_remind_after_hours):
            continue
        with transaction.atomic():
            if not Order.objects.filter(
                pk=order.pk,
                status=OrderStatus.PENDING_APPROVAL,
                approval_step=order.approval_step,
                approval_reminded_at__isnull=True,
            ).update(approval_reminded_at=now):
                continue
            _notify_approvers(order, NotificationKind.APPROVAL_REMINDER)
            _note(order, actor=None, note=f"Reminder sent to the approvers of step {order.approval_step + 1}")
        report.reminded.append(order.pk)
    for order in waiting.filter(approval_escalated_at__isnull=True, approval_escalate_after_hours__gt=0):
        hours = order.approval_escalate_after_hours
        if now - order.approval_step_opened_at < timedelta(hours=hours):
            continue
        with transaction.atomic():
            if not Order.objects.filter(
                pk=order.pk,
                status=OrderStatus.PENDING_APPROVAL,
                approval_step=order.approval_step,
                approval_escalated_at__isnull=True,
            ).update(approval_escalated_at=now):
                continue
            owners = [
                membership.user
                for membership in Membership.objects.select_related("user").filter(
                    squad_id=order.squad_id, role=Role.PRODUCT_OWNER
                )
            ]
            step = approvals.current_step(order)
            notify(
                recipients=owners,
                kind=NotificationKind.APPROVAL_ESCALATED,
                title=f"Order #{order.pk} ({order.product.name}) waits for approval for over {hours} h",
                body=f"Step {order.approval_step + 1} ({step['name'] if step else '?'}) has had no "
                f"decision since {order.approval_step_opened_at:%Y-%m-%d %H:%M} UTC. "
                f"Requested by {order.requester}.",
                order=order,
            )
            _note(order, actor=None, note=f"Escalated to {order.squad.name}'s product owners after {hours} h")
        report.escalated.append(order.pk)
    return report


# --- Cancel and retry ----------------------------------------------------------


def order_cancel(*, order: Order, actor: User, reason: str = "") -> Order:
    """Cancel an open order. A queued one never starts; a running one has its
    playbook stopped (the executor kills the process group) and becomes
    ``cancelled`` when the run ends, within about a second."""
    if not permissions.can_cancel(actor, order):
        raise OrderNotAllowed("You cannot cancel this order.")
    order.refresh_from_db()
    note = reason.strip() or "Cancelled"
    if order.status == OrderStatus.RUNNING:
        if order.current_run is None:
            raise IllegalTransition(f"Order #{order.pk} is starting; try again in a moment.")
        try:
            outcome = run_request_cancel(run=order.current_run)
        except RunError:
            # Its run is over (cancelled by an earlier request, or just ended):
            # the order takes the outcome in a moment.
            raise IllegalTransition(
                f"Order #{order.pk} is already stopping or has just ended; it cannot be cancelled now."
            ) from None
        if outcome == CancelOutcome.ALREADY_REQUESTED:
            # Asking again while it stops changes nothing and says nothing twice.
            order.refresh_from_db()
            return order
        _note(order, actor=actor, note=f"Cancellation requested: {note}")
        if outcome == CancelOutcome.CANCELLED:
            # The run had not started: nothing to wait for.
            finished = order_finish(order_id=order.pk, run=order.current_run)
            if finished is not None:
                return finished
        Order.objects.filter(pk=order.pk).update(updated_at=timezone.now())
        order.refresh_from_db()
        return order
    return _move(
        order,
        to=OrderStatus.CANCELLED,
        allowed_from=CANCELLABLE_STATUSES - {OrderStatus.RUNNING},
        actor=actor,
        note=note,
        finished_at=timezone.now(),
        secret_inputs_ciphertext="",
    )


def order_retry(*, order: Order, actor: User) -> Order:
    """Run a failed or timed-out order again, as a new run of the same order
    against the same runbook version."""
    if not permissions.can_retry(actor, order):
        raise OrderNotAllowed("Only the requester or the owning squad can retry this order.")
    if order.fulfilment != Fulfilment.AUTOMATED:
        raise IllegalTransition("A manually fulfilled order cannot be retried; place a new order.")
    masked_secrets = secret_fields(order.form_schema) & set(order.inputs)
    if masked_secrets and not order.secret_inputs_ciphertext:
        raise IllegalTransition("This order's secret inputs have expired; place a new order.")
    with transaction.atomic():
        order = _move(
            order,
            to=OrderStatus.QUEUED,
            allowed_from=RETRYABLE_STATUSES,
            actor=actor,
            note="Retry requested",
            queued_at=timezone.now(),
            finished_at=None,
            return_code=None,
            failure_reason="",
            host_summary={},
        )
        _dispatch_on_commit(order.pk)
    return order


# --- Manual fulfilment ----------------------------------------------------------


def order_claim(*, order: Order, actor: User) -> Order:
    """Take a manual order: one claimer at a time, everyone sees who."""
    if not permissions.can_fulfil(actor, order):
        raise OrderNotAllowed("Only members of the owning squad work its queue.")
    now = timezone.now()
    with transaction.atomic():
        updated = Order.objects.filter(
            pk=order.pk, status=OrderStatus.AWAITING_FULFILMENT, claimed_by__isnull=True
        ).update(claimed_by=actor, claimed_at=now, updated_at=now)
        order.refresh_from_db()
        if not updated:
            if order.status != OrderStatus.AWAITING_FULFILMENT:
                raise IllegalTransition(f"Order #{order.pk} is {_label(order.status)}; nothing to claim.")
            raise IllegalTransition(
                f"Order #{order.pk} is already claimed by {display_name(order.claimed_by)}."
            )
        _note(order, actor=actor, note=f"Claimed by {display_name(actor)}")
        notifications_settle(order=order, kinds=QUEUE_KINDS)
    return order


def order_release(*, order: Order, actor: User) -> Order:
    """Give a claimed manual order back to the queue: its claimer may, and so
    may the squad's product owners (someone fell ill)."""
    if not permissions.can_fulfil(actor, order):
        raise OrderNotAllowed("Only members of the owning squad work its queue.")
    order.refresh_from_db()
    if order.status != OrderStatus.AWAITING_FULFILMENT or order.claimed_by_id is None:
        raise IllegalTransition(f"Order #{order.pk} is not claimed; nothing to release.")
    if not permissions.can_release(actor, order):
        raise OrderNotAllowed(
            f"Order #{order.pk} is claimed by {display_name(order.claimed_by)}; "
            "only they or a product owner release it."
        )
    with transaction.atomic():
        released = Order.objects.filter(
            pk=order.pk, status=OrderStatus.AWAITING_FULFILMENT, claimed_by_id=order.claimed_by_id
        ).update(claimed_by=None, claimed_at=None, updated_at=timezone.now())
        if not released:
            raise IllegalTransition(f"Order #{order.pk} was changed by someone else just now; reload it.")
        _note(order, actor=actor, note=f"Released by {display_name(actor)}; back in the queue")
    return _refreshed(order)


def order_complete(*, order: Order, actor: User, note: str = "") -> Order:
    """Close a manual order as done. Whoever completes an unclaimed order
    claims it first, so claim and completion times are always recorded."""
    order = _claimed_by_actor(order, actor)
    return _move(
        order,
        to=OrderStatus.SUCCEEDED,
        allowed_from={OrderStatus.AWAITING_FULFILMENT},
        actor=actor,
        note=note.strip() or "Fulfilled",
        finished_at=timezone.now(),
        resolution_note=note.strip(),
        secret_inputs_ciphertext="",
    )


def order_fail(*, order: Order, actor: User, reason: str) -> Order:
    if not reason or not reason.strip():
        raise OrderError("Say why the order could not be fulfilled.")
    order = _claimed_by_actor(order, actor)
    return _move(
        order,
        to=OrderStatus.FAILED,
        allowed_from={OrderStatus.AWAITING_FULFILMENT},
        actor=actor,
        note=reason.strip(),
        finished_at=timezone.now(),
        failure_reason=reason.strip(),
    )


def _claimed_by_actor(order: Order, actor: User) -> Order:
    if not permissions.can_fulfil(actor, order):
        raise OrderNotAllowed("Only members of the owning squad work its queue.")
    order.refresh_from_db()
    if order.status == OrderStatus.AWAITING_FULFILMENT and order.claimed_by_id is None:
        order = order_claim(order=order, actor=actor)
    if order.claimed_by_id not in (None, actor.pk):
        raise OrderNotAllowed(f"Order #{order.pk} is claimed by {display_name(order.claimed_by)}.")
    return order


# --- Execution (called by the worker) ---------------------------------------------


def _dispatch_on_commit(order_id: int, runbook: Runbook | None = None) -> None:
    transaction.on_commit(lambda: order_dispatch(order_id=order_id, runbook=runbook))


def order_dispatch(*, order_id: int, runbook: Runbook | None = None) -> bool:
    """Send the order to a worker on its runbook's queue.

    ``runbook`` is the order's, when the caller has it in hand (a new order):
    then the order is not read back. Should it have been cancelled in the
    meantime, the worker finds it no longer queued and runs nothing.

    Never raises: with the broker down the order simply stays ``queued`` and
    the periodic sweep sends it again, so the user still gets an answer.
    """
    if runbook is None:
        order = (
            Order.objects.select_related("runbook_version__runbook")
            .filter(pk=order_id, status=OrderStatus.QUEUED)
            .first()
        )
        if order is None or order.runbook_version is None:
            return False
        runbook = order.runbook_version.runbook
    if not _send_run_task(EXECUTE_TASK, order_id, runbook):
        return False
    Order.objects.filter(pk=order_id, status=OrderStatus.QUEUED).update(
        dispatched_at=timezone.now(), dispatch_count=F("dispatch_count") + 1
    )
    return True


class _LostRace(Exception):
    pass


def order_start(*, order_id: int) -> Run | None:
    """Claim a queued order for this worker and create its run. Returns None
    when the order is no longer queued (cancelled, or a duplicate delivery)."""
    try:
        with transaction.atomic():
            order = Order.objects.select_related("runbook_version").get(pk=order_id)
            if order.status != OrderStatus.QUEUED or order.runbook_version is None:
                return None
            run = run_create(runbook_version=order.runbook_version, masked_inputs=order.inputs)
            updated = Order.objects.filter(pk=order_id, status=OrderStatus.QUEUED).update(
                status=OrderStatus.RUNNING,
                started_at=timezone.now(),
                current_run=run,
                attempts=F("attempts") + 1,
                updated_at=timezone.now(),
            )
            if updated != 1:
                raise _LostRace
            OrderRun.objects.create(order_id=order_id, run=run, attempt=order.attempts + 1)
            OrderEvent.objects.create(
                order_id=order_id,
                from_status=OrderStatus.QUEUED,
                to_status=OrderStatus.RUNNING,
                note=f"Run {run.pk} started (attempt {order.attempts + 1})",
            )
            webhooks_order_changed(
                order_id=order_id, from_status=OrderStatus.QUEUED, to_status=OrderStatus.RUNNING
            )
    except (_LostRace, Order.DoesNotExist):
        return None
    return run


def order_run_inputs(order: Order) -> tuple[dict, set[str]]:
    """The clear inputs for the runbook and the names of the secret ones."""
    inputs = dict(order.inputs)
    names = secret_fields(order.form_schema)
    if order.secret_inputs_ciphertext:
        secrets = decrypt_json(order.secret_inputs_ciphertext)
        if isinstance(secrets, dict):
            inputs.update(secrets)
    return inputs, names


def order_finish(*, order_id: int, run: Run) -> Order | None:
    """Give the order the outcome of its current run."""
    run.refresh_from_db()
    target = RUN_TO_ORDER_STATUS.get(run.status)
    if target is None:
        return None
    order = Order.objects.get(pk=order_id)
    if order.current_run_id != run.pk:
        return None
    cancel_event = (
        OrderEvent.objects.filter(order_id=order_id, note__startswith="Cancellation requested")
        .order_by("-created_at")
        .first()
    )
    if run.status == RunStatus.LOST and run.cancel_requested_at:
        target = OrderStatus.CANCELLED
    actor = cancel_event.actor if target == OrderStatus.CANCELLED and cancel_event else None
    fields: dict[str, object] = {
        "finished_at": run.finished_at or timezone.now(),
        "return_code": run.rc,
        "host_summary": run.stats or {},
        "failure_reason": "" if target == OrderStatus.SUCCEEDED else (run.failure_reason or ""),
    }
    if target in FINAL_STATUSES:
        fields["secret_inputs_ciphertext"] = ""
    note = {
        OrderStatus.SUCCEEDED: "Run succeeded",
        OrderStatus.CANCELLED: "Run cancelled",
        OrderStatus.TIMED_OUT: f"Run timed out after {order.runbook_version.runbook.timeout}s"
        if order.runbook_version
        else "Run timed out",
    }.get(target, f"Run failed: {run.failure_reason}")
    try:
        return _move(order, to=target, allowed_from={OrderStatus.RUNNING}, actor=actor, note=note, **fields)
    except IllegalTransition:
        return None


def order_execute(*, order_id: int) -> Order | None:
    """The whole of a worker's job for one order: start, run, record.

    A second delivery of the same task finds the order no longer queued and
    returns without running anything: the playbook runs once.
    """
    run = order_start(order_id=order_id)
    if run is None:
        logger.info("order %s: not queued any more, nothing to run", order_id)
        return _given_back(order_id)
    try:
        inputs, secret_names = _prepared_inputs(Order.objects.get(pk=order_id), run)
        if inputs is not None:
            execute_run(run_id=run.pk, inputs=inputs, secret_names=secret_names)
    finally:
        # Whatever happened in the executor, the order must not stay running
        # with a finished run: record what the run says.
        order = order_finish(order_id=order_id, run=run)
    return order


def _given_back(order_id: int) -> Order | None:
    """A task the broker gives back when the pool process running it died
    (``task_reject_on_worker_lost``: out of memory, killed): if that process
    was on this machine and is gone, its run is lost now, not once its
    heartbeat goes stale, so the order (and a cancel waiting on it) ends
    within seconds. Never runs the order again."""
    order = Order.objects.select_related("current_run").filter(pk=order_id).first()
    run = order.current_run if order else None
    if run is None or order.status != OrderStatus.RUNNING or run.status != RunStatus.RUNNING:
        return None
    if not worker_gone(run.worker) or not run_mark_lost_with_worker(run_id=run.pk, worker=run.worker):
        return None
    private_dirs_cleanup()  # the dead process's, here: it may hold secrets
    return order_finish(order_id=order_id, run=run)


def _prepared_inputs(order: Order, run: Run) -> tuple[dict | None, set[str]]:
    """The order's inputs for its run, secrets decrypted; ``(None, set())``
    once the run is failed because they cannot be (a worker whose credential
    key lacks the one they were written with): a run that never starts must
    not leave its order running for ever."""
    try:
        return order_run_inputs(order)
    except DecryptionError:
        reason = (
            "this worker cannot decrypt the order's secret inputs: its SQUADRON_CREDENTIAL_KEY "
            "does not hold the key they were written with"
        )
    logger.error("run %s of order %s: %s", run.pk, order.pk, reason)
    run_abandon(run_id=run.pk, failure_reason=reason)
    run.refresh_from_db()
    return None, set()


# --- Recovery ---------------------------------------------------------------------


@dataclass
class SweepReport:
    lost_runs: list[int] = field(default_factory=list)
    finished_orders: list[int] = field(default_factory=list)
    redispatched_orders: list[int] = field(default_factory=list)
    secrets_purged: int = 0
    redispatched_dry_runs: list[int] = field(default_factory=list)
    emails_resent: int = 0


def orders_sweep() -> SweepReport:
    """Make sure no order is stuck or lost (run by beat every few seconds).

    - runs whose worker stopped heartbeating are marked lost, and their
      orders fail with ``worker_lost``;
    - orders whose run ended but were never updated (worker died in between)
      get the run's outcome;
    - orders left ``queued`` (broker down at submission, message lost) are
      dispatched again; a duplicate message is harmless (it runs once);
    - secret inputs of failed orders are destroyed after the retention period.
    """
    report = SweepReport()
    now = timezone.now()
    stale = timedelta(seconds=settings.SQUADRON_HEARTBEAT_STALE_SECONDS)
    report.lost_runs = runs_mark_lost(stale_after=stale)
    # A worker that died between taking an order and starting its playbook
    # leaves a run that never started and never heartbeats.
    for run_id in Order.objects.filter(
        status=OrderStatus.RUNNING,
        current_run__status=RunStatus.PENDING,
        current_run__created_at__lt=now - stale,
    ).values_list("current_run_id", flat=True):
        if run_abandon(run_id=run_id, failure_reason=WORKER_LOST):
            report.lost_runs.append(run_id)
    ended = Order.objects.filter(
        status=OrderStatus.RUNNING, current_run__status__in=list(RUN_TO_ORDER_STATUS)
    )
    for order in ended.select_related("current_run"):
        if order_finish(order_id=order.pk, run=order.current_run):
            report.finished_orders.append(order.pk)
    after = timedelta(seconds=settings.SQUADRON_REDISPATCH_AFTER_SECONDS)
    for order_id, queued_at, dispatched_at, count in Order.objects.filter(
        status=OrderStatus.QUEUED
    ).values_list("pk", "queued_at", "dispatched_at", "dispatch_count"):
        last = dispatched_at or queued_at or now
        # Back off for orders that simply wait behind a long queue.
        if now - last >= after * (2 ** min(max(count - 1, 0), 6)) and order_dispatch(order_id=order_id):
            report.redispatched_orders.append(order_id)
    for dry_run_id in OrderDryRun.objects.filter(
        run__status=RunStatus.PENDING, run__created_at__lt=now - after
    ).values_list("pk", flat=True):
        if _dispatch_dry_run(dry_run_id):
            report.redispatched_dry_runs.append(dry_run_id)
    report.emails_resent = notification_emails_resend()
    retention = timedelta(hours=settings.SQUADRON_SECRET_RETENTION_HOURS)
    report.secrets_purged = (
        Order.objects.filter(status__in=list(RETRYABLE_STATUSES), finished_at__lt=now - retention)
        .exclude(secret_inputs_ciphertext="")
        .update(secret_inputs_ciphertext="")
    )
    sweep_recoveries_record(report)
    if report.lost_runs or report.redispatched_orders or report.finished_orders:
        logger.warning("sweep: %s", report)
    return report
