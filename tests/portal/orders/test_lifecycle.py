"""The order lifecycle through its services: legal moves, refusals that change
nothing, per-field input errors, secrets, dispatch on commit."""

from __future__ import annotations

import json

import pytest

from catalogue.choices import ProductStatus
from catalogue.inputs import MASK, NOT_TEXT
from portal.integrations.models import WebhookDelivery
from portal.integrations.webhooks.subscriptions import webhook_subscribe
from portal.notifications.choices import NotificationKind
from portal.notifications.models import Notification
from portal.orders.approvals import order_approve, order_reject
from portal.orders.cancellation import order_cancel
from portal.orders.choices import OrderStatus
from portal.orders.errors import (
    IllegalTransition,
    InvalidInputs,
    OrderError,
    OrderNotAllowed,
    ProductNotOrderable,
)
from portal.orders.execution import EXECUTE_TASK, order_execute, order_retry, order_run_inputs, order_start
from portal.orders.fulfilment import order_claim, order_complete, order_fail
from portal.orders.models import Order, OrderEvent, OrderRun
from portal.orders.recovery import orders_sweep
from portal.orders.submission import order_submit
from runbooks.choices import RunStatus
from runbooks.crypto import decrypt_json
from runbooks.models import Run
from runbooks.services import run_claim, run_finish
from tests.portal.conftest import broker_outage, drain_queued_tasks

pytestmark = pytest.mark.django_db


def submit(product, requester, **inputs):
    return order_submit(requester=requester, product=product, inputs={"hostname": "web-01", **inputs})


def snapshot(order: Order) -> dict:
    order.refresh_from_db()
    return {
        "status": order.status,
        "events": list(order.events.values_list("from_status", "to_status", "note")),
        "updated_at": order.updated_at,
    }


def test_submit_queues_automated_order_and_pins_versions(product, requester):
    order = submit(product, requester)
    assert order.status == OrderStatus.QUEUED
    assert order.product_version == product.version
    assert order.runbook_version == product.runbook.current_version
    assert order.squad == product.squad
    assert order.form_schema == product.form_schema
    assert order.queued_at is not None
    assert list(order.events.values_list("actor__username", "from_status", "to_status", "note")) == [
        ("rita", "", "queued", "Submitted")
    ]


def test_an_order_is_queued_or_opens_its_first_step_the_moment_it_is_placed(product, two_steps, requester):
    """Not a few microseconds before: lead times would start negative."""
    queued = Order.objects.get(pk=submit(product, requester).pk)
    waiting = Order.objects.get(
        pk=order_submit(requester=requester, product=two_steps, inputs={"label": "x"}).pk
    )
    assert queued.queued_at == queued.created_at
    assert waiting.approval_step_opened_at == waiting.created_at


def test_submit_applies_schema_defaults(product, requester):
    order = submit(product, requester)
    assert order.inputs["size"] == 2


@pytest.mark.parametrize("status", [ProductStatus.DRAFT, ProductStatus.RETIRED])
def test_unpublished_product_cannot_be_ordered_and_nothing_is_created(product, requester, status):
    product.status = status
    product.save()
    with pytest.raises(ProductNotOrderable):
        submit(product, requester)
    assert Order.objects.count() == 0
    assert OrderEvent.objects.count() == 0


def test_invalid_inputs_are_refused_field_by_field_and_nothing_is_created(product, requester):
    with pytest.raises(InvalidInputs) as refused:
        order_submit(
            requester=requester,
            product=product,
            inputs={"hostname": "not a host!", "size": 500, "colour": "red", "token": "x"},
        )
    errors = refused.value.errors
    assert errors["hostname"] == ["Must be a valid hostname."]
    assert errors["size"] == ["Must be at most 64."]
    assert errors["colour"] == ["This field is not part of the product's form."]
    assert "token" in errors and "x" not in errors["token"][0].split()
    assert Order.objects.count() == 0


def test_missing_required_input_is_named(product, requester):
    with pytest.raises(InvalidInputs) as refused:
        order_submit(requester=requester, product=product, inputs={})
    assert refused.value.errors == {"hostname": ["This field is required."]}


