"""Task messages are signed where they are published and checked before a
worker runs them (portal.task_signing): the parts that need no worker. The
attacks on a real worker are in test_task_message_attacks."""

from __future__ import annotations

import dataclasses

import pytest
from django.conf import settings
from kombu import Connection

from portal import task_signing
from portal.celery import app, queue_drop
from portal.orders import execution
from portal.orders.choices import OrderStatus
from portal.orders.execution import (
    DRY_RUN_TASK,
    EXECUTE_TASK,
    order_dispatch,
    run_task_misrouted,
    run_task_queue,
    run_task_refused,
)
from portal.orders.models import OrderDryRun, OrderEvent
from portal.orders.submission import order_submit
from portal.task_signing import (
    SIGNATURE_HEADER,
    TaskMessage,
    message_refusal,
    refusal,
    sign_task_message,
    task_signature,
)
from runbooks.services import run_create
from tests.factories import ProductFactory, RunbookFactory

DEFAULT = settings.CELERY_TASK_DEFAULT_QUEUE
OTHER = f"{DEFAULT}-other"
EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def published(queue: str) -> list[TaskMessage]:
    """The messages waiting on ``queue``, as the worker reads them."""
    found = []
    with app.connection_for_read() as connection:
        assert isinstance(connection, Connection)
        simple = connection.SimpleQueue(app.amqp.queues[queue])
        while True:
            try:
                message = simple.get(block=True, timeout=1)
            except simple.Empty:
                break
            message.ack()
            found.append(TaskMessage.read(message))
        simple.close()
    return found


@pytest.fixture
def other_queue():
    yield OTHER
    queue_drop(OTHER)


def signed(*, task: str = EXECUTE_TASK, args: list | None = None, queue: str = DEFAULT) -> TaskMessage:
    """A message as Squadron publishes it (signed by the publishing hook)."""
    headers = {"task": task, "id": "id-1", "eta": None, "expires": None, "timelimit": [180, 120]}
    body = [[7] if args is None else args, {}, EMBED]
    sign_task_message(sender=task, body=body, routing_key=queue, headers=headers)
    return TaskMessage(headers, body)


def changed(message: TaskMessage, *, body: list | None = None, **headers: object) -> TaskMessage:
    """``message`` as a broker client rewrote it (headers and body)."""
    return TaskMessage({**message.headers, **headers}, message.body if body is None else body)


def test_every_published_task_message_carries_its_queue_and_a_signature_the_worker_accepts(other_queue):
    app.send_task(EXECUTE_TASK, args=[7], queue=other_queue, countdown=30, time_limit=99)
    [message] = published(other_queue)
    assert message.queue == other_queue and message.args == [7]
    assert message.headers[SIGNATURE_HEADER] == task_signature(
        headers=message.headers, body=message.body, queue=other_queue
    )
    assert message_refusal(message, consumed={other_queue}) is None


def test_a_message_published_for_one_queue_is_refused_by_a_worker_of_another(other_queue):
    app.send_task(EXECUTE_TASK, args=[7], queue=other_queue)
    [message] = published(other_queue)
    reason = message_refusal(message, consumed={DEFAULT})
    assert reason and f"published for the queue {other_queue!r}" in reason and "moved" in reason


@pytest.mark.parametrize(
    "change",
    [
        {"task": "portal.sweep_orders"},
        {"id": "id-2"},
        {"squadron_queue": OTHER},
        {"eta": "2030-01-01T00:00:00+00:00"},
        {"expires": "2030-01-01T00:00:00+00:00"},
        {"timelimit": [None, None]},
        {"body": [[8], {}, EMBED]},
        {"body": [[7, 8], {}, EMBED]},
        {"body": [[7], {"order_id": 8}, EMBED]},
        # A callback the worker would publish, signed, once the task ends.
        {"body": [[7], {}, {**EMBED, "callbacks": [{"task": EXECUTE_TASK, "args": [8]}]}]},
    ],
    ids=["task", "id", "queue", "eta", "expires", "timelimit", "args", "more-args", "kwargs", "callbacks"],
)
def test_a_change_to_any_signed_field_breaks_the_signature(change):
    consumed = {DEFAULT, OTHER}
    assert message_refusal(signed(), consumed=consumed) is None
    reason = message_refusal(changed(signed(), **change), consumed=consumed)
    assert reason and "signature does not match" in reason


