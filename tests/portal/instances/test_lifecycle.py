"""An instance's states follow the orders against it: created by a
succeeded order, changed by operations, back where it was when one fails or
is cancelled, one operation at a time, decommissioned by a delete."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from catalogue.inputs import MASK
from portal.instances.choices import InstanceState
from portal.instances.errors import InstanceBusy, InstanceNotAllowed, InstanceNotFound, InstanceNotOperable
from portal.instances.models import InstanceEvent, ServiceInstance
from portal.instances.services import operation_order
from portal.orders.approvals import order_approve
from portal.orders.cancellation import order_cancel
from portal.orders.choices import OrderStatus
from portal.orders.errors import InvalidInputs, OrderNotAllowed
from portal.orders.execution import order_retry, order_start
from portal.orders.models import Order
from portal.orders.recovery import orders_sweep
from portal.orders.submission import order_submit
from runbooks.choices import RunStatus
from runbooks.crypto import decrypt_json
from runbooks.models import Run, RunEvent
from runbooks.services import run_claim
from squads.choices import Role
from tests.factories import MembershipFactory, SquadFactory, UserFactory
from tests.instances import create, play, reporting

pytestmark = pytest.mark.django_db


def snapshot(instance: ServiceInstance) -> dict:
    instance.refresh_from_db()
    return {
        "state": instance.state,
        "busy_with": instance.busy_with_id,
        "attributes": instance.attributes,
        "events": instance.events.count(),
        "orders": Order.objects.count(),
    }


def history(instance: ServiceInstance) -> list[tuple[str, str]]:
    return list(instance.events.values_list("from_state", "to_state"))


def test_a_succeeded_create_order_makes_an_active_instance_with_what_the_runbook_reported(
    database, requester
):
    order = order_submit(
        requester=requester, product=database, inputs={"db_name": "orders", "admin_password": "correct-horse"}
    )
    assert not ServiceInstance.objects.exists(), "nothing exists before the order starts"

    finished = play(order, reported=reporting("orders-db", host="db1.example.com", port=5432))

    instance = ServiceInstance.objects.get()
    assert finished.instance_id == instance.pk
    assert (instance.name, instance.state, instance.owner, instance.product) == (
        "orders-db",
        InstanceState.ACTIVE,
        requester,
        database,
    )
    assert instance.attributes == {"host": "db1.example.com", "port": 5432}
    assert instance.busy_with_id is None
    assert timedelta(days=29, hours=23) < instance.expires_at - timezone.now() <= timedelta(days=30)
    assert history(instance) == [("", "provisioning"), ("provisioning", "active")]
    assert list(instance.events.values_list("order_id", flat=True)) == [order.pk, order.pk]
    log = list(
        RunEvent.objects.filter(run=finished.current_run, event="squadron_report").values_list(
            "stdout", flat=True
        )
    )
    assert log == ["Squadron recorded on the instance: name 'orders-db', 2 attribute(s) (host, port)."]


def test_a_create_order_whose_runbook_reports_nothing_still_makes_an_instance_named_after_the_order(
    database, requester
):
    order = order_submit(requester=requester, product=database, inputs={"db_name": "x"})
    play(order)
    instance = ServiceInstance.objects.get()
    assert instance.name == f"PostgreSQL database #{order.pk}"
    assert instance.attributes == {} and instance.state == InstanceState.ACTIVE


def test_a_product_without_instances_makes_none(product, requester):
    order = order_submit(requester=requester, product=product, inputs={"hostname": "web-01"})
    play(order)
    assert not ServiceInstance.objects.exists()


def test_a_failed_create_leaves_the_instance_failed_and_a_retry_brings_it_to_life(database, requester):
    order = order_submit(requester=requester, product=database, inputs={"db_name": "x"})
    play(order, status=RunStatus.FAILED)
    instance = ServiceInstance.objects.get()
    assert instance.state == InstanceState.FAILED and instance.busy_with_id is None
    assert "disk full" in instance.events.last().message

    order_retry(order=Order.objects.get(pk=order.pk), actor=requester)
    play(Order.objects.get(pk=order.pk), reported=reporting("second-try"))

    instance.refresh_from_db()
    assert (instance.state, instance.name) == (InstanceState.ACTIVE, "second-try")
    assert history(instance) == [
        ("", "provisioning"),
        ("provisioning", "failed"),
        ("failed", "provisioning"),
        ("provisioning", "active"),
    ]


def test_an_update_changes_the_instance_while_it_runs_and_merges_what_it_reports(database, requester):
    instance = create(database, requester)
    order = operation_order(actor=requester, instance=instance, operation="resize", inputs={"size_gb": 50})
    assert (order.operation.slug, order.instance_id, order.form_schema["required"]) == (
        "resize",
        instance.pk,
        ["size_gb"],
    )
    assert order.runbook_version.runbook.slug == "resize-postgres"

    run = order_start(order_id=order.pk)
    instance.refresh_from_db()
    assert (instance.state, instance.busy_with_id) == (InstanceState.UPDATING, order.pk)
    run_claim(run_id=run.pk, worker="test:1")
    from portal.orders.execution import order_finish
    from runbooks.services import run_finish

    run_finish(run_id=run.pk, status=RunStatus.SUCCEEDED, rc=0, reported=reporting(size_gb=50, port=None))
    order_finish(order_id=order.pk, run=run)

    instance.refresh_from_db()
    assert instance.state == InstanceState.ACTIVE and instance.busy_with_id is None
    assert instance.attributes == {"host": "db1.example.com", "size_gb": 50}, "merged; null removes"
    assert history(instance)[-2:] == [("active", "updating"), ("updating", "active")]


def test_a_failed_update_leaves_the_instance_active_with_the_failure_on_its_history(database, requester):
    instance = create(database, requester)
    before = dict(instance.attributes)
    order = operation_order(actor=requester, instance=instance, operation="resize", inputs={"size_gb": 50})
    play(order, status=RunStatus.FAILED, reported=reporting(size_gb=50))
    instance.refresh_from_db()
    assert instance.state == InstanceState.ACTIVE and instance.busy_with_id is None
    assert instance.attributes == before, "a failed run's report is not taken"
    last = instance.events.last()
    assert (last.from_state, last.to_state, last.order_id) == ("updating", "active", order.pk)
    assert "Resize failed" in last.message and "disk full" in last.message


def test_a_cancelled_operation_changes_nothing_and_frees_the_instance(
    database, approved_resize, requester, member
):
    instance = create(database, requester)
    order = operation_order(actor=requester, instance=instance, operation="resize", inputs={"size_gb": 50})
    assert order.status == OrderStatus.PENDING_APPROVAL
    instance.refresh_from_db()
    assert (instance.state, instance.busy_with_id) == (InstanceState.ACTIVE, order.pk)

    order_cancel(order=order, actor=requester)

    instance.refresh_from_db()
    assert (instance.state, instance.busy_with_id) == (InstanceState.ACTIVE, None)
    assert "nothing changed" in instance.events.last().message
    again = operation_order(actor=requester, instance=instance, operation="resize", inputs={"size_gb": 60})
    assert again.status == OrderStatus.PENDING_APPROVAL


def test_an_operation_follows_its_own_approval_policy(database, approved_resize, requester, member):
    instance = create(database, requester)
    order = operation_order(actor=requester, instance=instance, operation="resize", inputs={"size_gb": 50})
    assert [step["name"] for step in order.approval_steps] == ["Network Squad approval"]
    with pytest.raises(OrderNotAllowed):
        order_approve(order=order, actor=requester)  # nobody approves their own order
    order_approve(order=order, actor=member)
    assert Order.objects.get(pk=order.pk).status == OrderStatus.QUEUED


def test_a_second_operation_is_refused_naming_the_running_order_and_nothing_is_created(database, requester):
    instance = create(database, requester)
    first = operation_order(actor=requester, instance=instance, operation="resize", inputs={"size_gb": 50})
    before = snapshot(instance)
    with pytest.raises(InstanceBusy, match=f"order #{first.pk}") as refused:
        operation_order(actor=requester, instance=instance, operation="extend", inputs={})
    assert refused.value.order_id == first.pk
    assert snapshot(instance) == before


def test_the_placement_refuses_a_second_operation_even_past_the_early_check(database, requester, monkeypatch):
    """Two requests checked the instance at once and both found it idle: the
    conditional update at placement lets one through."""
    from portal.instances import services

    instance = create(database, requester)
    monkeypatch.setattr(services, "_check_operable", lambda instance, operation: None)
    first = operation_order(actor=requester, instance=instance, operation="resize", inputs={"size_gb": 50})
    before = snapshot(instance)
    with pytest.raises(InstanceBusy, match=f"order #{first.pk} \\(Resize, queued\\)"):
        operation_order(actor=requester, instance=instance, operation="resize", inputs={"size_gb": 70})
    assert snapshot(instance) == before


def test_inputs_failing_the_operation_form_are_refused_and_nothing_changes(database, requester):
    instance = create(database, requester)
    before = snapshot(instance)
    with pytest.raises(InvalidInputs) as refused:
        operation_order(actor=requester, instance=instance, operation="resize", inputs={"size_gb": 5})
    assert refused.value.errors == {"size_gb": ["Must be at least 10."]}
    assert snapshot(instance) == before


def test_a_delete_decommissions_and_then_nothing_more_can_be_ordered(database, requester):
    instance = create(database, requester)
    order = operation_order(actor=requester, instance=instance, operation="drop", inputs={})
    play(order)
    instance.refresh_from_db()
    assert instance.state == InstanceState.DECOMMISSIONED and instance.decommissioned_at is not None
    assert history(instance)[-2:] == [("active", "decommissioning"), ("decommissioning", "decommissioned")]
    before = snapshot(instance)
    for slug in ("resize", "drop"):
        with pytest.raises(InstanceNotOperable, match="decommissioned"):
            operation_order(actor=requester, instance=instance, operation=slug, inputs={"size_gb": 20})
    assert snapshot(instance) == before


def test_a_failed_instance_can_be_given_up_with_its_delete_operation_only(database, requester):
    order = order_submit(requester=requester, product=database, inputs={"db_name": "x"})
    play(order, status=RunStatus.FAILED)
    instance = ServiceInstance.objects.get()
    with pytest.raises(InstanceNotOperable):
        operation_order(actor=requester, instance=instance, operation="resize", inputs={"size_gb": 20})
    play(operation_order(actor=requester, instance=instance, operation="drop", inputs={}))
    instance.refresh_from_db()
    assert instance.state == InstanceState.DECOMMISSIONED
    with pytest.raises(InstanceNotOperable, match="decommissioned: it cannot be created again"):
        order_retry(order=Order.objects.get(pk=order.pk), actor=requester)


def test_a_failed_delete_on_a_failed_instance_leaves_it_failed(database, requester):
    order = order_submit(requester=requester, product=database, inputs={"db_name": "x"})
    play(order, status=RunStatus.FAILED)
    instance = ServiceInstance.objects.get()
    play(
        operation_order(actor=requester, instance=instance, operation="drop", inputs={}),
        status=RunStatus.FAILED,
    )
    instance.refresh_from_db()
    assert (instance.state, instance.busy_with_id) == (InstanceState.FAILED, None)


def test_a_worker_killed_mid_operation_fails_the_order_and_the_instance_returns_to_active(
    database, requester, settings
):
    instance = create(database, requester)
    order = operation_order(actor=requester, instance=instance, operation="resize", inputs={"size_gb": 50})
    run = order_start(order_id=order.pk)
    run_claim(run_id=run.pk, worker="test:1")  # then the worker dies: no heartbeat
    instance.refresh_from_db()
    assert instance.state == InstanceState.UPDATING
    Run.objects.filter(pk=run.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=settings.SQUADRON_HEARTBEAT_STALE_SECONDS + 5)
    )

    report = orders_sweep()

    assert order.pk in report.finished_orders
    assert Order.objects.get(pk=order.pk).status == OrderStatus.FAILED
    instance.refresh_from_db()
    assert (instance.state, instance.busy_with_id) == (InstanceState.ACTIVE, None)
    assert "worker_lost" in instance.events.last().message


def test_an_extend_pushes_the_expiry_a_lifetime_ahead(database, requester):
    instance = create(database, requester)
    ServiceInstance.objects.filter(pk=instance.pk).update(
        expires_at=timezone.now() + timedelta(days=2), expiry_reminders=2
    )
    play(operation_order(actor=requester, instance=instance, operation="extend", inputs={}))
    instance.refresh_from_db()
    assert timedelta(days=29, hours=23) < instance.expires_at - timezone.now() <= timedelta(days=30)
    assert instance.expiry_reminders == 0, "the reminders start again"
    assert "now expires on" in instance.events.last().message


def test_a_retried_operation_is_refused_while_another_works_on_the_instance(database, requester):
    instance = create(database, requester)
    failed = play(
        operation_order(actor=requester, instance=instance, operation="resize", inputs={"size_gb": 50}),
        status=RunStatus.FAILED,
    )
    running = operation_order(actor=requester, instance=instance, operation="extend", inputs={})
    with pytest.raises(InstanceBusy, match=f"order #{running.pk}"):
        order_retry(order=failed, actor=requester)
    assert Order.objects.get(pk=failed.pk).status == OrderStatus.FAILED


# --- Who may see and operate an instance --------------------------------------------------


def test_someone_elses_instance_is_not_found_and_nothing_is_ordered(
    database, requester, outsider, other_member
):
    instance = create(database, requester)
    before = snapshot(instance)
    for stranger in (outsider, other_member):
        with pytest.raises(InstanceNotFound):
            operation_order(actor=stranger, instance=instance, operation="resize", inputs={"size_gb": 50})
    assert snapshot(instance) == before


def test_the_owning_squad_operates_and_a_platform_lead_only_looks(database, requester, member):
    instance = create(database, requester)
    lead = MembershipFactory(
        user=UserFactory(username="pat"), squad=SquadFactory(slug="platform"), role=Role.PLATFORM_LEAD
    ).user
    before = snapshot(instance)
    with pytest.raises(InstanceNotAllowed):
        operation_order(actor=lead, instance=instance, operation="resize", inputs={"size_gb": 50})
    assert snapshot(instance) == before
    order = operation_order(actor=member, instance=instance, operation="resize", inputs={"size_gb": 50})
    assert order.requester == member and order.instance_id == instance.pk


# --- Attributes: secrets and what a report may not do ----------------------------------


def test_secret_attributes_are_encrypted_at_rest_and_masked(database, requester):
    instance = create(
        database,
        requester,
        reported=reporting(host="db1", admin_password="generated-Pa55word", api_key="k-123456789"),
    )
    later = play(
        operation_order(actor=requester, instance=instance, operation="resize", inputs={"size_gb": 20}),
        reported=reporting(echo="the password is generated-Pa55word"),
    )
    log = "\n".join(RunEvent.objects.filter(run=later.current_run).values_list("stdout", flat=True))
    assert "Attribute 'echo' ignored: it holds a secret value" in log
    instance.refresh_from_db()
    # admin_password: x-secret in the product's form; api_key is not declared.
    assert instance.attributes["admin_password"] == MASK
    assert decrypt_json(instance.secret_attributes_ciphertext) == {"admin_password": "generated-Pa55word"}
    assert "generated-Pa55word" not in instance.secret_attributes_ciphertext
    assert instance.attributes["api_key"] == "k-123456789"


def test_a_report_may_declare_its_own_secret_attributes(database, requester):
    reported = {
        "squadron": {"instance": {"attributes": {"token": "tok-abcdefgh"}, "secret_attributes": ["token"]}}
    }
    instance = create(database, requester, reported=reported)
    assert instance.attributes == {"token": MASK}
    assert decrypt_json(instance.secret_attributes_ciphertext) == {"token": "tok-abcdefgh"}


def test_an_attribute_holding_a_secret_of_the_run_in_clear_is_ignored_and_the_log_says_so(
    database, requester
):
    """The executor masks the report as it masks the output: where the two
    differ, a secret input or credential sits in clear."""
    dsn = "postgres://admin:correct-horse-battery@db1/orders"
    instance = create(
        database,
        requester,
        reported=reporting(host="db1", dsn=dsn),
        reported_masked=reporting(host="db1", dsn=dsn.replace("correct-horse-battery", MASK)),
    )
    assert instance.attributes == {"host": "db1"}
    order = instance.created_by_order
    log = "\n".join(RunEvent.objects.filter(run=order.current_run).values_list("stdout", flat=True))
    assert "Attribute 'dsn' ignored: it holds a secret value" in log
    assert "correct-horse-battery" not in log


@pytest.mark.parametrize(
    ("reported", "says"),
    [
        ({"squadron": ["not", "a", "mapping"]}, 'set_stats "squadron" must be a mapping'),
        ({"squadron": {"instance": {"attributes": "size=10"}}}, "The attributes must be a mapping"),
        (
            {"squadron": {"instance": {"links": [{"title": "Console", "url": "javascript:alert(1)"}]}}},
            "Link 1 ignored: its url must be an http(s) address",
        ),
        ({"squadron": {"instance": {"attributes": {"bad name": 1}}}}, "Attribute 'bad name' ignored"),
        ({"squadron": {"instance": {"name": ""}}}, "The instance name must be text"),
        ({"squadron": {"instance": {"depends_on": 7}}}, "depends_on must be a list of instance ids"),
    ],
)
def test_a_malformed_report_is_ignored_the_order_still_succeeds_and_the_log_says_what(
    database, requester, reported, says
):
    order = order_submit(requester=requester, product=database, inputs={"db_name": "x"})
    finished = play(order, reported=reported)
    assert finished.status == OrderStatus.SUCCEEDED
    instance = ServiceInstance.objects.get()
    assert instance.state == InstanceState.ACTIVE and instance.links == [] and instance.attributes == {}
    log = "\n".join(RunEvent.objects.filter(run=finished.current_run).values_list("stdout", flat=True))
    assert says in log


def test_a_huge_report_is_ignored_whole(database, requester):
    order = order_submit(requester=requester, product=database, inputs={"db_name": "x"})
    finished = play(order, reported=reporting(blob="x" * 70_000))
    instance = ServiceInstance.objects.get()
    assert instance.attributes == {} and finished.status == OrderStatus.SUCCEEDED
    log = RunEvent.objects.get(run=finished.current_run, event="squadron_report").stdout
    assert "larger than 65,536 bytes" in log


def test_links_are_kept_when_they_are_web_addresses(database, requester):
    reported = {
        "squadron": {
            "instance": {
                "links": [{"title": "Console", "url": "https://console.example.com/db/1"}, {"title": "x"}]
            }
        }
    }
    instance = create(database, requester, reported=reported)
    assert instance.links == [{"title": "Console", "url": "https://console.example.com/db/1"}]


def test_every_state_change_is_on_the_history_with_its_order_and_actor(database, requester):
    instance = create(database, requester)
    order = operation_order(actor=requester, instance=instance, operation="drop", inputs={})
    play(order)
    rows = list(
        InstanceEvent.objects.filter(instance=instance).values_list("to_state", "order_id", "actor_id")
    )
    assert rows[-3:] == [
        ("active", order.pk, requester.pk),  # ordered (no state change)
        ("decommissioning", order.pk, None),  # the worker started it
        ("decommissioned", order.pk, None),
    ]
