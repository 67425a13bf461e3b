"""Approval policies: single and multi-step, separation of duties, the
policy copied at submission, reminders and escalation on a controlled clock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from catalogue.choices import ApprovalPolicy, Fulfilment
from catalogue.models import ApprovalStep
from portal.notifications.choices import NotificationKind
from portal.notifications.models import Notification
from portal.orders.approval_steps import approvers_of_step
from portal.orders.approvals import approvals_remind, order_approve, order_reject
from portal.orders.choices import OrderStatus
from portal.orders.errors import IllegalTransition, OrderError, OrderNotAllowed, ProductNotOrderable
from portal.orders.models import Order, OrderApproval, OrderEvent
from portal.orders.selectors import orders_awaiting_approval_by
from portal.orders.submission import order_submit
from squads.choices import Role
from tests.factories import ChapterFactory, MembershipFactory, ProductFactory, UserFactory

pytestmark = pytest.mark.django_db

INPUTS = {"hostname": "web-01"}


def snapshot(order: Order) -> tuple:
    order.refresh_from_db()
    return (
        order.status,
        order.approval_step,
        order.approval_squad_id,
        order.approval_chapter_id,
        order.approved_at,
        OrderApproval.objects.filter(order=order).count(),
        OrderEvent.objects.filter(order=order).count(),
    )


@pytest.fixture
def sme(squad):
    return MembershipFactory(user=UserFactory(username="sara"), squad=squad, role=Role.SME).user


@pytest.fixture
def chapter(db):
    lead = UserFactory(username="carl")
    chapter = ChapterFactory(slug="network-engineering", name="Network Engineering", lead=lead)
    chapter.members.add(UserFactory(username="cora"))
    return chapter


@pytest.fixture
def other_members(other_squad, other_member):
    second = MembershipFactory(user=UserFactory(username="olga"), squad=other_squad, role=Role.SME).user
    return [other_member, second]


@pytest.fixture
def three_steps(squad, other_squad, chapter):
    """Own squad's PO or SME, then two people of another squad, then the chapter."""
    product = ProductFactory(
        slug="firewall", squad=squad, approval_policy=ApprovalPolicy.STEPS, form_schema=_form()
    )
    ApprovalStep.objects.create(
        product=product, position=0, name="Squad review", roles=[Role.PRODUCT_OWNER, Role.SME]
    )
    ApprovalStep.objects.create(
        product=product, position=1, name="Compute sign-off", squad=other_squad, required_approvals=2
    )
    ApprovalStep.objects.create(product=product, position=2, name="Chapter", chapter=chapter)
    return product


def _form() -> dict:
    return {"type": "object", "properties": {"hostname": {"type": "string"}}}


def submit(product, requester) -> Order:
    return order_submit(requester=requester, product=product, inputs=INPUTS)


# --- Multi-step ----------------------------------------------------------------


def test_steps_open_in_order_and_the_last_one_queues_the_order(
    three_steps, requester, member, other_members, chapter
):
    order = submit(three_steps, requester)
    assert order.status == OrderStatus.PENDING_APPROVAL
    assert [step["name"] for step in order.approval_steps] == ["Squad review", "Compute sign-off", "Chapter"]

    order = order_approve(order=order, actor=member, note="fine by us")
    assert (order.status, order.approval_step) == (OrderStatus.PENDING_APPROVAL, 1)

    order = order_approve(order=order, actor=other_members[0])
    assert order.approval_step == 1, "the step needs two distinct approvals"
    order = order_approve(order=order, actor=other_members[1])
    assert order.approval_step == 2

    order = order_approve(order=order, actor=chapter.lead)
    assert order.status == OrderStatus.QUEUED
    assert order.approved_at is not None
    assert order.approval_squad_id is None and order.approval_chapter_id is None
    decisions = list(order.approvals.values_list("step", "approver__username", "decision"))
    assert decisions == [
        (0, "nora", "approved"),
        (1, "otto", "approved"),
        (1, "olga", "approved"),
        (2, "carl", "approved"),
    ]


def test_a_later_steps_approvers_cannot_decide_before_their_step_opens(
    three_steps, requester, other_members, chapter
):
    order = submit(three_steps, requester)
    before = snapshot(order)
    for early in (other_members[0], chapter.lead):
        with pytest.raises(OrderNotAllowed, match="not among the approvers"):
            order_approve(order=order, actor=early)
    assert snapshot(order) == before