def test_an_unsigned_message_or_one_signed_with_another_key_is_refused():
    genuine = signed()
    unsigned = TaskMessage({k: v for k, v in genuine.headers.items() if k != SIGNATURE_HEADER}, genuine.body)
    assert "not signed" in message_refusal(unsigned, consumed={DEFAULT})
    forged = task_signature(headers=genuine.headers, body=genuine.body, queue=DEFAULT, secret="a guess")
    assert "signature does not match" in message_refusal(
        changed(genuine, squadron_signature=forged), consumed={DEFAULT}
    )
    assert "signature does not match" in message_refusal(
        changed(genuine, squadron_signature=["x"]), consumed={DEFAULT}
    )
    assert "not shaped" in message_refusal(None, consumed={DEFAULT})


def test_a_signature_made_before_the_key_was_rotated_still_holds(settings):
    waiting = signed()
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-key-" + "x" * 40
    assert message_refusal(waiting, consumed={DEFAULT}) is None, "messages in the broker still run"
    assert message_refusal(signed(), consumed={DEFAULT}) is None
    settings.SECRET_KEY_FALLBACKS = []
    assert "signature does not match" in message_refusal(waiting, consumed={DEFAULT})


def test_the_signature_covers_what_json_gives_back():
    """Tuples, nested dicts in any key order: the worker decodes lists and
    dicts from JSON and must compute the same signature."""
    headers = {"task": "t", "id": "i", "timelimit": (1, None)}
    sent = task_signature(
        headers=headers, body=((1, ("a", 2)), {"b": 1, "a": {"y": 2, "x": 1}}, {}), queue="q"
    )
    decoded = task_signature(
        headers={**headers, "timelimit": [1, None], "argsrepr": "(1,)"},
        body=[[1, ["a", 2]], {"a": {"x": 1, "y": 2}, "b": 1}, {}],
        queue="q",
    )
    assert sent == decoded


# --- The order's side: its runbook's queue, and the record of a refusal ---------------


@pytest.fixture
def parked_order(squad, requester):
    """A queued order whose runbook runs on its squad's own queue (not
    dispatched: these tests do not commit)."""
    runbook = RunbookFactory(squad=squad, queue="network-parked")
    product = ProductFactory(squad=squad, runbook=runbook)
    order = order_submit(requester=requester, product=product, inputs={"name": "x"})
    assert order.status == OrderStatus.QUEUED
    return order


def test_an_order_is_dispatched_to_its_runbooks_queue_or_the_default_one_by_name(
    product, requester, other_queue
):
    runbook = product.runbook
    assert run_task_queue(runbook) == DEFAULT
    runbook.queue = other_queue
    assert run_task_queue(runbook) == other_queue
    assert order_dispatch(order_id=4242, runbook=runbook)
    [message] = published(other_queue)
    assert (message.task, message.args, message.queue) == (EXECUTE_TASK, [4242], other_queue)


@pytest.mark.django_db
def test_a_genuine_message_for_another_queue_than_the_orders_runbook_is_refused(parked_order):
    task = EXECUTE_TASK
    assert run_task_misrouted(task=task, object_id=parked_order.pk, queue="network-parked") is None
    reason = run_task_misrouted(task=task, object_id=parked_order.pk, queue=DEFAULT)
    assert (
        reason
        == f"it was published for the queue {DEFAULT!r}, but the order's runbook runs on 'network-parked'"
    )
    # Through the worker's whole check: signed, consumed, and still refused.
    assert refusal(signed(args=[parked_order.pk]), consumed={DEFAULT}) == reason
    assert (
        refusal(signed(args=[parked_order.pk], queue="network-parked"), consumed={"network-parked"}) is None
    )
    # Arguments that name no order leave it to the task, which finds nothing.
    for object_id in (None, "1", True, 10**9, [parked_order.pk]):
        assert run_task_misrouted(task=task, object_id=object_id, queue=DEFAULT) is None
    assert run_task_misrouted(task="portal.sweep_orders", object_id=parked_order.pk, queue=DEFAULT) is None


