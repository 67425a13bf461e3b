"""Running an order's runbook on a worker: dispatch to the runbook's queue,
start (the worker claims the order), execute, finish with the run's outcome;
retry; dry runs in check mode for the approvers; and which queue a run task
goes to, so that a worker refuses a misrouted task message
(``portal.task_signing`` calls ``run_task_misrouted`` and ``run_task_refused``).

A task is dispatched only after the transaction that queued the order has
committed; with the broker down the order stays ``queued`` for the sweep.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from catalogue.choices import Fulfilment
from catalogue.schema import secret_fields
from portal.celery import app as celery_app
from portal.celery import send_or_leave_for_sweep
from portal.orders import approval_steps, permissions
from portal.orders.choices import RETRYABLE_STATUSES, OrderStatus
from portal.orders.errors import IllegalTransition, OrderNotAllowed
from portal.orders.hooks import Placement, RunContext, order_admitted, order_run_context
from portal.orders.models import Order, OrderDryRun, OrderEvent, OrderRun
from portal.orders.outcome import run_outcome_fields
from portal.orders.transitions import order_locked, order_move, order_note, sentence
from portal.task_signing import RunTaskRules, run_task_rules_register
from runbooks.choices import RunStatus
from runbooks.crypto import DecryptionError, decrypt_json
from runbooks.execution.run import execute_run
from runbooks.execution.workspace import private_dirs_cleanup, worker_gone
from runbooks.models import Run, Runbook
from runbooks.services import (
    run_abandon,
    run_create,
    run_mark_lost_with_worker,
)

logger = logging.getLogger(__name__)
User = User


EXECUTE_TASK = "portal.execute_order"
DRY_RUN_TASK = "portal.execute_dry_run"
#: The tasks that run a runbook: a worker runs them only from its runbook's queue.
RUN_TASKS = frozenset({EXECUTE_TASK, DRY_RUN_TASK})

RUN_TO_ORDER_STATUS: dict[str, OrderStatus] = {
    RunStatus.SUCCEEDED: OrderStatus.SUCCEEDED,
    RunStatus.FAILED: OrderStatus.FAILED,
    RunStatus.TIMED_OUT: OrderStatus.TIMED_OUT,
    RunStatus.CANCELLED: OrderStatus.CANCELLED,
    RunStatus.LOST: OrderStatus.FAILED,
}
#: Once an order is here its secret inputs are destroyed: it can never run again.
FINAL_STATUSES = {OrderStatus.SUCCEEDED, OrderStatus.CANCELLED, OrderStatus.REJECTED}


def order_dry_run(*, order: Order, actor: User) -> OrderDryRun:
    """Run the order's runbook version in check mode (changes nothing) so
    that whoever decides can see what it would do. One at a time per order:
    asking again while one is under way returns that one."""
    if not (approval_steps.can_decide(actor, order) or permissions.is_owner_side(actor, order)):
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
        order_locked(order)
        under_way = (
            OrderDryRun.objects.select_related("run")
            .filter(order=order, run__status__in=[RunStatus.PENDING, RunStatus.RUNNING])
            .first()
        )
        if under_way is not None:
            return under_way
        run = run_create(runbook_version=version, masked_inputs=order.inputs, check_mode=True)
        dry_run = OrderDryRun.objects.create(order=order, run=run, requested_by=actor)
        order_note(order, actor=actor, note=f"Dry run {run.pk} requested (check mode)")
        transaction.on_commit(lambda: dry_run_dispatch(dry_run.pk))
    return dry_run


def dry_run_dispatch(dry_run_id: int) -> bool:
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
    order_note(
        order, actor=None, note=sentence(f"Worker {worker} refused a task message to {what}: {reason}")
    )
    return order


def order_dry_run_execute(*, dry_run_id: int) -> Run | None:
    """The worker's side of a dry run: run it (once, however often delivered)."""
    dry_run = OrderDryRun.objects.select_related("order", "run").filter(pk=dry_run_id).first()
    if dry_run is None or dry_run.run.status != RunStatus.PENDING:
        return None
    prepared = _prepared_inputs(dry_run.order, dry_run.run)
    run = _execute(dry_run.run_id, prepared) if prepared is not None else dry_run.run
    if run.status != RunStatus.PENDING:
        # In the audit trail, and it moves the order page on to show the output.
        would_change = sum((counts or {}).get("changed", 0) for counts in (run.stats or {}).values())
        outcome = f"{run.get_status_display().lower()}, {would_change} change(s) it would make"
        order_note(dry_run.order, actor=None, note=f"Dry run {run.pk} {outcome}")
    return run


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
    if permissions.inputs_at_fault(order):
        raise IllegalTransition(
            "The runbook refused these details, so running it again would fail the same way: "
            "order again with other details."
        )
    with transaction.atomic():
        _readmitted(order)
        order = order_move(
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
            result={},
            failed_step="",
            failure_kind="",
        )
        dispatch_on_commit(order.pk)
    return order