def test_one_person_counts_once_across_all_steps(squad, requester, member):
    """Nora is product owner of the squad that both steps name: she may take
    the first step, not the second one as well."""
    product = ProductFactory(squad=squad, approval_policy=ApprovalPolicy.STEPS, form_schema=_form())
    ApprovalStep.objects.create(product=product, position=0, name="First", roles=[Role.PRODUCT_OWNER])
    ApprovalStep.objects.create(product=product, position=1, name="Second", roles=[Role.PRODUCT_OWNER])
    order = submit(product, requester)
    order = order_approve(order=order, actor=member)
    before = snapshot(order)

    with pytest.raises(OrderNotAllowed, match="already decided"):
        order_approve(order=order, actor=member)
    with pytest.raises(OrderNotAllowed, match="already decided"):
        order_reject(order=order, actor=member, reason="changed my mind")
    assert snapshot(order) == before
    assert order not in orders_awaiting_approval_by(member)


def test_the_same_person_cannot_approve_a_step_needing_two_approvals_twice(
    squad, other_squad, requester, other_members
):
    product = ProductFactory(squad=squad, approval_policy=ApprovalPolicy.STEPS, form_schema=_form())
    ApprovalStep.objects.create(
        product=product, position=0, name="Two of compute", squad=other_squad, required_approvals=2
    )
    order = submit(product, requester)
    order = order_approve(order=order, actor=other_members[0])
    before = snapshot(order)
    with pytest.raises(OrderNotAllowed):
        order_approve(order=order, actor=other_members[0])
    assert snapshot(order) == before
    assert order_approve(order=order, actor=other_members[1]).status == OrderStatus.QUEUED


def test_nobody_approves_their_own_order_not_even_a_superuser(three_steps, member, admin_user):
    MembershipFactory(user=admin_user, squad=three_steps.squad, role=Role.PRODUCT_OWNER)
    for requester in (member, admin_user):
        order = submit(three_steps, requester)
        before = snapshot(order)
        with pytest.raises(OrderNotAllowed, match="your own order"):
            order_approve(order=order, actor=requester)
        assert snapshot(order) == before


def test_a_superuser_outside_the_step_cannot_approve(three_steps, requester, admin_user):
    order = submit(three_steps, requester)
    before = snapshot(order)
    with pytest.raises(OrderNotAllowed):
        order_approve(order=order, actor=admin_user)
    assert snapshot(order) == before


def test_one_rejection_at_any_step_ends_the_order_with_its_reason(
    three_steps, requester, member, other_members
):
    order = submit(three_steps, requester)
    order = order_approve(order=order, actor=member)
    order = order_reject(order=order, actor=other_members[0], reason="Use the shared egress proxy")
    assert order.status == OrderStatus.REJECTED
    assert order.failure_reason == "Use the shared egress proxy"
    assert order.finished_at is not None
    assert order.events.last().note == "Use the shared egress proxy"
    assert order.approvals.get(approver=other_members[0]).decision == OrderApproval.Decision.REJECTED
    with pytest.raises(IllegalTransition):
        order_approve(order=order, actor=other_members[1])


def test_reject_without_a_reason_changes_nothing(three_steps, requester, member):
    order = submit(three_steps, requester)
    before = snapshot(order)
    with pytest.raises(OrderError, match="reason"):
        order_reject(order=order, actor=member, reason="   ")
    assert snapshot(order) == before


def test_manual_product_lands_in_the_squad_queue_after_its_last_step(squad, requester, member):
    product = ProductFactory(
        squad=squad,
        approval_policy=ApprovalPolicy.SQUAD,
        fulfilment=Fulfilment.MANUAL,
        runbook=None,
        form_schema=_form(),
    )
    order = order_approve(order=submit(product, requester), actor=member)
    assert order.status == OrderStatus.AWAITING_FULFILMENT
    assert order.queued_at is None


def test_a_multi_step_product_without_steps_cannot_be_ordered(squad, requester):
    product = ProductFactory(squad=squad, approval_policy=ApprovalPolicy.STEPS, form_schema=_form())
    with pytest.raises(ProductNotOrderable, match="no approval steps"):
        submit(product, requester)
    assert not Order.objects.exists()


def test_the_policy_is_copied_at_submission(three_steps, requester, member, other_squad):
    order = submit(three_steps, requester)
    # The squad simplifies its policy afterwards: the waiting order keeps its three steps.
    three_steps.approval_steps.all().delete()
    three_steps.approval_policy = ApprovalPolicy.NONE
    three_steps.save()
    order = order_approve(order=order, actor=member)
    assert order.status == OrderStatus.PENDING_APPROVAL
    assert order.approval_squad_id == other_squad.pk
    assert len(order.approval_steps) == 3


