"""Duplicated tooling across squads, and technical debt explained item by item."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from catalogue.choices import Fulfilment
from portal.insights import debt, tooling
from portal.insights.choices import DebtSeverity, DebtStatus, SweepRecoveryKind
from portal.insights.models import DebtItem, SweepRecovery
from portal.insights.services import debt_item_save, sweep_recoveries_record
from portal.orders.choices import OrderStatus
from portal.orders.models import Order
from runbooks.analysis import analyse_playbook
from runbooks.choices import RunStatus
from runbooks.models import RunbookVersion
from runbooks.services import runbook_set_playbook
from tests.factories import CredentialFactory, ProductFactory, RunbookFactory, SquadFactory
from tests.insights.conftest import NOW, make_order, make_run
from tests.portal.conftest import drain_queued_tasks

DNS_A = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Check the record name
      ansible.builtin.assert:
        that: record_name is regex('^[a-z0-9-]+$')
    - name: Add the record
      community.general.nsupdate:
        server: "{{ dns_server }}"
        zone: "{{ zone }}"
        record: "{{ record_name }}"
        value: "{{ address }}"
        ttl: "{{ ttl | default(3600) }}"
      register: added
    - name: Tell
      ansible.builtin.debug:
        msg: "{{ record_name }}.{{ zone }} -> {{ address }} ({{ added.changed }})"
"""
# The same job written by another squad: other task names, short module
# names, one extra step.
DNS_B = """\
- hosts: localhost
  gather_facts: no
  vars:
    dns_server: 10.0.0.53
  tasks:
    - name: validate
      assert:
        that: record_name is regex('^[a-z0-9-]+$')
    - name: create A record
      community.general.nsupdate:
        server: "{{ dns_server }}"
        zone: "{{ zone }}"
        record: "{{ record_name }}"
        value: "{{ address }}"
      register: result
    - name: wait for it
      ansible.builtin.pause:
        seconds: 1
    - debug:
        msg: "done {{ result.changed }}"
"""
NAMESPACE = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Render the namespace
      ansible.builtin.template:
        src: namespace.yaml.j2
        dest: "/tmp/{{ namespace_name }}.yaml"
    - name: Apply it
      kubernetes.core.k8s:
        state: present
        src: "/tmp/{{ namespace_name }}.yaml"
    - name: Quota
      kubernetes.core.k8s:
        definition:
          kind: ResourceQuota
          spec: {hard: {cpu: "{{ cpu_cores }}"}}