def test_half_a_surrogate_pair_is_refused_whatever_the_path(product, requester):
    """The admin, a command or a test may call the service without the API's
    parser: the service refuses it too, without echoing the character."""
    with pytest.raises(InvalidInputs) as refused:
        order_submit(requester=requester, product=product, inputs={"hostname": "web\ud800"})
    assert refused.value.errors == {"hostname": [NOT_TEXT]}
    with pytest.raises(InvalidInputs) as refused:
        order_submit(requester=requester, product=product, inputs={"\udc00": "x"})
    assert list(refused.value.errors) == ["__all__"]
    assert Order.objects.count() == 0


def test_an_integer_sent_as_2_point_0_is_stored_and_run_as_2(product, requester):
    order = submit(product, requester, size=2.0)
    order.refresh_from_db()
    assert order.inputs["size"] == 2 and isinstance(order.inputs["size"], int)


def test_inputs_must_be_an_object(product, requester):
    with pytest.raises(InvalidInputs) as refused:
        order_submit(requester=requester, product=product, inputs=["web-01"])
    assert "__all__" in refused.value.errors


def test_secret_inputs_are_masked_in_the_order_and_encrypted_at_rest(product, requester):
    order = submit(product, requester, token="s3cr3t-value")
    order.refresh_from_db()
    assert order.inputs["token"] == MASK
    assert "s3cr3t-value" not in order.secret_inputs_ciphertext
    assert decrypt_json(order.secret_inputs_ciphertext) == {"token": "s3cr3t-value"}
    inputs, secret_names = order_run_inputs(order)
    assert inputs["token"] == "s3cr3t-value" and secret_names == {"token"}


def test_task_is_dispatched_only_after_commit(product, requester, django_capture_on_commit_callbacks):
    drain_queued_tasks()  # what earlier tests of this process left is not ours
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        order = submit(product, requester)
    order.refresh_from_db()
    assert order.dispatch_count == 0, "nothing may reach the broker before the order is committed"
    for callback in callbacks:
        callback()
    order.refresh_from_db()
    assert order.dispatch_count == 1 and order.dispatched_at is not None
    assert _queued_task_args() == [[order.pk]]


def _queued_task_args() -> list:
    """The arguments of the execution tasks waiting on this process's queue."""
    tasks = drain_queued_tasks()
    assert {task for task, _ in tasks} <= {EXECUTE_TASK}, tasks
    return [args for _, args in tasks]


def test_broker_down_at_submit_keeps_the_order_queued_and_the_sweep_sends_it_later(
    product, requester, django_capture_on_commit_callbacks, monkeypatch
):
    from portal.celery import app

    sent: list[dict] = []
    send_task = app.send_task

    def spy(*args, **kwargs):
        sent.append(kwargs)
        return send_task(*args, **kwargs)

    monkeypatch.setattr(app, "send_task", spy)
    drain_queued_tasks()  # what earlier tests of this process left is not ours
    with broker_outage():
        with django_capture_on_commit_callbacks(execute=True):
            order = submit(product, requester)
        # A down broker must not hold the user's request: one attempt, no
        # retries (Celery's publish retries would wait seconds), and the
        # order left for the sweep. Not timed: a busy machine is slow anyway.
        assert [call["retry"] for call in sent] == [False]
        order.refresh_from_db()
        assert order.status == OrderStatus.QUEUED
        assert order.dispatch_count == 0
    Order.objects.filter(pk=order.pk).update(queued_at=order.queued_at.replace(year=2000))
    report = orders_sweep()
    assert report.redispatched_orders == [order.pk]
    order.refresh_from_db()
    assert order.dispatch_count == 1
    assert _queued_task_args() == [[order.pk]]


def test_order_needing_approval_waits(approval_product, requester):
    order = submit(approval_product, requester)
    assert order.status == OrderStatus.PENDING_APPROVAL
    assert order.queued_at is None


def test_product_owner_approves_and_the_order_is_queued(approval_product, requester, member):
    order = submit(approval_product, requester)
    order = order_approve(order=order, actor=member)
    assert order.status == OrderStatus.QUEUED
    assert order.approved_at is not None
    assert order.events.last().actor == member


