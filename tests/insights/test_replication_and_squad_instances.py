"""Replicated resources (products of different squads alike by runbook,
attribute names and category, with their spend) and the instances each
squad keeps running in its load."""

from __future__ import annotations

from decimal import Decimal

import pytest

from catalogue.choices import Fulfilment, ProductStatus
from catalogue.models import Operation
from portal.insights import load
from portal.insights.periods import Period
from portal.insights.replication import replicated_resources
from portal.insights.reports import OverviewReport, SquadReport
from portal.instances.choices import InstanceState
from portal.instances.models import ServiceInstance
from squads.choices import Role
from tests.factories import (
    CategoryFactory,
    MembershipFactory,
    ProductFactory,
    RunbookFactory,
    SquadFactory,
    UserFactory,
)
from tests.insights.conftest import NOW

pytestmark = pytest.mark.django_db

PROVISION = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Make the machine
      community.general.proxmox_kvm:
        name: "{{ hostname }}"
        cores: "{{ vcpus }}"
    - name: Give it a disk
      community.general.proxmox_disk:
        vmid: "{{ hostname }}"
        size: "{{ size_gb }}"
"""
OTHER = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Add a record
      community.general.nsupdate:
        record: "{{ record }}"
        value: "{{ address }}"
"""


def shaped(slug, squad, *, category, fields, playbook=None, **extra):
    runbook = RunbookFactory(squad=squad, playbook=playbook) if playbook else None
    return ProductFactory(
        slug=slug,
        squad=squad,
        category=category,
        runbook=runbook,
        fulfilment=Fulfilment.AUTOMATED if runbook else Fulfilment.MANUAL,
        form_schema={"type": "object", "properties": {name: {"type": "string"} for name in fields}},
        **extra,
    )


@pytest.fixture
def shelves():
    return CategoryFactory(slug="compute"), CategoryFactory(slug="network")


def test_two_squads_offering_the_same_machine_are_listed_with_the_spend_on_each(shelves):
    compute, _ = shelves
    network, platform = SquadFactory(slug="network"), SquadFactory(slug="platform")
    first = shaped(
        "vm", network, category=compute, fields=["hostname", "vcpus", "size_gb"], playbook=PROVISION
    )
    second = shaped("box", platform, category=compute, fields=["hostname", "vcpus"], playbook=PROVISION)
    ServiceInstance.objects.create(product=first, owner=UserFactory(), name="a", state=InstanceState.ACTIVE)

    pairs = replicated_resources({first.pk: Decimal("10.00"), second.pk: Decimal("250.00")})

    assert len(pairs) == 1
    pair = pairs[0]
    assert (pair.first, pair.second) == (second, first)  # the bigger spender first
    assert (pair.first_spend, pair.second_spend, pair.spend) == (
        Decimal("250.00"),
        Decimal("10.00"),
        Decimal("260.00"),
    )
    assert pair.by_facet == {"runbook": 1.0, "attributes": pytest.approx(2 / 3), "category": 1.0}
    assert pair.score == pytest.approx((0.5 + 0.3 * 2 / 3 + 0.2) / 1.0)
    assert pair.shared_attributes == ["hostname", "vcpus"]
    assert (pair.first_running, pair.second_running) == (0, 1)


def test_what_instances_report_and_operation_forms_are_attribute_names_too(shelves):
    compute, network_shelf = shelves
    one = shaped("vm", SquadFactory(slug="a"), category=compute, fields=["hostname"])
    other = shaped("box", SquadFactory(slug="b"), category=network_shelf, fields=[])
    ServiceInstance.objects.create(
        product=other, owner=UserFactory(), name="b", state=InstanceState.ACTIVE, attributes={"hostname": "x"}
    )
    Operation.objects.create(
        product=one,
        slug="resize",
        name="Resize",
        kind="update",
        runbook=RunbookFactory(squad=one.squad),
        form_schema={"type": "object", "properties": {"disk": {"type": "integer"}}},
    )
    ServiceInstance.objects.create(
        product=one, owner=UserFactory(), name="a", state=InstanceState.ACTIVE, attributes={"disk": 20}
    )

    pairs = replicated_resources({})

    # No product runbook, other shelves: attributes {hostname, disk} against
    # {hostname}, half in common: (0.3 * 0.5 + 0.2 * 0) / 0.5 = 0.3.
    assert pairs == []
    (pair,) = replicated_resources({}, threshold=0.29)
    assert pair.by_facet == {"attributes": 0.5, "category": 0.0}
    assert pair.score == pytest.approx(0.3)
    assert pair.shared_attributes == ["hostname"]


def test_a_shelf_alone_one_squad_or_a_draft_makes_no_pair(shelves):
    compute, _ = shelves
    network, platform = SquadFactory(slug="network"), SquadFactory(slug="platform")
    shaped("vm", network, category=compute, fields=[])
    shaped("box", platform, category=compute, fields=[])  # same shelf, nothing else
    shaped("vm2", network, category=compute, fields=["hostname"], playbook=PROVISION)
    shaped("vm3", network, category=compute, fields=["hostname"], playbook=PROVISION)  # same squad
    shaped(
        "draft",
        platform,
        category=compute,
        fields=["hostname"],
        playbook=PROVISION,
        status=ProductStatus.DRAFT,
    )
    shaped("dns", platform, category=shelves[1], fields=["record", "address"], playbook=OTHER)

    assert replicated_resources({}) == []


def test_each_squad_load_counts_the_instances_it_keeps_running_per_member(squad, other_squad):
    product = ProductFactory(slug="vm", squad=squad, instance=True)
    for index, state in enumerate(
        [InstanceState.ACTIVE, InstanceState.ACTIVE, InstanceState.FAILED, InstanceState.DECOMMISSIONED]
    ):
        ServiceInstance.objects.create(product=product, owner=UserFactory(), name=f"i{index}", state=state)
    for name in ("a", "b"):
        MembershipFactory(user=UserFactory(username=name), squad=squad, role=Role.ENGINEER)

    loads = {entry.squad.slug: entry for entry in load.squads_load(now=NOW)}
    mine = load.squad_load(squad, Period.last(30, now=NOW))

    assert (loads["network"].instances_running, loads["network"].instances_per_member) == (3, 1.5)
    assert (loads["compute"].instances_running, loads["compute"].instances_per_member) == (0, None)
    assert (mine.instances_running, mine.member_count, mine.instances_per_member) == (3, 2, 1.5)
    assert mine.as_dict()["instances_running"] == 3
    members = SquadReport(squad, Period.last(30, now=NOW)).table("members")
    assert (
        members is not None and members.note == "The squad keeps 3 service instances running: 1.5 per member."
    )
    squads = OverviewReport(Period.last(30, now=NOW)).table("squads")
    assert squads is not None
    network = next(row for row in squads.rows if row["squad"] == squad.name)
    assert (network["instances_running"], network["instances_per_member"]) == (3, 1.5)