@pytest.mark.django_db
def test_a_refusal_is_recorded_on_the_order_it_names_and_changes_nothing_else(parked_order):
    before = (parked_order.status, parked_order.updated_at, parked_order.attempts)
    run_task_refused(
        task=EXECUTE_TASK, object_id=parked_order.pk, worker="data@host", reason="it is not signed"
    )
    parked_order.refresh_from_db()
    assert (parked_order.status, parked_order.updated_at, parked_order.attempts) == before
    event = OrderEvent.objects.filter(order=parked_order).last()
    assert event.note == "Worker data@host refused a task message to run this order: it is not signed."
    assert (event.from_status, event.to_status, event.actor) == (
        parked_order.status,
        parked_order.status,
        None,
    )
    assert run_task_refused(task=EXECUTE_TASK, object_id="x", worker="w", reason="r") is None


@pytest.mark.django_db
def test_a_refused_dry_run_message_is_recorded_on_its_order(parked_order, member):
    parked_order.status = OrderStatus.PENDING_APPROVAL
    parked_order.save()
    run = run_create(runbook_version=parked_order.runbook_version, masked_inputs={}, check_mode=True)
    dry_run = OrderDryRun.objects.create(order=parked_order, run=run, requested_by=member)
    task = DRY_RUN_TASK
    assert run_task_misrouted(task=task, object_id=dry_run.pk, queue="network-parked") is None
    assert "runs on 'network-parked'" in run_task_misrouted(task=task, object_id=dry_run.pk, queue=DEFAULT)
    run_task_refused(task=task, object_id=dry_run.pk, worker="w@h", reason="it was moved")
    assert OrderEvent.objects.filter(order=parked_order).last().note == (
        f"Worker w@h refused a task message to run dry run {dry_run.pk} of this order: it was moved."
    )


def test_a_task_message_is_checked_before_the_pool_sees_it():
    """Every Squadron task, whatever its module, is built on the base whose
    strategy checks its messages in the worker's main process."""
    import portal.tasks  # noqa: F401 - registers the tasks, as a worker's start does
    from portal.task_signing import SignedTask

    for name in (
        EXECUTE_TASK,
        DRY_RUN_TASK,
        "portal.sweep_orders",
        "portal.deliver_webhook",
    ):
        task = app.tasks[name]
        assert isinstance(task, SignedTask)
        assert task.Strategy == "portal.task_signing:verified_strategy"


def test_a_genuine_message_is_not_dropped_when_the_database_cannot_tell_its_runbooks_queue(monkeypatch):
    """Squadron sent it to this worker's queue: a database that does not
    answer this instant must not lose an order (the task then reads it)."""
    from django.db import OperationalError

    def unanswered(**kwargs: object) -> None:
        raise OperationalError("database is locked")

    rules = task_signing._run_task_rules
    assert rules is not None and rules.misrouted is execution.run_task_misrouted
    monkeypatch.setattr(task_signing, "_run_task_rules", dataclasses.replace(rules, misrouted=unanswered))
    assert refusal(signed(), consumed={DEFAULT}) is None
    assert "does not match" in refusal(changed(signed(), squadron_signature=None), consumed={DEFAULT})


def test_a_worker_without_the_order_rules_refuses_rather_than_runs_unchecked(monkeypatch):
    """The queue check of a run task is the order domain's: a worker that
    has not loaded it cannot tell a moved message from a genuine one."""
    monkeypatch.setattr(task_signing, "_run_task_rules", None)
    assert "has not loaded the rules" in refusal(signed(), consumed={DEFAULT})
    assert "has not loaded the rules" in refusal(signed(task="portal.deliver_webhook"), consumed={DEFAULT})