def test_requester_cannot_approve_their_own_order(approval_product, member):
    order = submit(approval_product, member)
    before = snapshot(order)
    with pytest.raises(OrderNotAllowed, match="your own order"):
        order_approve(order=order, actor=member)
    assert snapshot(order) == before


@pytest.mark.parametrize("who", ["engineer", "other_member", "outsider"])
def test_only_product_owners_and_smes_of_the_squad_approve(approval_product, requester, who, request):
    order = submit(approval_product, requester)
    before = snapshot(order)
    with pytest.raises(OrderNotAllowed):
        order_approve(order=order, actor=request.getfixturevalue(who))
    assert snapshot(order) == before


def test_reject_needs_a_reason_and_records_it(approval_product, requester, member):
    order = submit(approval_product, requester)
    before = snapshot(order)
    with pytest.raises(OrderError):
        order_reject(order=order, actor=member, reason="  ")
    assert snapshot(order) == before
    order = order_reject(order=order, actor=member, reason="Use the shared firewall instead")
    assert order.status == OrderStatus.REJECTED
    assert order.failure_reason == "Use the shared firewall instead"
    assert order.finished_at is not None


def test_illegal_moves_are_refused_and_change_nothing(product, approval_product, requester, member):
    queued = submit(product, requester)
    before = snapshot(queued)
    with pytest.raises(IllegalTransition):
        order_approve(order=queued, actor=member)
    with pytest.raises(IllegalTransition):
        order_retry(order=queued, actor=requester)
    assert snapshot(queued) == before


def test_cancelled_queued_order_never_starts(product, requester):
    order = submit(product, requester)
    order = order_cancel(order=order, actor=requester, reason="Ordered by mistake")
    assert order.status == OrderStatus.CANCELLED
    assert order_execute(order_id=order.pk) is None
    assert Run.objects.count() == 0
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED


def test_outsider_cannot_cancel_and_nothing_changes(product, requester, outsider, other_member):
    order = submit(product, requester)
    before = snapshot(order)
    for intruder in (outsider, other_member):
        with pytest.raises(OrderNotAllowed):
            order_cancel(order=order, actor=intruder)
    assert snapshot(order) == before


def test_squad_member_can_cancel_an_order_for_their_product(product, requester, engineer):
    order = order_cancel(order=submit(product, requester), actor=engineer)
    assert order.status == OrderStatus.CANCELLED


def test_terminal_order_cannot_be_cancelled(product, requester):
    order = order_cancel(order=submit(product, requester), actor=requester)
    before = snapshot(order)
    with pytest.raises(IllegalTransition):
        order_cancel(order=order, actor=requester)
    assert snapshot(order) == before


def test_cancelling_while_the_run_has_just_ended_is_refused_not_an_error(product, requester):
    """The run is over but its outcome has not reached the order yet."""
    order = submit(product, requester)
    run = order_start(order_id=order.pk)
    run_claim(run_id=run.pk, worker="test:1")
    run_finish(run_id=run.pk, status=RunStatus.SUCCEEDED, rc=0)
    before = snapshot(order)
    with pytest.raises(IllegalTransition, match="just ended"):
        order_cancel(order=order, actor=requester)
    assert snapshot(order) == before


def test_order_start_runs_once_even_when_called_twice(product, requester):
    order = submit(product, requester)
    first = order_start(order_id=order.pk)
    second = order_start(order_id=order.pk)
    assert first is not None and second is None
    assert Run.objects.count() == 1
    assert OrderRun.objects.get(order=order).attempt == 1
    order.refresh_from_db()
    assert order.status == OrderStatus.RUNNING and order.current_run == first