def test_chapter_step_is_decided_by_its_lead_or_members(squad, requester, chapter):
    product = ProductFactory(squad=squad, approval_policy=ApprovalPolicy.STEPS, form_schema=_form())
    ApprovalStep.objects.create(product=product, position=0, name="Chapter", chapter=chapter)
    order = submit(product, requester)
    member_of_chapter = chapter.members.get()
    assert set(approvers_of_step(order)) == {chapter.lead, member_of_chapter}
    assert order_approve(order=order, actor=member_of_chapter).status == OrderStatus.QUEUED


# --- The inbox ------------------------------------------------------------------


def test_inbox_lists_exactly_the_orders_whose_open_step_the_user_may_decide(
    three_steps, requester, member, sme, other_members, chapter, engineer, django_assert_max_num_queries
):
    first = submit(three_steps, requester)
    second = submit(three_steps, requester)
    order_approve(order=second, actor=member)
    own = submit(three_steps, sme)

    assert list(orders_awaiting_approval_by(member)) == [first, own]
    assert list(orders_awaiting_approval_by(sme)) == [first]
    assert list(orders_awaiting_approval_by(other_members[0])) == [second]
    assert list(orders_awaiting_approval_by(engineer)) == []
    assert list(orders_awaiting_approval_by(chapter.lead)) == []
    assert list(orders_awaiting_approval_by(requester)) == []
    with django_assert_max_num_queries(2):
        list(orders_awaiting_approval_by(member))


# --- Reminders and escalation -----------------------------------------------------


@pytest.fixture
def slow_product(squad):
    return ProductFactory(
        squad=squad,
        approval_policy=ApprovalPolicy.SQUAD,
        approval_remind_after_hours=4,
        approval_escalate_after_hours=24,
        form_schema=_form(),
    )


def kinds_for(user) -> list[str]:
    return list(Notification.objects.filter(recipient=user).values_list("kind", flat=True))


def test_reminder_then_escalation_each_once_at_their_thresholds(slow_product, requester, member, sme):
    owner = member  # nora is the squad's product owner
    order = submit(slow_product, requester)
    opened = order.approval_step_opened_at
    Notification.objects.all().delete()

    report = approvals_remind(now=opened + timedelta(hours=3, minutes=59))
    assert (report.reminded, report.escalated) == ([], [])

    report = approvals_remind(now=opened + timedelta(hours=4))
    assert report.reminded == [order.pk] and report.escalated == []
    assert kinds_for(sme) == [NotificationKind.APPROVAL_REMINDER]
    assert approvals_remind(now=opened + timedelta(hours=5)).reminded == []

    report = approvals_remind(now=opened + timedelta(hours=24))
    assert report.escalated == [order.pk]
    assert NotificationKind.APPROVAL_ESCALATED in kinds_for(owner)
    assert NotificationKind.APPROVAL_ESCALATED not in kinds_for(sme)
    assert approvals_remind(now=opened + timedelta(hours=48)).escalated == []
    notes = list(order.events.values_list("note", flat=True))
    assert any("Reminder sent" in note for note in notes)
    assert any("Escalated" in note for note in notes)


def test_each_step_gets_its_own_reminder(three_steps, requester, member, other_members):
    Order.objects.all().delete()
    three_steps.approval_remind_after_hours = 1
    three_steps.save()
    order = submit(three_steps, requester)
    approvals_remind(now=order.approval_step_opened_at + timedelta(hours=2))
    order = order_approve(order=order, actor=member)
    assert order.approval_reminded_at is None
    report = approvals_remind(now=order.approval_step_opened_at + timedelta(hours=2))
    assert report.reminded == [order.pk]
    assert NotificationKind.APPROVAL_REMINDER in kinds_for(other_members[0])


def test_decided_orders_are_not_reminded(slow_product, requester, member):
    order = submit(slow_product, requester)
    order_approve(order=order, actor=member)
    report = approvals_remind(now=timezone.now() + timedelta(days=10))
    assert (report.reminded, report.escalated) == ([], [])


def test_zero_hours_turn_reminders_and_escalation_off(squad, requester):
    product = ProductFactory(
        squad=squad,
        approval_policy=ApprovalPolicy.SQUAD,
        approval_remind_after_hours=0,
        approval_escalate_after_hours=0,
        form_schema=_form(),
    )
    submit(product, requester)
    report = approvals_remind(now=timezone.now() + timedelta(days=365))
    assert (report.reminded, report.escalated) == ([], [])
