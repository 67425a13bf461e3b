"""A playbook that reaches the broker cannot make a worker run what Squadron
did not send it: a real worker refuses an unsigned message, a genuine
message moved from another squad's queue onto its own, and a genuine
message whose arguments were rewritten to name another order. Each time
the playbook does not run, the order is left as it was, and the refusal is
logged and recorded on the order.

The attacker here holds what a playbook with the broker's address holds:
kombu and Celery's own message format, but not the service's key.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from celery.utils import uuid
from django.conf import settings

from portal.celery import app, queue_drop
from portal.orders.choices import OrderStatus
from portal.orders.execution import EXECUTE_TASK
from portal.orders.models import Order, OrderEvent
from portal.orders.submission import order_submit
from runbooks.models import Run, Runbook
from tests.factories import ProductFactory, RunbookFactory
from tests.portal.orders.test_worker_end_to_end import FORM, PLAYBOOK, output_lines, wait_for
from tests.worker import Worker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

#: The queue the test's worker consumes (a squad's dedicated worker).
SERVED = settings.CELERY_TASK_DEFAULT_QUEUE
#: Another squad's queue, whose worker is not running (orders park there).
PARKED = f"{SERVED}-parked"


@pytest.fixture(autouse=True)
def _empty_queues():
    """Each test starts with nothing on its queues. Other tests of this
    process may have left task messages there (any test that commits an
    order or a dry run publishes one): a stale dry run's message naming the
    same id as this test's order would be taken for it, and the worker would
    run or refuse what the test did not send."""
    for name in (SERVED, PARKED):
        with app.connection_for_write() as connection:
            app.amqp.queues[name](connection.default_channel).purge()


@pytest.fixture
def parked():
    yield PARKED
    queue_drop(PARKED)


@pytest.fixture
def parked_product(squad, parked):
    runbook = RunbookFactory(squad=squad, slug="e2e-parked", timeout=60, playbook=PLAYBOOK, queue=parked)
    return ProductFactory(slug="e2e-parked", squad=squad, runbook=runbook, form_schema=FORM)


@pytest.fixture
def served_product(other_squad):
    runbook = RunbookFactory(squad=other_squad, slug="e2e-served", timeout=60, playbook=PLAYBOOK)
    return ProductFactory(slug="e2e-served", squad=other_squad, runbook=runbook, form_schema=FORM)


@pytest.fixture
def start_worker():
    started: list[Worker] = []

    def start() -> Worker:
        started.append(Worker().start())
        return started[-1]

    yield start
    for worker in started:
        worker.stop()


def take(queue: str, order: Order) -> Any:
    """Take the message that runs ``order`` off ``queue``, raw, as a broker
    client can. Others met on the way are dropped."""
    with app.connection_for_read() as connection:
        simple = connection.SimpleQueue(app.amqp.queues[queue])
        try:
            while True:
                message = simple.get(block=True, timeout=10)
                message.ack()
                runs_order = json.loads(message.body)[0] == [order.pk]
                if message.headers["task"] == EXECUTE_TASK and runs_order:
                    return message
        finally:
            simple.close()


def leftover(queue: str) -> list[Any]:
    found = []
    with app.connection_for_read() as connection:
        simple = connection.SimpleQueue(app.amqp.queues[queue])
        while True:
            try:
                message = simple.get(block=True, timeout=1)
            except simple.Empty:
                break
            message.ack()
            found.append(message.headers)
        simple.close()
    return found


def put(queue: str, *, body: bytes | str, headers: dict) -> None:
    """Publish a raw task message onto ``queue``, as a broker client can."""
    target = app.amqp.queues[queue]
    with app.connection_for_write() as connection:
        connection.Producer().publish(
            body,
            exchange=target.exchange,
            routing_key=target.routing_key,
            declare=[target],
            headers=headers,
            content_type="application/json",
            content_encoding="utf-8",
        )


def submit(product, requester, label: str) -> Order:
    return order_submit(requester=requester, product=product, inputs={"label": label})


def assert_refused(order: Order, worker: Worker, reason: str) -> None:
    """The worker refused a message naming ``order``, recorded why on it,
    ran nothing, and does not get the message again."""
    refusals = OrderEvent.objects.filter(order=order, note__contains="refused a task message")
    try:
        event = wait_for(lambda: refusals.first(), timeout=60)
    except AssertionError as error:
        said = worker.output()
        raise AssertionError(f"no refusal recorded on order {order.pk}; the worker said:\n{said}") from error
    assert reason in event.note, event.note
    assert (event.from_status, event.to_status) == (OrderStatus.QUEUED, OrderStatus.QUEUED)
    order.refresh_from_db()
    assert order.status == OrderStatus.QUEUED and order.current_run_id is None and order.attempts == 0
    assert not Run.objects.exists() and not output_lines(order.inputs["label"])
    log = worker.output()
    assert "WARNING portal.task_signing" in log and "refused task message" in log and reason in log, log
    worker.stop()  # a message left unacknowledged would now be back on the queue
    assert leftover(SERVED) == []
    assert refusals.count() == 1


def test_an_unsigned_task_message_is_refused(parked_product, requester, start_worker):
    order = submit(parked_product, requester, "unsigned")
    worker = start_worker()
    # Celery's own message, built by the attacker without the key.
    headers, _properties, body, _sent = app.amqp.as_task_v2(uuid(), EXECUTE_TASK, args=[order.pk])
    put(SERVED, body=json.dumps(body), headers=headers)
    assert_refused(order, worker, "it is not signed")


def test_a_message_moved_from_another_squads_queue_is_refused(parked_product, requester, start_worker):
    """The finding: a Network order parked on its squad's queue, moved onto
    the queue of the Data squad's dedicated worker."""
    order = submit(parked_product, requester, "moved")
    worker = start_worker()
    genuine = take(PARKED, order)
    put(SERVED, body=genuine.body, headers=genuine.headers)
    assert_refused(order, worker, f"published for the queue {PARKED!r}, which this worker does not consume")


def test_a_message_rewritten_to_name_another_order_is_refused(
    parked_product, served_product, requester, start_worker
):
    victim = submit(parked_product, requester, "victim")
    own = submit(served_product, requester, "own")
    genuine = take(SERVED, own)  # the attacker's own order, for the queue this worker serves
    args, kwargs, embed = json.loads(genuine.body)
    assert args == [own.pk]
    put(SERVED, body=json.dumps([[victim.pk], kwargs, embed]), headers=genuine.headers)
    worker = start_worker()
    assert_refused(victim, worker, "its signature does not match")
    assert Order.objects.get(pk=own.pk).status == OrderStatus.QUEUED


def test_a_message_older_than_its_runbooks_move_to_another_queue_is_refused(
    served_product, requester, start_worker, parked
):
    """A genuine message for this worker's queue, but the order's runbook now
    runs on another squad's worker: only that one may run it."""
    order = submit(served_product, requester, "moved-runbook")
    Runbook.objects.filter(pk=served_product.runbook_id).update(queue=parked)
    worker = start_worker()
    assert_refused(order, worker, f"but the order's runbook runs on {parked!r}")


def test_the_genuine_path_still_runs(served_product, requester, start_worker):
    start_worker()
    order = submit(served_product, requester, "genuine")
    wait_for(lambda: Order.objects.get(pk=order.pk).status == OrderStatus.SUCCEEDED, timeout=90)
    assert not OrderEvent.objects.filter(order=order, note__contains="refused").exists()
