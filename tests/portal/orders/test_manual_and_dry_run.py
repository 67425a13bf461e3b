"""Manual fulfilment beyond claim and complete (release, switching a product
to automation), and the approver's dry run: a real check-mode run of the
pinned runbook version that changes nothing."""

from __future__ import annotations

import pytest

from catalogue.choices import ApprovalPolicy, Fulfilment
from portal.orders.approvals import order_approve
from portal.orders.choices import OrderStatus
from portal.orders.errors import IllegalTransition, OrderNotAllowed
from portal.orders.execution import order_dry_run, order_dry_run_execute
from portal.orders.fulfilment import order_claim, order_complete, order_release
from portal.orders.models import Order, OrderDryRun
from portal.orders.recovery import orders_sweep
from portal.orders.submission import order_submit
from runbooks.choices import RunStatus
from runbooks.models import Run
from tests.factories import ProductFactory, RunbookFactory
from tests.runbooks import output_of, playbook, use_private_dirs

pytestmark = pytest.mark.django_db

FORM = {
    "type": "object",
    "properties": {"label": {"type": "string"}, "token": {"type": "string", "x-secret": True}},
}


def test_claimer_or_product_owner_releases_a_claim_others_cannot(
    manual_product, requester, member, engineer, other_member
):
    order = order_submit(requester=requester, product=manual_product, inputs={"hostname": "a"})
    order = order_claim(order=order, actor=engineer)
    for stranger in (other_member, requester):
        with pytest.raises(OrderNotAllowed):
            order_release(order=order, actor=stranger)
    order.refresh_from_db()
    assert order.claimed_by == engineer
    order = order_release(order=order, actor=member)
    assert order.claimed_by is None and order.claimed_at is None
    with pytest.raises(IllegalTransition, match="not claimed"):
        order_release(order=order, actor=member)


def test_completion_records_claim_and_finish_times(manual_product, requester, engineer):
    order = order_submit(requester=requester, product=manual_product, inputs={"hostname": "a"})
    order = order_complete(order=order, actor=engineer, note="Restored to /srv/restore", claim=True)
    assert order.status == OrderStatus.SUCCEEDED
    assert order.claimed_by == engineer
    assert order.created_at <= order.claimed_at <= order.finished_at
    assert order.resolution_note == "Restored to /srv/restore"


def test_switching_a_product_from_manual_to_automated_keeps_its_history(
    manual_product, requester, engineer, squad
):
    done = order_submit(requester=requester, product=manual_product, inputs={"hostname": "a"})
    order_complete(order=done, actor=engineer, note="by hand", claim=True)
    waiting = order_submit(requester=requester, product=manual_product, inputs={"hostname": "b"})

    manual_product.runbook = RunbookFactory(squad=squad)
    manual_product.fulfilment = Fulfilment.AUTOMATED
    manual_product.full_clean()
    manual_product.save()
    automated = order_submit(requester=requester, product=manual_product, inputs={"hostname": "c"})

    done.refresh_from_db()
    waiting.refresh_from_db()
    assert (done.fulfilment, done.status) == (Fulfilment.MANUAL, OrderStatus.SUCCEEDED)
    assert (waiting.fulfilment, waiting.status) == (Fulfilment.MANUAL, OrderStatus.AWAITING_FULFILMENT)
    assert (
        order_complete(order=waiting, actor=engineer, note="done", claim=True).status == OrderStatus.SUCCEEDED
    )
    assert (automated.fulfilment, automated.status) == (Fulfilment.AUTOMATED, OrderStatus.QUEUED)
    assert Order.objects.filter(product=manual_product).count() == 3


@pytest.fixture
def checkable(squad):
    runbook = RunbookFactory(squad=squad, playbook=playbook("check"), supports_check_mode=True)
    return ProductFactory(
        squad=squad, runbook=runbook, approval_policy=ApprovalPolicy.SQUAD, form_schema=FORM
    )


@pytest.mark.slow
def test_approver_previews_the_order_in_check_mode_and_nothing_changes(
    checkable, requester, member, settings, tmp_path
):
    _, output_dir = use_private_dirs(settings, tmp_path)
    order = order_submit(
        requester=requester, product=checkable, inputs={"label": "x", "token": "s3cr3t-token-value"}
    )

    dry_run = order_dry_run(order=order, actor=member)
    assert order_dry_run(order=order, actor=member) == dry_run, "one at a time"
    run = order_dry_run_execute(dry_run_id=dry_run.pk)

    assert run.status == RunStatus.SUCCEEDED and run.check_mode
    assert run.stats["localhost"]["changed"] == 1, "it reports what it would change"
    assert not (output_of(output_dir, run) / f"check-{run.pk}").exists(), "and changes nothing"
    assert run.masked_inputs["token"] != "s3cr3t-token-value"
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_APPROVAL
    assert order.attempts == 0 and not order.order_runs.exists()
    assert order_dry_run_execute(dry_run_id=dry_run.pk) is None, "a second delivery runs nothing"
    assert order_dry_run(order=order, actor=member) != dry_run, "a finished one can be redone"


def test_a_dry_run_whose_secrets_the_worker_cannot_decrypt_fails_and_is_not_sent_again(
    checkable, requester, member, settings
):
    order = order_submit(
        requester=requester, product=checkable, inputs={"label": "x", "token": "s3cr3t-token-value"}
    )
    dry_run = order_dry_run(order=order, actor=member)
    settings.SQUADRON_CREDENTIAL_KEY = "another-key-that-never-wrote-these-secrets-0123456789"

    run = order_dry_run_execute(dry_run_id=dry_run.pk)

    assert run.status == RunStatus.FAILED and "cannot decrypt" in run.failure_reason
    settings.SQUADRON_REDISPATCH_AFTER_SECONDS = 0
    assert dry_run.pk not in orders_sweep().redispatched_dry_runs
    assert order_dry_run(order=order, actor=member) != dry_run, "an approver may ask again"


def test_dry_run_is_refused_without_check_mode_support_or_permission(
    checkable, requester, member, other_member
):
    order = order_submit(requester=requester, product=checkable, inputs={"label": "x"})
    for who in (requester, other_member):
        with pytest.raises(OrderNotAllowed):
            order_dry_run(order=order, actor=who)
    checkable.runbook.supports_check_mode = False
    checkable.runbook.save()
    order.refresh_from_db()
    with pytest.raises(IllegalTransition, match="does not support check mode"):
        order_dry_run(order=order, actor=member)
    order_approve(order=order, actor=member)
    with pytest.raises(IllegalTransition, match="waiting for approval"):
        order_dry_run(order=order, actor=member)
    assert not OrderDryRun.objects.exists()
    assert not Run.objects.filter(check_mode=True).exists()
