"""Cross-squad dependencies (graph, impact, failing and retired upstreams)
and the load on squads and their members."""

from __future__ import annotations

from datetime import timedelta

import pytest

from catalogue.choices import ProductStatus
from portal.insights import dependencies as deps
from portal.insights import load
from portal.insights.periods import Period
from portal.orders.choices import OrderStatus
from portal.orders.models import OrderApproval, OrderEvent
from squads.choices import Role
from tests.factories import ChapterFactory, MembershipFactory, ProductFactory, SquadFactory, UserFactory
from tests.insights.conftest import NOW, make_order


@pytest.fixture
def chain(db):
    """ip-block (network) <- vlan (network) <- vm (compute) <- database (data);
    dns (network) stands alone."""
    network = SquadFactory(slug="network")
    compute = SquadFactory(slug="compute")
    data = SquadFactory(slug="data")
    ip_block = ProductFactory(slug="ip-block", squad=network)
    vlan = ProductFactory(slug="vlan", squad=network)
    vm = ProductFactory(slug="vm", squad=compute)
    database = ProductFactory(slug="database", squad=data)
    dns = ProductFactory(slug="dns", squad=network)
    vlan.depends_on.add(ip_block)
    vm.depends_on.add(vlan, ip_block)
    database.depends_on.add(vm)
    return {"ip-block": ip_block, "vlan": vlan, "vm": vm, "database": database, "dns": dns}


def test_depth_is_the_longest_chain_of_dependencies_below(chain):
    graph = deps.dependency_graph(now=NOW)

    depths = {node.product.slug: node.depth for node in graph.nodes.values()}

    assert depths == {"ip-block": 0, "dns": 0, "vlan": 1, "vm": 2, "database": 3}


def test_impact_of_breaking_a_product_reaches_every_dependent_squad_and_open_order(chain):
    make_order(chain["vm"], submitted=NOW - timedelta(hours=1), status=OrderStatus.QUEUED)
    make_order(chain["database"], submitted=NOW - timedelta(hours=1), status=OrderStatus.PENDING_APPROVAL)
    make_order(chain["database"], submitted=NOW - timedelta(hours=1), lead=timedelta(minutes=5))
    make_order(chain["dns"], submitted=NOW - timedelta(hours=1), status=OrderStatus.QUEUED)

    impact = deps.dependency_graph(now=NOW).impact(chain["ip-block"].pk)

    assert [node.product.slug for node in impact.affected] == ["vlan", "vm", "database"]
    assert sorted(squad.slug for squad in impact.other_squads) == ["compute", "data"]
    assert impact.open_total == 2
    assert impact.open_orders[chain["database"].pk] == {OrderStatus.PENDING_APPROVAL: 1}


def test_a_product_nothing_depends_on_has_no_impact_beyond_itself(chain):
    impact = deps.dependency_graph(now=NOW).impact(chain["dns"].pk)

    assert impact.affected == []
    assert [squad.slug for squad in impact.squads] == ["network"]


def test_dependencies_on_retired_products_are_flagged(chain):
    chain["ip-block"].status = ProductStatus.RETIRED
    chain["ip-block"].save()

    flagged = deps.dependency_graph(now=NOW).retired_dependencies()

    assert sorted((node.product.slug, retired.product.slug) for node, retired in flagged) == [
        ("vlan", "ip-block"),
        ("vm", "ip-block"),
    ]


def test_a_dependency_failing_more_than_a_quarter_of_its_recent_orders_shows_on_the_dependents_page(chain):
    for index in range(4):
        make_order(
            chain["vlan"],
            submitted=NOW - timedelta(days=2),
            status=OrderStatus.FAILED if index < 2 else OrderStatus.SUCCEEDED,
            lead=timedelta(minutes=3),
        )

    alerts = deps.dependency_alerts(chain["database"], now=NOW)

    assert [(alert.dependency.slug, alert.kind, alert.direct) for alert in alerts] == [
        ("vlan", "failing", False)
    ]
    assert "2 of its last 4 orders failed" in alerts[0].message
    direct = deps.dependency_alerts(chain["vm"], now=NOW)
    assert [(alert.dependency.slug, alert.direct) for alert in direct] == [("vlan", True)]


def test_exactly_a_quarter_failed_or_too_few_orders_is_not_failing(chain):
    for index in range(4):
        make_order(
            chain["vlan"],
            submitted=NOW - timedelta(days=2),
            status=OrderStatus.FAILED if index == 0 else OrderStatus.SUCCEEDED,
            lead=timedelta(minutes=3),
        )
    for _ in range(2):
        make_order(
            chain["ip-block"], submitted=NOW - timedelta(days=2), status=OrderStatus.FAILED, lead=timedelta(1)
        )
    # Failures older than the window do not count either.
    for _ in range(5):
        make_order(
            chain["ip-block"],
            submitted=NOW - timedelta(days=30),
            status=OrderStatus.FAILED,
            lead=timedelta(1),
        )

    assert deps.dependency_alerts(chain["vm"], now=NOW) == []


def test_a_dependency_cycle_is_flagged_rather_than_looping(chain):
    chain["ip-block"].depends_on.add(chain["database"])

    graph = deps.dependency_graph(now=NOW)

    assert any(node.in_cycle for node in graph.nodes.values())
    assert {node.product.slug for node in graph.dependents_of(chain["vm"].pk)} == {
        "database",
        "ip-block",
        "vlan",
    }


