"""Create, update, extend and delete an instance with real ansible-runner
runs: attributes flow from the playbooks' set_stats into the instance, and
from the instance back into the next playbook as ``squadron_instance``."""

from __future__ import annotations

import pytest

from catalogue.choices import OperationKind
from catalogue.inputs import MASK
from catalogue.models import Operation
from portal.instances.choices import InstanceState
from portal.instances.models import ServiceInstance
from portal.instances.services import operation_order
from portal.orders.choices import OrderStatus
from portal.orders.execution import order_execute
from portal.orders.models import Order
from portal.orders.submission import order_submit
from runbooks.crypto import decrypt_json
from runbooks.models import RunEvent
from runbooks.services import runbook_set_playbook
from tests.factories import ProductFactory, RunbookFactory
from tests.runbooks import use_private_dirs

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

CREATE = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Create the database
      ansible.builtin.set_stats:
        data:
          squadron:
            instance:
              name: "{{ db_name }}-db"
              attributes:
                size_gb: "{{ size_gb | int }}"
                host: db1.example.com
                admin_password: "{{ 'generated-' ~ squadron_run_id ~ '-Pa55' }}"
              links:
                - {title: Console, url: "https://console.example.com/{{ db_name }}"}
"""

RESIZE = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Resize what the instance says
      ansible.builtin.assert:
        that:
          - squadron_instance.attributes.host == "db1.example.com"
          - squadron_instance.attributes.admin_password is match("generated-")
          - squadron_instance.product == "postgres"
          - size_gb > squadron_instance.attributes.size_gb
    - name: Show the instance (its secret is masked in the log)
      ansible.builtin.debug:
        msg: "resizing {{ squadron_instance.name }} with {{ squadron_instance.attributes.admin_password }}"
    - name: Report the new size
      ansible.builtin.set_stats:
        data:
          squadron:
            instance:
              attributes:
                size_gb: "{{ size_gb }}"
                resized_from: "{{ squadron_instance.attributes.size_gb }}"
"""

EXTEND = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Say which instance is extended
      ansible.builtin.debug:
        msg: "extending {{ squadron_instance.id }}"
"""

DROP = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - name: The name reaches the playbook as data, never a template
      ansible.builtin.assert:
        that:
          - squadron_instance.name == "{{ '{{' }} lookup('pipe', 'id') {{ '}}' }}-db"
"""

BROKEN_REPORT = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Report rubbish
      ansible.builtin.set_stats:
        data:
          squadron: [1, 2, 3]
"""


@pytest.fixture
def real_database(squad, settings, tmp_path):
    use_private_dirs(settings, tmp_path)
    product = ProductFactory(
        slug="postgres",
        name="PostgreSQL database",
        squad=squad,
        instance=True,
        max_lifetime_days=30,
        runbook=RunbookFactory(squad=squad, slug="create-postgres", playbook=CREATE),
        form_schema={
            "type": "object",
            "required": ["db_name"],
            "properties": {
                "db_name": {"type": "string"},
                "size_gb": {"type": "integer", "default": 10},
                "admin_password": {"type": "string", "x-secret": True},
            },
        },
    )
    for slug, kind, playbook, form in [
        (
            "resize",
            OperationKind.UPDATE,
            RESIZE,
            {"type": "object", "properties": {"size_gb": {"type": "integer"}}},
        ),
        ("extend", OperationKind.EXTEND, EXTEND, {"type": "object", "properties": {}}),
        ("drop", OperationKind.DELETE, DROP, {"type": "object", "properties": {}}),
    ]:
        Operation.objects.create(
            product=product,
            slug=slug,
            name=slug.title(),
            kind=kind,
            runbook=RunbookFactory(squad=squad, slug=f"{slug}-postgres", playbook=playbook),
            form_schema=form,
        )
    return product


def run(order: Order) -> Order:
    order_execute(order_id=order.pk)
    return Order.objects.get(pk=order.pk)


def log_of(order: Order) -> str:
    return "\n".join(RunEvent.objects.filter(run=order.current_run).values_list("stdout", flat=True))


def test_create_update_extend_delete_with_attributes_flowing_both_ways(real_database, requester):
    created = run(
        order_submit(requester=requester, product=real_database, inputs={"db_name": "orders", "size_gb": 20})
    )
    assert created.status == OrderStatus.SUCCEEDED, created.failure_reason
    instance = ServiceInstance.objects.get(created_by_order=created)
    assert (instance.name, instance.state) == ("orders-db", InstanceState.ACTIVE)
    assert instance.attributes == {"size_gb": 20, "host": "db1.example.com", "admin_password": MASK}
    password = decrypt_json(instance.secret_attributes_ciphertext)["admin_password"]
    assert password == f"generated-{created.current_run_id}-Pa55"
    assert instance.links == [{"title": "Console", "url": "https://console.example.com/orders"}]

    resized = run(
        operation_order(actor=requester, instance=instance, operation="resize", inputs={"size_gb": 50})
    )
    assert resized.status == OrderStatus.SUCCEEDED, resized.failure_reason + log_of(resized)
    instance.refresh_from_db()
    assert instance.attributes["size_gb"] == "50" or instance.attributes["size_gb"] == 50
    assert str(instance.attributes["resized_from"]) == "20"
    assert f"resizing orders-db with {MASK}" in log_of(resized)
    assert password not in log_of(resized)

    before = instance.expires_at
    extended = run(operation_order(actor=requester, instance=instance, operation="extend", inputs={}))
    assert extended.status == OrderStatus.SUCCEEDED
    assert f"extending {instance.pk}" in log_of(extended)
    instance.refresh_from_db()
    assert instance.expires_at > before

    ServiceInstance.objects.filter(pk=instance.pk).update(name="{{ lookup('pipe', 'id') }}-db")
    dropped = run(operation_order(actor=requester, instance=instance, operation="drop", inputs={}))
    assert dropped.status == OrderStatus.SUCCEEDED, dropped.failure_reason + log_of(dropped)
    instance.refresh_from_db()
    assert instance.state == InstanceState.DECOMMISSIONED
    assert [
        (e.from_state, e.to_state)
        for e in instance.events.exclude(from_state="").exclude(
            to_state=InstanceState.ACTIVE, from_state=InstanceState.ACTIVE
        )
    ] == [
        ("provisioning", "active"),
        ("active", "updating"),
        ("updating", "active"),
        ("active", "updating"),
        ("updating", "active"),
        ("active", "decommissioning"),
        ("decommissioning", "decommissioned"),
    ]


def test_a_playbook_reporting_rubbish_still_finishes_and_its_log_says_what_was_ignored(
    real_database, requester
):
    runbook_set_playbook(runbook=real_database.runbook, content=BROKEN_REPORT)
    created = run(order_submit(requester=requester, product=real_database, inputs={"db_name": "orders"}))
    assert created.status == OrderStatus.SUCCEEDED
    instance = ServiceInstance.objects.get(created_by_order=created)
    assert instance.state == InstanceState.ACTIVE and instance.attributes == {}
    assert 'set_stats "squadron" must be a mapping' in log_of(created)