"""


@pytest.fixture
def three_runbooks(db):
    network = SquadFactory(slug="network")
    compute = SquadFactory(slug="compute")
    platform = SquadFactory(slug="platform")
    first = RunbookFactory(slug="dns-a", squad=network, playbook=DNS_A)
    second = RunbookFactory(slug="dns-b", squad=compute, playbook=DNS_B, queue="compute-dc2")
    third = RunbookFactory(slug="namespace", squad=platform, playbook=NAMESPACE)
    second.credentials.add(CredentialFactory(slug="dns-key", name="DNS TSIG key", squad=compute))
    return first, second, third


def test_playbook_analysis_reads_modules_collections_and_inputs():
    features = analyse_playbook(DNS_B)

    assert features.modules["ansible.builtin.assert"] == 1
    assert features.collections == {"community.general"}
    assert features.inputs == {"record_name", "zone", "address"}
    assert "dns_server" in features.defined_variables
    assert analyse_playbook(DNS_A).optional_variables >= {"ttl"}


def test_two_near_identical_playbooks_of_different_squads_score_as_near_duplicates(three_runbooks):
    _first, _second, _third = three_runbooks

    pairs = tooling.duplicate_runbooks(threshold=0.0)

    scores = {frozenset((pair.first.runbook.slug, pair.second.runbook.slug)): pair.score for pair in pairs}
    assert scores[frozenset(("dns-a", "dns-b"))] >= 0.7
    assert scores[frozenset(("dns-a", "namespace"))] < 0.2
    assert scores[frozenset(("dns-b", "namespace"))] < 0.2
    listed = tooling.duplicate_runbooks()
    assert [(pair.first.runbook.slug, pair.second.runbook.slug) for pair in listed] == [("dns-b", "dns-a")]
    assert listed[0].first.tools == [
        "DNS TSIG key (Token / environment variables)",
        "own worker queue 'compute-dc2'",
    ]


def test_identical_playbooks_score_one_and_a_squads_own_runbooks_are_not_paired(db):
    squad = SquadFactory(slug="network")
    RunbookFactory(slug="one", squad=squad, playbook=DNS_A)
    RunbookFactory(slug="two", squad=squad, playbook=DNS_A)
    RunbookFactory(slug="three", squad=SquadFactory(slug="compute"), playbook=DNS_A)

    pairs = tooling.duplicate_runbooks()

    assert len(pairs) == 2
    assert all(pair.score == pytest.approx(1.0) for pair in pairs)
    assert all(pair.first.runbook.squad_id != pair.second.runbook.squad_id for pair in pairs)


def test_the_same_account_kept_by_two_squads_is_a_shared_credential(db):
    CredentialFactory(squad=SquadFactory(slug="network"), kind="username_password", username="svc-ipam")
    CredentialFactory(squad=SquadFactory(slug="compute"), kind="username_password", username="SVC-IPAM")
    CredentialFactory(squad=SquadFactory(slug="data"), kind="username_password", username="someone-else")

    shared = tooling.shared_credentials()

    assert [(group.username, [squad.slug for squad in group.squads]) for group in shared] == [
        ("svc-ipam", ["compute", "network"])
    ]


# --- Technical debt ------------------------------------------------------------------


def _factors(subject):
    return {factor.key: factor for factor in subject.factors}


@pytest.fixture
def failing_runbook(squad):
    runbook = RunbookFactory(slug="vlan-runbook", squad=squad, playbook=DNS_A)
    RunbookVersion.objects.filter(runbook=runbook).update(created_at=NOW - timedelta(days=70))
    product = ProductFactory(
        slug="dns",
        squad=squad,
        runbook=runbook,
        form_schema={
            "type": "object",
            "properties": {
                "record_name": {"type": "string"},
                "zone": {"type": "string"},
                "address": {"type": "string"},
                "comment": {"type": "string"},
            },
        },
    )
    runbook.refresh_from_db()
    # 10 runs in the last 30 days, 4 failed; 5 in the 30 days before, none failed.
    for index in range(10):
        order = make_order(product, submitted=NOW - timedelta(days=5), lead=timedelta(minutes=2))
        make_run(
            order,
            status=RunStatus.FAILED if index < 4 else RunStatus.SUCCEEDED,
            started=NOW - timedelta(days=5),
            duration=timedelta(minutes=1),
            stdout=[
                "[DEPRECATION WARNING]: The 'community.general.nsupdate' module option 'ttl' is deprecated."
            ]
            if index == 0
            else ["ok: [localhost]"],
        )
    for _ in range(5):
        order = make_order(product, submitted=NOW - timedelta(days=45), lead=timedelta(minutes=2))
        make_run(order, started=NOW - timedelta(days=45), duration=timedelta(minutes=1))
    return runbook, product


def test_debt_of_a_failing_runbook_is_explained_item_by_item(failing_runbook, squad):
    runbook, _product = failing_runbook

    subject = next(
        entry for entry in debt.debt_subjects(squad_id=squad.pk, now=NOW) if entry.runbook == runbook
    )

    factors = _factors(subject)
    assert factors["failure_rate"].points == 16  # 40 x 4/10
    assert factors["failure_rate"].detail == "4 of its 10 runs in the last 30 days failed (40%)."
    assert factors["failure_trend"].points == 10  # 0% -> 40%
    assert factors["stale_while_failing"].points == 10  # 70 days, a point a week
    assert factors["deprecations"].points == 10
    assert "module option 'ttl' is deprecated" in factors["deprecations"].detail
    assert factors["no_check_mode"].points == 5
    assert factors["unused_fields"].detail == "Dns asks for comment, which the playbook never reads."
    assert factors["missing_variables"].points == 8  # dns_server: no field, no default
    assert subject.score == 16 + 10 + 10 + 10 + 5 + 2 + 8


def test_a_healthy_runbook_with_check_mode_has_no_debt(squad):
    runbook = RunbookFactory(slug="healthy", squad=squad)
    runbook.supports_check_mode = True
    runbook.save()
    ProductFactory(
        slug="healthy", squad=squad, runbook=runbook, form_schema={"type": "object", "properties": {}}
    )

    subject = next(
        entry for entry in debt.debt_subjects(squad_id=squad.pk, now=NOW) if entry.runbook == runbook
    )

    assert subject.factors == []
    assert subject.score == 0


def test_heavy_manual_demand_and_register_items_add_debt_and_rank_worst_first(squad, manual, member):
    RunbookFactory(slug="quiet", squad=squad)
    for _ in range(12):
        make_order(
            manual,
            submitted=NOW - timedelta(days=2),
            lead=timedelta(hours=4),
            claimed_after=timedelta(hours=1),
            fulfilment=Fulfilment.MANUAL,
        )
    debt_item_save(
        item=DebtItem(
            squad=squad, product=manual, title="Rules kept in a spreadsheet", severity=DebtSeverity.CRITICAL,
            estimated_effort_days=Decimal("5"),
        ),
        actor=member,
    )  # fmt: skip
    debt_item_save(
        item=DebtItem(
            squad=squad, product=manual, title="Old ticket", severity=DebtSeverity.HIGH,
            estimated_effort_days=Decimal("1"), status=DebtStatus.DONE,
        ),
        actor=member,
    )  # fmt: skip

    subjects = debt.debt_subjects(squad_id=squad.pk, now=NOW)

    assert subjects[0].product == manual
    factors = _factors(subjects[0])
    assert factors["heavy_manual_demand"].points == 36  # 12 orders x 3 h
    assert factors["register"].points == 20  # the closed item weighs nothing
    assert subjects[0].score == 56
    assert [subject.score for subject in subjects] == sorted(
        (subject.score for subject in subjects), reverse=True
    )


def test_only_the_owning_squad_records_debt_and_only_against_its_own_products(
    squad, other_member, manual, member
):
    foreign = ProductFactory(slug="foreign", squad=SquadFactory(slug="elsewhere"))

    with pytest.raises(PermissionDenied):
        debt_item_save(
            item=DebtItem(squad=squad, product=manual, title="x", estimated_effort_days=Decimal(1)),
            actor=other_member,
        )
    with pytest.raises(ValidationError):
        debt_item_save(
            item=DebtItem(squad=squad, product=foreign, title="x", estimated_effort_days=Decimal(1)),
            actor=member,
        )
    assert DebtItem.objects.count() == 0


def test_closing_a_register_item_stamps_it_and_reopening_clears_it(squad, manual, member):
    item = debt_item_save(
        item=DebtItem(squad=squad, product=manual, title="x", estimated_effort_days=Decimal(1)), actor=member
    )
    assert item.resolved_at is None and item.created_by == member

    item.status = DebtStatus.DONE
    debt_item_save(item=item, actor=member)
    assert DebtItem.objects.get(pk=item.pk).resolved_at is not None

    item.status = DebtStatus.OPEN
    debt_item_save(item=item, actor=member)
    assert DebtItem.objects.get(pk=item.pk).resolved_at is None


def test_register_lists_open_items_worst_first(squad, manual, member):
    for title, severity, status in [
        ("low", DebtSeverity.LOW, DebtStatus.OPEN),
        ("done", DebtSeverity.CRITICAL, DebtStatus.DONE),
        ("high", DebtSeverity.HIGH, DebtStatus.IN_PROGRESS),
    ]:
        debt_item_save(
            item=DebtItem(
                squad=squad, product=manual, title=title, severity=severity, status=status,
                estimated_effort_days=Decimal(1),
            ),
            actor=member,
        )  # fmt: skip

    assert [item.title for item in debt.debt_register(squad_id=squad.pk)] == ["high", "low", "done"]


# --- Sweep recoveries --------------------------------------------------------------


@pytest.mark.django_db
def test_sweep_recoveries_accumulate_across_sweeps():
    from portal.orders.recovery import SweepReport

    sweep_recoveries_record(SweepReport(lost_runs=[1, 2], redispatched_orders=[3]))
    sweep_recoveries_record(SweepReport(lost_runs=[4]))
    sweep_recoveries_record(SweepReport())

    counts = dict(SweepRecovery.objects.values_list("kind", "count"))
    assert counts == {SweepRecoveryKind.LOST_RUN: 3, SweepRecoveryKind.REDISPATCHED_ORDER: 1}


@pytest.mark.django_db
def test_the_real_sweep_counts_what_it_recovers(automated, settings):
    settings.SQUADRON_REDISPATCH_AFTER_SECONDS = 1
    order = make_order(automated, submitted=NOW - timedelta(days=1), status=OrderStatus.QUEUED)
    Order.objects.filter(pk=order.pk).update(queued_at=NOW - timedelta(days=1))
    from portal.tasks import sweep_orders

    # Whatever earlier tests of this process left on its queue is not ours.
    drain_queued_tasks()
    # The task that runs the sweep records its counters.
    report = sweep_orders()
    # Take the re-sent task off this test process's queue: later tests read it.
    sent = drain_queued_tasks()

    assert report["redispatched_orders"] == [order.pk]
    assert [args for _task, args in sent] == [[order.pk]]
    assert SweepRecovery.objects.get(kind=SweepRecoveryKind.REDISPATCHED_ORDER).count == 1


def test_runbook_set_playbook_is_what_changes_a_runbook(squad):
    # The debt's "unchanged" clock is the current version's creation time.
    runbook = RunbookFactory(slug="changing", squad=squad)
    version = runbook_set_playbook(runbook=runbook, content=DNS_A)
    runbook.refresh_from_db()
    assert runbook.current_version == version