def _readmitted(order: Order) -> None:
    """A retry asks the admission checks again (quotas): while the order had
    failed it held nothing, and others may have taken what it gave back.
    Refused (the check raises) when it would now exceed a quota; an order
    over quota that was not approved as such is refused too, with the way
    out (a new order goes to approval). A create order whose instance exists
    (failed) asks nothing: that instance still counts."""
    if order.operation_id is None and order.instance_id is not None:
        return
    admission = order_admitted(
        Placement(
            requester=order.requester,
            product=order.product,
            operation=order.operation,
            instance_id=order.instance_id,
            inputs=dict(order.inputs),
            business_unit=None if order.operation_id else getattr(order.business_unit, "slug", None),
        )
    )
    if admission.approval_reason and not order.quota_excess:
        raise IllegalTransition(
            f"{admission.approval_reason} Place a new order instead: it goes to approval."
        )


def dispatch_on_commit(order_id: int, runbook: Runbook | None = None) -> None:
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


def order_start(*, order_id: int) -> Run | None:
    """Claim a queued order for this worker and create its run. Returns None
    when the order is no longer queued (cancelled, or a duplicate delivery).

    The move to ``running`` takes the one transition path, so the requester
    hears that their order started like any other move. Of two workers
    taking the same order, the conditional update lets one win; the other's
    run is rolled back with its refused move."""
    try:
        with transaction.atomic():
            order = Order.objects.select_related("runbook_version").get(pk=order_id)
            if order.status != OrderStatus.QUEUED or order.runbook_version is None:
                return None
            attempt = order.attempts + 1
            run = run_create(runbook_version=order.runbook_version, masked_inputs=order.inputs)
            order_move(
                order,
                to=OrderStatus.RUNNING,
                allowed_from={OrderStatus.QUEUED},
                actor=None,
                note=f"Run {run.pk} started (attempt {attempt})",
                started_at=timezone.now(),
                current_run=run,
                attempts=F("attempts") + 1,
            )
            OrderRun.objects.create(order_id=order_id, run=run, attempt=attempt)
    except (IllegalTransition, Order.DoesNotExist):
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
        **run_outcome_fields(run),
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
        return order_move(
            order, to=target, allowed_from={OrderStatus.RUNNING}, actor=actor, note=note, **fields
        )
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
        prepared = _prepared_inputs(Order.objects.get(pk=order_id), run)
        if prepared is not None:
            _execute(run.pk, prepared)
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
    if order is None or run is None or order.status != OrderStatus.RUNNING or run.status != RunStatus.RUNNING:
        return None
    if not worker_gone(run.worker) or not run_mark_lost_with_worker(run_id=run.pk, worker=run.worker):
        return None
    private_dirs_cleanup()  # the dead process's, here: it may hold secrets
    return order_finish(order_id=order_id, run=run)


@dataclass(frozen=True)
class PreparedRun:
    """What a run of an order is given: the clear inputs, the names of the
    secret ones, and what other domains add (``portal.orders.hooks``)."""

    inputs: dict
    secret_names: set[str]
    context: RunContext


def _execute(run_id: int, prepared: PreparedRun) -> Run:
    return execute_run(
        run_id=run_id,
        inputs=prepared.inputs,
        secret_names=prepared.secret_names,
        extra_secrets=prepared.context.secrets,
        data_vars=prepared.context.variables,
    )


def _prepared_inputs(order: Order, run: Run) -> PreparedRun | None:
    """The order's inputs for its run, secrets decrypted, and its context;
    None once the run is failed because they cannot be (a worker whose
    credential key lacks the one they were written with): a run that never
    starts must not leave its order running for ever."""
    try:
        inputs, secret_names = order_run_inputs(order)
        return PreparedRun(inputs=inputs, secret_names=secret_names, context=order_run_context(order))
    except DecryptionError:
        reason = (
            "this worker cannot decrypt the order's secret inputs: its SQUADRON_CREDENTIAL_KEY "
            "does not hold the key they were written with"
        )
    logger.error("run %s of order %s: %s", run.pk, order.pk, reason)
    run_abandon(run_id=run.pk, failure_reason=reason)
    run.refresh_from_db()
    return None


# The worker checks each message of these tasks against the order it names
# before running it (portal.task_signing); the rules are this domain's.
run_task_rules_register(RunTaskRules(tasks=RUN_TASKS, misrouted=run_task_misrouted, refused=run_task_refused))