def test_a_squads_graph_keeps_its_products_and_everything_linked_to_them(chain):
    graph = deps.dependency_graph(now=NOW, squad_id=chain["database"].squad_id)

    assert {node.product.slug for node in graph.nodes.values()} == {"database", "vm", "vlan", "ip-block"}


# --- Load -------------------------------------------------------------------------


def _event(order, from_status, to_status, when):
    event = OrderEvent.objects.create(order=order, from_status=from_status, to_status=to_status)
    OrderEvent.objects.filter(pk=event.pk).update(created_at=when)


@pytest.mark.django_db
def test_squad_load_counts_open_work_per_member_and_throughput(squad, member, manual, automated):
    engineer = MembershipFactory(user=UserFactory(username="eddie"), squad=squad, role=Role.ENGINEER).user
    period = Period.last(30, now=NOW)
    make_order(
        manual, submitted=NOW - timedelta(days=1), status=OrderStatus.AWAITING_FULFILMENT, claimed_by=member
    )
    make_order(manual, submitted=NOW - timedelta(days=1), status=OrderStatus.AWAITING_FULFILMENT)
    for _ in range(3):
        make_order(
            manual,
            submitted=NOW - timedelta(days=3),
            lead=timedelta(hours=2),
            claimed_after=timedelta(hours=1),
            claimed_by=engineer,
        )
    waiting = make_order(automated, submitted=NOW - timedelta(hours=5), status=OrderStatus.PENDING_APPROVAL)
    waiting.approval_squad = squad
    waiting.approval_roles = f",{Role.PRODUCT_OWNER},"
    waiting.save()
    decided = make_order(automated, submitted=NOW - timedelta(days=2), lead=timedelta(hours=1))
    approval = OrderApproval.objects.create(order=decided, step=0, approver=member, decision="approved")
    OrderApproval.objects.filter(pk=approval.pk).update(created_at=NOW - timedelta(days=2))

    result = load.squad_load(squad, period)

    members = {entry.user.username: entry for entry in result.members}
    assert (result.manual_open, result.manual_unclaimed, result.approvals_open) == (2, 1, 1)
    assert (
        members["nora"].claimed_open,
        members["nora"].approvals_waiting,
        members["nora"].approvals_decided,
    ) == (
        1,
        1,
        1,
    )
    assert (members["eddie"].approvals_waiting, members["eddie"].fulfilled, members["eddie"].throughput) == (
        0,
        3,
        3,
    )


@pytest.mark.django_db
def test_a_chapter_step_counts_for_the_members_in_that_chapter(squad, member, automated):
    engineer = MembershipFactory(user=UserFactory(username="eddie"), squad=squad, role=Role.ENGINEER).user
    chapter = ChapterFactory(lead=engineer)
    waiting = make_order(automated, submitted=NOW - timedelta(hours=5), status=OrderStatus.PENDING_APPROVAL)
    waiting.approval_squad, waiting.approval_chapter, waiting.approval_roles = None, chapter, ""
    waiting.save()

    members = {
        entry.user.username: entry for entry in load.squad_load(squad, Period.last(30, now=NOW)).members
    }

    assert (members["eddie"].approvals_waiting, members["nora"].approvals_waiting) == (1, 0)


@pytest.mark.django_db
def test_a_queue_that_grows_faster_than_it_is_worked_is_warned_about(squad, manual):
    period = Period.last(30, now=NOW)
    for index in range(5):
        order = make_order(manual, submitted=NOW - timedelta(days=3), status=OrderStatus.AWAITING_FULFILMENT)
        _event(order, "", OrderStatus.AWAITING_FULFILMENT, NOW - timedelta(days=3))
        if index < 2:
            _event(order, OrderStatus.AWAITING_FULFILMENT, OrderStatus.SUCCEEDED, NOW - timedelta(days=1))
            order.status = OrderStatus.SUCCEEDED
            order.save()
    # Arrivals before the 14-day window do not count.
    old = make_order(manual, submitted=NOW - timedelta(days=40), status=OrderStatus.AWAITING_FULFILMENT)
    _event(old, "", OrderStatus.AWAITING_FULFILMENT, NOW - timedelta(days=40))

    result = load.squad_load(squad, period)

    manual_flow = result.flows[0]
    assert (manual_flow.arrived, manual_flow.left, manual_flow.open_now) == (5, 2, 4)
    assert result.warnings == [
        "The manual queue grows faster than it is worked: 5 orders came in over the last 14 days "
        "and 2 left it; 4 are waiting now."
    ]
    assert [entry.squad.slug for entry in load.squads_load(now=NOW) if entry.warnings] == ["network"]


@pytest.mark.django_db
def test_a_queue_worked_as_fast_as_it_fills_raises_no_warning(squad, manual):
    for _ in range(2):
        order = make_order(manual, submitted=NOW - timedelta(days=3), lead=timedelta(hours=1))
        _event(order, "", OrderStatus.AWAITING_FULFILMENT, NOW - timedelta(days=3))
        _event(order, OrderStatus.AWAITING_FULFILMENT, OrderStatus.SUCCEEDED, NOW - timedelta(days=2))

    assert load.squad_load(squad, Period.last(30, now=NOW)).warnings == []


@pytest.mark.django_db
def test_people_in_several_squads_are_listed_with_their_seats(squad, other_squad, member):
    MembershipFactory(user=member, squad=other_squad, role=Role.SME)

    people = load.people_in_several_squads()

    assert [(person.user.username, [seat[0].slug for seat in person.seats]) for person in people] == [
        ("nora", ["compute", "network"])
    ]