def test_the_requester_hears_that_the_worker_started_their_order(
    product, requester, django_capture_on_commit_callbacks
):
    """README promises news of each status change: the start goes through
    the one transition path like every other move (event, notification,
    webhook)."""
    webhook_subscribe(actor=requester, url="https://rita.example.com/hook")
    order = submit(product, requester)
    with django_capture_on_commit_callbacks(execute=True):
        run = order_start(order_id=order.pk)
    drain_queued_tasks()  # the webhook deliveries' messages: later tests read the queue

    started = Notification.objects.get(recipient=requester, kind=NotificationKind.ORDER_PROGRESS)
    assert started.order_id == order.pk
    assert started.title == f"Order #{order.pk} ({product.name}) is running"
    event = order.events.get(to_status=OrderStatus.RUNNING)
    assert (event.from_status, event.actor, event.note) == (
        OrderStatus.QUEUED,
        None,
        f"Run {run.pk} started (attempt 1)",
    )
    (delivery,) = WebhookDelivery.objects.filter(order=order)
    assert json.loads(delivery.body)["from_status"] == OrderStatus.QUEUED
    assert json.loads(delivery.body)["to_status"] == OrderStatus.RUNNING


def test_manual_order_lands_in_the_squad_queue_and_is_claimed_once(
    manual_product, requester, member, engineer
):
    order = submit(manual_product, requester)
    assert order.status == OrderStatus.AWAITING_FULFILMENT
    order = order_claim(order=order, actor=engineer)
    assert order.claimed_by == engineer and order.claimed_at is not None
    before = snapshot(order)
    with pytest.raises(IllegalTransition, match="already claimed by eddie"):
        order_claim(order=order, actor=member)
    with pytest.raises(OrderNotAllowed, match="claimed by eddie"):
        order_complete(order=order, actor=member, note="done")
    assert snapshot(order) == before
    order = order_complete(order=order, actor=engineer, note="Created db-42 on the shared cluster")
    assert order.status == OrderStatus.SUCCEEDED
    assert order.resolution_note == "Created db-42 on the shared cluster"
    assert order.secret_inputs_ciphertext == ""


def test_manual_order_fails_with_a_reason(manual_product, requester, engineer):
    order = submit(manual_product, requester)
    with pytest.raises(OrderError):
        order_fail(order=order, actor=engineer, reason="", claim=True)
    order = order_fail(order=order, actor=engineer, reason="No capacity left", claim=True)
    assert order.status == OrderStatus.FAILED
    assert order.failure_reason == "No capacity left"
    assert order.claimed_by == engineer


def test_outsider_cannot_work_the_manual_queue(manual_product, requester, other_member):
    order = submit(manual_product, requester)
    before = snapshot(order)
    for attempt in (order_claim, order_complete):
        with pytest.raises(OrderNotAllowed):
            attempt(order=order, actor=other_member)
    assert snapshot(order) == before


def test_a_worker_that_cannot_decrypt_the_secrets_fails_the_order_instead_of_leaving_it_running(
    product, requester, settings
):
    """A squad's worker with a stale credential key: the run never starts,
    and the order says why rather than stay running for good."""
    order = submit(product, requester, token="s3cr3t-value")
    settings.SQUADRON_CREDENTIAL_KEY = "another-key-that-never-wrote-these-secrets-0123456789"

    finished = order_execute(order_id=order.pk)

    assert finished.status == OrderStatus.FAILED
    assert "cannot decrypt the order's secret inputs" in finished.failure_reason
    assert finished.current_run.status == RunStatus.FAILED
    assert "s3cr3t-value" not in finished.failure_reason


def test_the_sweep_fails_an_order_whose_worker_died_before_its_run_started(product, requester, settings):
    from datetime import timedelta

    from django.utils import timezone

    from runbooks.models import Run

    order = submit(product, requester)
    run = order_start(order_id=order.pk)  # taken by a worker that then died
    orders_sweep()
    assert Order.objects.get(pk=order.pk).status == OrderStatus.RUNNING, "not yet stale"
    Run.objects.filter(pk=run.pk).update(
        created_at=timezone.now() - timedelta(seconds=settings.SQUADRON_HEARTBEAT_STALE_SECONDS + 1)
    )

    report = orders_sweep()

    order.refresh_from_db()
    assert run.pk in report.lost_runs
    assert (order.status, order.failure_reason) == (OrderStatus.FAILED, "worker_lost")
