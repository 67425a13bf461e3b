"""The debt register in the admin (curated by the owning squad only) and the
demo history command."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from catalogue.inputs import validate_inputs
from portal.insights.models import DebtItem
from portal.instances.models import ServiceInstance
from portal.orders.choices import OrderStatus
from portal.orders.models import Order, OrderEvent
from runbooks.execution.masking import MASK
from runbooks.models import RunEvent
from tests.factories import ProductFactory

ADD = reverse("admin:insights_debtitem_add")


def form(squad, product, **changes):
    data = {
        "squad": squad.pk,
        "product": product.pk,
        "title": "Inventory hard-coded in the playbook",
        "description": "",
        "severity": "high",
        "estimated_effort_days": "2.5",
        "status": "open",
    }
    data.update(changes)
    return data


@pytest.mark.django_db
def test_a_member_records_debt_on_their_squads_product_in_the_admin(client, member, squad, manual):
    client.force_login(member)

    response = client.post(ADD, form(squad, manual))

    assert response.status_code == 302
    item = DebtItem.objects.get()
    assert (item.squad, item.product, item.created_by, item.estimated_effort_days) == (
        squad,
        manual,
        member,
        Decimal("2.5"),
    )


@pytest.mark.django_db
def test_a_member_cannot_record_debt_on_another_squads_product_nor_for_another_squad(
    client, member, squad, other_squad, manual
):
    foreign = ProductFactory(slug="foreign", squad=other_squad)
    client.force_login(member)

    for data in (form(squad, foreign), form(other_squad, foreign), form(other_squad, manual)):
        response = client.post(ADD, data)
        assert response.status_code == 200  # the form again, with its errors
        assert "Select a valid choice" in response.content.decode()
    assert DebtItem.objects.count() == 0


@pytest.mark.django_db
def test_another_squads_register_is_invisible_and_unchangeable(client, other_member, squad, manual):
    item = DebtItem.objects.create(squad=squad, product=manual, title="Ours", estimated_effort_days=1)
    client.force_login(other_member)

    assert client.get(reverse("admin:insights_debtitem_change", args=[item.pk])).status_code in (302, 404)
    listing = client.get(reverse("admin:insights_debtitem_changelist")).content.decode()
    assert "Ours" not in listing
    client.post(
        reverse("admin:insights_debtitem_change", args=[item.pk]), form(squad, manual, title="Theirs")
    )
    assert DebtItem.objects.get().title == "Ours"


@pytest.mark.django_db
def test_closing_an_item_in_the_admin_stamps_when(client, member, squad, manual):
    item = DebtItem.objects.create(squad=squad, product=manual, title="Old", estimated_effort_days=1)
    client.force_login(member)

    client.post(reverse("admin:insights_debtitem_change", args=[item.pk]), form(squad, manual, status="done"))

    item.refresh_from_db()
    assert item.status == "done"
    assert item.resolved_at is not None


@pytest.mark.django_db
def test_seed_demo_history_fills_the_demo_once(settings):
    settings.DEBUG = True
    call_command("load_demo", stdout=io.StringIO())

    call_command("seed_demo_history", "--weeks", "4", stdout=io.StringIO())
    orders = Order.objects.count()
    call_command("seed_demo_history", "--weeks", "4", stdout=io.StringIO())

    assert orders > 100
    assert Order.objects.count() == orders
    assert OrderEvent.objects.filter(order__product__slug="firewall-rule").exists()
    assert RunEvent.objects.filter(stdout__contains="[DEPRECATION WARNING]").exists()
    assert DebtItem.objects.count() == 2
    # My services has something to show, one service about to expire.
    instances = ServiceInstance.objects.filter(state="active")
    assert instances.count() >= 3 and instances.filter(owner__username="ben").exists()
    assert instances.filter(expires_at__lt=timezone.now() + timedelta(days=7)).count() == 1
    assert all(instance.created_by_order.instance_id == instance.pk for instance in instances)


@pytest.mark.django_db
def test_seeded_orders_read_like_real_ones(settings):
    """Inputs that pass the product's form (secrets masked), failure reasons
    of the runbook's own, and a run log with the playbook's tasks, a failed
    task where it failed and the recap."""
    settings.DEBUG = True
    call_command("load_demo", stdout=io.StringIO())
    call_command("seed_demo_history", "--weeks", "6", stdout=io.StringIO())

    for order in Order.objects.select_related("product"):
        typed = {name: "s" * 32 if value == MASK else value for name, value in order.inputs.items()}
        _, errors = validate_inputs(order.product.form_schema, typed)
        assert not errors, (order.product.slug, errors)
    account = Order.objects.filter(product__slug="service-account").first()
    assert account is not None and account.inputs["api_secret"] == MASK

    vlan_failures = Order.objects.filter(product__slug="vlan", status=OrderStatus.FAILED)
    assert vlan_failures.exists()
    for order in vlan_failures.exclude(failure_reason="worker_lost"):
        assert str(order.inputs["site"]) in order.failure_reason
        log = list(order.current_run.events.order_by("counter"))
        assert log[0].stdout.startswith("PLAY [Create a VLAN")
        assert [event.failed for event in log].count(True) == 1
        assert order.failure_reason in next(event.stdout for event in log if event.failed)
        assert "failed=1" in log[-1].stdout and order.host_summary["localhost"]["failures"] == 1
    assert not Order.objects.filter(product__slug="dns-record", failure_reason__contains="VLAN").exists()
    succeeded = Order.objects.filter(product__slug="vm", status=OrderStatus.SUCCEEDED).first()
    log = [event.stdout for event in succeeded.current_run.events.order_by("counter")]
    assert any(line.startswith("TASK [Check that Squadron said where to write results]") for line in log)
    assert "failed=0" in log[-1] and succeeded.host_summary["localhost"]["ok"] > 3


@pytest.mark.django_db
def test_seed_demo_history_refuses_outside_debug(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo_history")
    assert Order.objects.count() == 0
